"""One sequence being generated: its sampler, tokens, text and stop conditions; and the
per-token statistics computed from raw logits (no `logits_all` needed)."""

from __future__ import annotations

import codecs
import ctypes
import math
from collections.abc import Callable

import llama_cpp as ll
import numpy as np

from lab.engine.base import Completion, SamplingParams, Token


def make_sampler(params: SamplingParams, seed: int) -> ll.llama_sampler_p:
    chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
    if params.temperature <= 0:
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
        return chain
    if params.top_k > 0:
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_k(params.top_k))
    if params.top_p < 1.0:
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(params.top_p, 1))
    if params.min_p > 0.0:
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_min_p(params.min_p, 1))
    ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(params.temperature))
    ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(seed & 0xFFFFFFFF))
    return chain


def token_stats(token_id: int, logits_ptr: ctypes._Pointer, n_vocab: int, top_k: int,
                piece: Callable[[int], bytes]) -> Token:
    """Log-probability of `token_id` under the raw (temperature 1) distribution, with its
    entropy, self-certainty and the `top_k` best alternatives."""
    logits = np.ctypeslib.as_array(logits_ptr, shape=(n_vocab,))
    peak = float(logits.max())
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
        self.sampler = make_sampler(params, seed)
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

    def free_sampler(self) -> None:
        if self.sampler is not None:
            ll.llama_sampler_free(self.sampler)
            self.sampler = None

    def completion(self, prefix: str) -> Completion:
        return Completion(index=self.seq_id, text=self.text, tokens=self.tokens,
                          finish_reason=self.finish_reason or "length", seed=self.seed,
                          prefix=prefix)
