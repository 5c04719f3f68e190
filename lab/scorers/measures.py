"""Measures the scorers (and strategies such as confidence-vote) compute from tokens and
next-token distributions. Pure functions of their inputs; no model is called here."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence

from lab.engine.base import Token
from lab.scorers.base import DEFAULT_WINDOW


def mean_logprob(tokens: Sequence[Token]) -> float:
    return sum(t.logprob for t in tokens) / len(tokens) if tokens else 0.0


class SlidingWindow:
    """Running mean of the last `size` values, and the lowest full-window mean seen so far."""

    def __init__(self, size: int = DEFAULT_WINDOW):
        self.size = max(1, size)
        self._values: deque[float] = deque(maxlen=self.size)
        self._sum = 0.0
        self.lowest: float | None = None  # lowest mean over a full window
        self.count = 0

    def push(self, value: float) -> float:
        if len(self._values) == self.size:
            self._sum -= self._values[0]
        self._values.append(value)
        self._sum += value
        self.count += 1
        mean = self.mean
        if self.full and (self.lowest is None or mean < self.lowest):
            self.lowest = mean
        return mean

    @property
    def full(self) -> bool:
        return len(self._values) == self.size

    @property
    def mean(self) -> float:
        return self._sum / len(self._values) if self._values else 0.0


def lowest_window_mean(values: Iterable[float], window: int = DEFAULT_WINDOW) -> float:
    """The lowest mean over `window` consecutive values (the mean of all when fewer)."""
    sliding = SlidingWindow(window)
    for value in values:
        sliding.push(value)
    return sliding.lowest if sliding.lowest is not None else sliding.mean


def lowest_window_logprob(tokens: Sequence[Token], window: int = DEFAULT_WINDOW) -> float:
    return lowest_window_mean((t.logprob for t in tokens), window)


def self_certainty(tokens: Sequence[Token]) -> float:
    """Mean self-certainty of the chain's tokens (0 when the engine did not report it)."""
    values = [t.self_certainty for t in tokens if t.self_certainty is not None]
    return sum(values) / len(values) if values else 0.0


def token_confidence(token: Token) -> float:
    """DeepConf's token confidence: minus the mean log-prob of the top-k alternatives (high
    when the distribution is peaked). Without alternatives, the token's probability; both
    are positive, so they can weigh votes."""
    if len(token.top) >= 2:
        return -sum(lp for _, lp in token.top) / len(token.top)
    return math.exp(token.logprob)


def logprob_probability(value: float) -> float:
    """A mean log-prob as a probability: exp of it, at most 1."""
    return math.exp(min(0.0, value))


def normalised(logprobs: dict[str, float], keys: Sequence[str]) -> list[float]:
    """The probabilities of `keys` renormalised among themselves (uniform if none is listed)."""
    values = [logprobs.get(k, -math.inf) for k in keys]
    top = max(values)
    if top == -math.inf:
        return [1 / len(keys)] * len(keys)
    weights = [math.exp(v - top) for v in values]
    total = sum(weights)
    return [w / total for w in weights]
