"""One sequence being generated: its sampler, tokens, text and stop conditions; and the
per-token statistics computed from raw logits (no `logits_all` needed)."""

from __future__ import annotations

import codecs
import ctypes
import math
from collections.abc import Callable

import numpy as np

from lab.engine.base import Completion, SamplingParams, Token

# Sampling draws u in [0, total weight) and maps it first onto the tokens that carry
# almost all the weight, then (rarely) onto the rest: an exact draw that avoids a cumulative
# sum over the whole vocabulary, the step that made per-token sampling cost as much as a
# tenth of a batched decode step.
HEAVY = 1e-6  # weight, relative to the most likely token, of a token worth visiting first
TAIL = 1e-9  # raw probability ratio below which a token is left out of top-k/top-p/min-p
# Ratios to the most likely token above which truncation first looks for its cut.
FLOORS = (1e-4, 1e-6)


class Sampler:
    """Greedy, or top-k, top-p and min-p (on the raw distribution, as llama.cpp's chain
    applies them) then temperature, drawn with this sequence's own random generator."""

    def __init__(self, params: SamplingParams, seed: int):
        self.params = params
        self.rng = np.random.default_rng(seed & 0xFFFFFFFF)

    def sample(self, logits: np.ndarray, peak: float, raw: np.ndarray | None = None) -> int:
        """The next token; `raw`, when given, is exp(logits - peak), computed once for this
        and for the token's statistics (lab.engine.sequence.token_stats)."""
        p = self.params
        if p.temperature <= 0:
            return int(logits.argmax())
        ids = self._truncated(logits, peak, raw) if _truncates(p) else None
        values = logits if ids is None else logits[ids]
        weights = np.exp((values - peak) / p.temperature)
        u = self.rng.random() * float(weights.sum(dtype=np.float64))
        heavy = np.flatnonzero(weights > HEAVY)
        cumulative = np.cumsum(weights[heavy], dtype=np.float64)
        if u < cumulative[-1]:
            index = int(heavy[np.searchsorted(cumulative, u, side="right")])
        else:
            u -= cumulative[-1]
            light = np.flatnonzero(weights <= HEAVY)
            cumulative = np.cumsum(weights[light], dtype=np.float64)
            index = int(light[min(int(np.searchsorted(cumulative, u, side="right")),
                                  len(light) - 1)])
        return index if ids is None else int(ids[index])

    def _truncated(self, logits: np.ndarray, peak: float,
                   raw: np.ndarray | None = None) -> np.ndarray:
        """Token ids left by top-k, top-p and min-p, most likely first.

        The cut is first looked for among the tokens above a few high floors: those are the
        head of the full sorted list, so a cut that falls inside them is the full list's cut,
        without sorting the tens of thousands of unlikely tokens (a full sort cost ~4 ms a
        token, a fifth of a batched decode step at N=8)."""
        raw = np.exp(logits - peak) if raw is None else raw
        total = float(raw.sum(dtype=np.float64))
        for floor in FLOORS:  # in logits, so that the head is exactly the sorted list's head
            ids = self._cut(logits, raw, total, np.flatnonzero(logits > peak + math.log(floor)))
            if ids is not None:
                return ids
        whole = self._cut(logits, raw, total, np.flatnonzero(raw > TAIL), final=True)
        assert whole is not None
        return whole

    def _cut(self, logits: np.ndarray, raw: np.ndarray, total: float, ids: np.ndarray,
             final: bool = False) -> np.ndarray | None:
        """The kept prefix of `ids` sorted most likely first; None when the cut may lie
        beyond them (only the `final` floor's list is taken as the whole vocabulary)."""
        p = self.params
        ids = ids[np.argsort(-logits[ids], kind="stable")]
        if p.top_k > 0:
            ids = ids[: p.top_k]
        probs = raw[ids] / total
        keep = len(ids)
        if p.top_p < 1.0:
            keep = min(keep, int(np.searchsorted(np.cumsum(probs), p.top_p)) + 1)
        if p.min_p > 0.0:
            keep = min(keep, max(1, int(np.count_nonzero(probs >= p.min_p * probs[0]))))
        if keep < len(ids) or final or (p.top_k > 0 and len(ids) == p.top_k):
            return ids[:keep]
        return None


def _truncates(params: SamplingParams) -> bool:
    return params.top_k > 0 or params.top_p < 1.0 or params.min_p > 0.0


def logits_array(logits_ptr: ctypes._Pointer, n_vocab: int) -> np.ndarray:
    """A view (no copy) of one output row of the last decode."""
    return np.ctypeslib.as_array(logits_ptr, shape=(n_vocab,))


def token_stats(token_id: int, logits: np.ndarray, top_k: int, piece: Callable[[int], bytes],
                peak: float | None = None, weights: np.ndarray | None = None) -> Token:
    """Log-probability of `token_id` under the raw (temperature 1) distribution, with its
    entropy, self-certainty and the `top_k` best alternatives (`weights`, when given, is
    exp(logits - peak), shared with the sampler)."""
    n_vocab = len(logits)
    if weights is None or peak is None:
        peak = float(logits.max()) if peak is None else peak
        weights = np.exp(logits - peak)
    total = float(weights.sum())
    log_z = peak + math.log(total)
    entropy = log_z - float(np.dot(weights, logits)) / total
    # KL(uniform || p) = -log V - mean(log p), and mean(log p) = mean(logits) - log Z
    self_certainty = log_z - float(logits.mean()) - math.log(n_vocab)
    top: list[tuple[str, float]] = []
    if top_k > 0:
        best = np.argpartition(logits, -top_k)[-top_k:]
        best = best[np.argsort(-logits[best])]
        top = [(piece(int(t)).decode("utf-8", errors="replace"), float(logits[t]) - log_z)
               for t in best]
    return Token(id=token_id, text="", logprob=float(logits[token_id]) - log_z, top=top,
                 entropy=entropy, self_certainty=self_certainty)


class SequenceState:
    def __init__(self, seq_id: int, prompt_tokens: list[int], params: SamplingParams,
                 seed: int, piece: Callable[[int], bytes]):
        self.seq_id = seq_id
        self.prompt_tokens = prompt_tokens
        self.params = params
        self.seed = seed
        self.sampler = Sampler(params, seed)
        self._piece = piece
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.tokens: list[Token] = []
        self.text = ""
        self.finish_reason: str | None = None if params.max_tokens > 0 else "length"
        self._decoded = 0  # generated tokens whose KV is in the cache
        self._max_stop = max((len(s) for s in params.stop), default=0)

    @property
    def n_past(self) -> int:
        return len(self.prompt_tokens) + self._decoded

    @property
    def pending_token(self) -> int:
        return self.tokens[self._decoded].id

    def append(self, token: Token) -> bool:
        """Add a sampled token; True when the sequence is finished by it."""
        token.text = self._decoder.decode(self._piece(token.id))
        self.tokens.append(token)
        before = len(self.text)
        self.text += token.text
        if self._max_stop:
            window_start = max(0, before - self._max_stop + 1)
            hits = [i for s in self.params.stop if (i := self.text.find(s, window_start)) >= 0]
            if hits:
                self.text = self.text[: min(hits)]
                self.finish("stop")
                return True
        if len(self.tokens) >= self.params.max_tokens:
            self.finish("length")
            return True
        return False

    def mark_decoded(self) -> None:
        self._decoded += 1

    def finish(self, reason: str) -> None:
        if self.finish_reason is None:
            self.finish_reason = reason

    def cached_tokens(self) -> list[int]:
        return self.prompt_tokens + [t.id for t in self.tokens[: self._decoded]]

    def completion(self, prefix: str) -> Completion:
        return Completion(index=self.seq_id, text=self.text, tokens=self.tokens,
                          finish_reason=self.finish_reason or "length", seed=self.seed,
                          prefix=prefix)
