"""Scorers and verifiers: how a strategy judges a solution without knowing the gold answer.

- Log-prob scorers read the tokens a chain was sampled with: `mean-logprob`, `lowest-window`
  (the lowest sliding-window mean log-prob, a confidence measure) and `self-certainty`
  (mean KL(uniform || p) of the next-token distributions).
- Verifiers give a score in [0, 1] and accept or reject: `programmatic` (the task's own
  checker: Game of 24 validity, arithmetic recomputation of stated results), `self-verify`
  (the same model's P(Yes) to "is this correct?") and `judge` (a second model's grade).

The gold answer is never read here: it only grades a final result, after the run.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from lab.engine.base import Engine, Prompt, Token
from lab import prompts
from lab.tasks.problem import Problem

LOGPROB_SCORERS = ("mean-logprob", "lowest-window", "self-certainty")
VERIFIERS = ("programmatic", "self-verify", "judge")
SCORERS = LOGPROB_SCORERS + VERIFIERS
MODEL_SCORERS = ("self-verify", "judge")  # these make an engine call per candidate

DEFAULT_WINDOW = 16

# (prompt tokens, seconds) of one model call a scorer made, for the trace's compute
CallRecorder = Callable[[int, float], None]


class VerifierError(RuntimeError):
    """A scorer that cannot run as configured (e.g. `judge` without a judge model)."""


@dataclass
class Candidate:
    """What a scorer sees: a solution's text, its sampled tokens and its extracted answer."""

    text: str
    tokens: Sequence[Token] = ()
    answer: str | None = None
    partial: bool = False  # an unfinished solution (a step of a search)


@dataclass
class Verdict:
    score: float  # in [0, 1]
    accepted: bool
    detail: str = ""


# -- log-prob scorers --------------------------------------------------------------------------
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


# -- programmatic verifier ---------------------------------------------------------------------
def programmatic_verdict(problem: Problem, candidate: Candidate) -> Verdict:
    """The task's own checker: Game of 24 validity, else arithmetic recomputation."""
    if problem.metadata.get("numbers") is not None:
        return _game24_verdict(problem, candidate)
    return _arithmetic_verdict(candidate)


def _game24_verdict(problem: Problem, candidate: Candidate) -> Verdict:
    from lab.tasks.game24 import check_expression, find_expression

    numbers = problem.metadata["numbers"]
    target = problem.metadata.get("target", 24)
    # The extracted answer may be only the last number ("24"); the text may still hold a
    # valid expression, so that is tried next.
    tried = [e for e in (candidate.answer, find_expression(candidate.text, numbers)) if e]
    if not tried:
        return Verdict(0.5 if candidate.partial else 0.0, False, "no expression to check")
    checks = [check_expression(expression, numbers, target=target) for expression in tried]
    check = next((c for c in checks if c.ok), checks[0])
    return Verdict(1.0 if check.ok else 0.0, bool(check.ok), check.reason)


def _arithmetic_verdict(candidate: Candidate) -> Verdict:
    from lab.tasks.recompute import arithmetic_claims

    claims = arithmetic_claims(candidate.text)
    wrong = [c for c in claims if not c.ok]
    if wrong:
        first = wrong[0]
        fraction_ok = 1 - len(wrong) / len(claims)
        return Verdict(0.5 * fraction_ok, False,
                       f"{len(wrong)} of {len(claims)} wrong: {first.expression} = {first.stated} "
                       f"(is {first.actual})")
    if not candidate.partial and candidate.answer is None:
        return Verdict(0.25, False, "no final answer")
    if not claims:
        return Verdict(0.5, False, "no arithmetic to check")
    return Verdict(1.0, True, f"{len(claims)} arithmetic claims check out")


# -- model verifiers ---------------------------------------------------------------------------
def yes_probability(engine: Engine, prompt: Prompt) -> float:
    """P(Yes) against P(No) for the next token."""
    logprobs = engine.next_token_logprobs(prompt, [prompts.YES, prompts.NO])
    return _normalised(logprobs, [prompts.YES, prompts.NO])[0]


def expected_grade(engine: Engine, prompt: Prompt) -> float:
    """The judge's expected grade from its next-token distribution over 0..9, scaled to [0, 1]."""
    logprobs = engine.next_token_logprobs(prompt, list(prompts.GRADES))
    probabilities = _normalised(logprobs, list(prompts.GRADES))
    return sum(p * int(g) for p, g in zip(probabilities, prompts.GRADES, strict=True)) / 9


def _normalised(logprobs: dict[str, float], keys: Sequence[str]) -> list[float]:
    values = [logprobs.get(k, -math.inf) for k in keys]
    top = max(values)
    if top == -math.inf:
        return [1 / len(keys)] * len(keys)
    weights = [math.exp(v - top) for v in values]
    total = sum(weights)
    return [w / total for w in weights]


# -- one entry point for strategies ------------------------------------------------------------
@dataclass
class Scoring:
    """Scores candidates of one problem. Model calls are reported through `on_call`."""

    problem: Problem
    engine: Engine | None = None
    judge: Engine | None = None  # a second model for the `judge` verifier
    window: int = DEFAULT_WINDOW
    on_call: CallRecorder | None = None
    before_call: Callable[[], None] | None = None  # e.g. raises when the run is cancelled
    _cache: dict[tuple[str, str, bool], float] = field(default_factory=dict, repr=False)

    def score(self, name: str, candidate: Candidate) -> float:
        """Higher is better. Log-prob scorers are unbounded; verifiers are in [0, 1]."""
        if name == "mean-logprob":
            return mean_logprob(candidate.tokens)
        if name == "lowest-window":
            return lowest_window_logprob(candidate.tokens, self.window)
        if name == "self-certainty":
            return self_certainty(candidate.tokens)
        return self.verify(name, candidate).score

    def verify(self, name: str, candidate: Candidate, threshold: float = 0.5) -> Verdict:
        if name == "programmatic":
            return programmatic_verdict(self.problem, candidate)
        if name == "self-verify":
            p = self._model_score(name, candidate)
            return Verdict(p, p >= threshold, f"P(yes) = {p:.2f}")
        if name == "judge":
            grade = self._model_score(name, candidate)
            return Verdict(grade, grade >= threshold, f"judge grade {grade * 9:.1f} / 9")
        raise VerifierError(f"unknown verifier {name!r}; valid: {', '.join(VERIFIERS)}")

    def probability(self, name: str, candidate: Candidate) -> float:
        """A score mapped to [0, 1] (log-prob scorers through exp), e.g. for a search value."""
        value = self.score(name, candidate)
        if name in ("mean-logprob", "lowest-window"):
            return math.exp(min(0.0, value))
        if name == "self-certainty":
            return value / (1 + value) if value > 0 else 0.0
        return value

    def check(self, name: str) -> None:
        """Fail early when a scorer cannot run here."""
        if name not in SCORERS:
            raise VerifierError(f"unknown scorer {name!r}; valid: {', '.join(SCORERS)}")
        if name == "judge" and self.judge is None:
            raise VerifierError("the judge verifier needs a judge model (--judge-model NAME)")
        if name == "self-verify" and self.engine is None:
            raise VerifierError("self-verify needs the model")

    def _model_score(self, name: str, candidate: Candidate) -> float:
        key = (name, candidate.text, candidate.partial)
        if key in self._cache:
            return self._cache[key]
        self.check(name)
        engine = self.judge if name == "judge" else self.engine
        assert engine is not None
        if self.before_call is not None:
            self.before_call()
        build = prompts.judge_messages if name == "judge" else prompts.verification_messages
        prompt = build(self.problem, candidate.text, candidate.partial)
        start = time.perf_counter()
        value = (expected_grade if name == "judge" else yes_probability)(engine, prompt)
        if self.on_call is not None:
            prompt_tokens = engine.count_tokens(engine.format_prompt(prompt))
            self.on_call(prompt_tokens, time.perf_counter() - start)
        self._cache[key] = value
        return value
