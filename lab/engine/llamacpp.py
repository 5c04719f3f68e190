"""The in-process engine: one llama.cpp context, many sequences, a shared KV cache.

Several sequences live in one context with a unified KV cache, so a prompt decoded once is
shared by every sample of it (a memory sequence copy only tags the cached cells with more
sequence ids). Each step puts one token per live sequence into a batch and decodes once:
on a CPU this batching is the lab's main speed lever. Token lists of the sequences left in
the cache are remembered, so a later request that extends them (the next step of a search)
decodes only what is new.

Scoring calls (`score`, `next_token_logprobs`: self-verify, judge) run in a second, small
context of their own. A verification between two steps of a search then leaves the search's
sequences cached, and, as important, leaves them where they sit: llama.cpp's CPU attention
takes a kernel by the shape of each decode (a lone query over 512 or more cells is split
across threads, 64 or more queries are tiled), and each kernel rounds differently, so greedy
text depends on what else the cache holds, not only on the tokens.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp as ll
import numpy as np

from lab import config
from lab.engine.base import (
    Engine,
    EngineError,
    Generation,
    GenerationCancelled,
    Prompt,
    SamplingParams,
    Token,
    TokenCallback,
    merged_generations,
    shifted_generation,
)
from lab.engine.chat import ChatFormat
from lab.engine.kvcache import SequenceCache
from lab.engine.sequence import SequenceState, logits_array, token_stats
from lab.engine.turn import TurnLock

# generates token targets (prompt tokens plus a prefix each) into a Generation:
# (targets, prefixes, params, seeds, on_token, cancel)
TargetRunner = Callable[[list[list[int]], list[str], SamplingParams, list[int],
                         TokenCallback | None, threading.Event | None], Generation]

_backend_lock = threading.Lock()
_backend_ready = False
GGML_LOG_LEVEL_ERROR = 4  # ggml's levels: 1 debug, 2 info, 3 warn, 4 error, 5 continued


@ll.llama_log_callback
def _log_errors_only(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    # llama-cpp-python's own callback maps ggml's levels off by one and prints warnings
    # ("control-looking token ...") on every load; the lab shows llama.cpp's errors only.
    if level == GGML_LOG_LEVEL_ERROR:
        sys.stderr.write(text.decode("utf-8", errors="replace"))


def _init_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            ll.llama_log_set(_log_errors_only, ctypes.c_void_p(0))
            ll.llama_backend_init()
            _backend_ready = True


@dataclass(frozen=True)
class EngineOptions:
    n_ctx: int = 8192  # KV cells shared by all sequences (and the longest one sequence)
    n_seq_max: int = 64  # sequences alive at once, cached ones included
    n_batch: int = 512
    n_ubatch: int = 512
    n_threads: int | None = None  # None: every core
    # Flash attention makes a sequence's logits independent of how many others share its
    # batch (without it one-token batches take another kernel path): reproducible samples.
    flash_attn: bool = True
    n_gpu_layers: int = -1  # all layers when llama.cpp was built with a GPU backend



def use_extra_buffers() -> bool:
    """Whether llama.cpp may use its extra CPU weight buffers (repacked and AMX layouts).
    Not on a CPU with AMX: this llama.cpp build's AMX matrix multiply crashes the process
    (SIGSEGV in ggml_backend_amx_mul_mat, seen on a Xeon with amx_int8). LAB_EXTRA_BUFFERS=1
    or 0 decides instead."""
    setting = os.environ.get("LAB_EXTRA_BUFFERS", "").strip()
    if setting:
        return setting not in ("0", "false", "no", "off")
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return True
    return " amx_int8" not in flags and " amx_tile" not in flags

class LlamaCppEngine(Engine):
    def __init__(self, model_path: str | Path, **options: object):
        super().__init__()
        self._lock = TurnLock()  # one engine computing on this machine at a time
        from lab.models import (  # late: keeps the engine importable on its own
            check_gguf,
            prompt_format_for,
        )

        self.path = Path(model_path)
        check_gguf(self.path)
        self.options = EngineOptions(**options)  # type: ignore[arg-type]
        self.model_name = self.path.stem
        self.prompt_format = prompt_format_for(self.path)
        _init_backend()
        self._model = self._load_model()
        self._vocab = ll.llama_model_get_vocab(self._model)
        self.n_vocab = ll.llama_vocab_n_tokens(self._vocab)
        self._ctx = self.new_context(self.options.n_seq_max, self._main_n_ctx())
        self._cache = SequenceCache(self._ctx, self.options.n_batch, self.options.n_seq_max)
        self._score_cache: SequenceCache | None = None  # made on the first scoring call
        self.chat = ChatFormat.from_model(self._model, self.piece)
        self._closed = False

    # -- set-up -------------------------------------------------------------------------
    def _load_model(self) -> ll.llama_model_p:
        params = ll.llama_model_default_params()
        params.n_gpu_layers = self.options.n_gpu_layers if ll.llama_supports_gpu_offload() else 0
        params.use_extra_bufts = use_extra_buffers()
        model = ll.llama_model_load_from_file(str(self.path).encode(), params)
        if not model:
            raise EngineError(f"llama.cpp could not load {self.path}: the file may be corrupt or "
                              "its architecture unsupported by this llama.cpp build")
        return model

    def _main_n_ctx(self) -> int:
        opts = self.options
        n_ctx_train = ll.llama_model_n_ctx_train(self._model)
        return min(opts.n_ctx, n_ctx_train * opts.n_seq_max) if n_ctx_train else opts.n_ctx

    def new_context(self, n_seq_max: int, n_ctx: int) -> ll.llama_context_p:
        opts = self.options
        params = ll.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = opts.n_batch
        params.n_ubatch = opts.n_ubatch
        params.n_seq_max = n_seq_max
        params.kv_unified = True  # prefix sharing by seq_cp costs no memory only when unified
        threads = opts.n_threads or config.n_threads()
        params.n_threads = threads
        params.n_threads_batch = threads
        params.flash_attn_type = (ll.LLAMA_FLASH_ATTN_TYPE_ENABLED if opts.flash_attn
                                  else ll.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        params.no_perf = True
        ctx = ll.llama_init_from_model(self._model, params)
        if not ctx:
            raise EngineError(f"llama.cpp could not create a context of {n_ctx} tokens "
                              f"for {self.path.name}: try a smaller n_ctx")
        return ctx

    def _scoring(self) -> SequenceCache:
        """The scoring context's cache: as long as the main context, two sequence ids (the
        last scoring prompt stays cached for the next one, e.g. the head of a verification
        template)."""
        if self._score_cache is None:
            self._score_cache = SequenceCache(self.new_context(2, self.n_ctx),
                                              self.options.n_batch, 2)
        return self._score_cache

    def forget_cache(self) -> None:
        with self._lock:
            self._cache.reset()
            self.forget_scoring_cache()

    def forget_scoring_cache(self) -> None:
        """Drop the scoring context's cached prompt (by whoever holds the engine's turn)."""
        if self._score_cache is not None:
            self._score_cache.reset()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cache.free()
        ll.llama_free(self._ctx)
        if self._score_cache is not None:
            self._score_cache.free()
            ll.llama_free(self._score_cache.ctx)
        ll.llama_model_free(self._model)

    # -- tokens -------------------------------------------------------------------------
    def tokenize(self, text: str, special: bool) -> list[int]:
        """`special`: add BOS (when the model wants it) and parse special-token markup."""
        data = text.encode("utf-8")
        add_bos = special and ll.llama_vocab_get_add_bos(self._vocab)
        if add_bos and self.chat.bos_text and text.startswith(self.chat.bos_text):
            add_bos = False  # the chat template already wrote it
        capacity = len(data) + 8
        buf = (ll.llama_token * capacity)()
        n = ll.llama_tokenize(self._vocab, data, len(data), buf, capacity, add_bos, special)
        if n < 0:
            capacity = -n
            buf = (ll.llama_token * capacity)()
            n = ll.llama_tokenize(self._vocab, data, len(data), buf, capacity, add_bos, special)
        return list(buf[:n])

    def piece(self, token: int, special: bool = False) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = ll.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self._vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", errors="replace")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text, special=False))

    def format_prompt(self, prompt: Prompt) -> str:
        return prompt if isinstance(prompt, str) else self.chat.render(list(prompt))

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        return self.tokenize(self.format_prompt(prompt), special=True)

    @property
    def n_ctx(self) -> int:
        return ll.llama_n_ctx(self._ctx)

    def check_fits(self, targets: list[list[int]], max_tokens: int) -> None:
        longest = max(len(t) for t in targets) + max_tokens
        if longest > self.n_ctx:
            raise EngineError(f"prompt of {max(len(t) for t in targets)} tokens plus "
                              f"{max_tokens} new tokens does not fit the context of "
                              f"{self.n_ctx} tokens: shorten the prompt or lower max_tokens")

    # -- generation ---------------------------------------------------------------------
    @property
    def max_batch_sequences(self) -> int:
        """Sequences decoded together; larger requests run in groups of this size."""
        return self.options.n_seq_max // 2  # the other half holds the cache between requests

    def _continue(self, prompt: Prompt, prefixes: list[str], params: SamplingParams,
                  seeds: list[int], on_token: TokenCallback | None,
                  cancel: threading.Event | None) -> Generation:
        return self.continue_in_groups(self._generate_targets, prompt, prefixes, params, seeds,
                                       on_token, cancel)

    def _generate_each(self, prompts: list[Prompt], params: SamplingParams, seeds: list[int],
                       cancel: threading.Event | None) -> Generation:
        return self.each_in_groups(self._generate_targets, prompts, params, seeds, cancel)

    def continue_in_groups(self, run: TargetRunner, prompt: Prompt, prefixes: list[str],
                           params: SamplingParams, seeds: list[int],
                           on_token: TokenCallback | None,
                           cancel: threading.Event | None) -> Generation:
        """`continue_prefixes` as token targets, `max_batch_sequences` at a time, each group
        generated by `run` (this engine's own decode loop, or a lane of a shared one)."""
        size = self.max_batch_sequences
        base = self.prompt_tokens(prompt)

        def group(start: int) -> Generation:
            shifted = (on_token if on_token is None or start == 0
                       else lambda i, token: on_token(i + start, token))
            chunk = prefixes[start:start + size]
            targets = [base + (self.tokenize(p, special=False) if p else []) for p in chunk]
            return run(targets, chunk, params, seeds[start:start + size], shifted, cancel)

        if len(prefixes) <= size:
            return group(0)
        return _in_groups(len(prefixes), size, group)

    def each_in_groups(self, run: TargetRunner, prompts: list[Prompt], params: SamplingParams,
                       seeds: list[int], cancel: threading.Event | None) -> Generation:
        """`generate_each` as token targets, `max_batch_sequences` at a time (see above)."""
        size = self.max_batch_sequences

        def group(start: int) -> Generation:
            chunk = prompts[start:start + size]
            return run([self.prompt_tokens(p) for p in chunk], [""] * len(chunk), params,
                       seeds[start:start + size], None, cancel)

        return _in_groups(len(prompts), size, group)

    def _generate_targets(self, targets: list[list[int]], prefixes: list[str],
                          params: SamplingParams, seeds: list[int],
                          on_token: TokenCallback | None,
                          cancel: threading.Event | None) -> Generation:
        run = self.start_targets(self._cache, targets, prefixes, params, seeds)
        try:
            self._generate_loop(run.states, run.rows, params, on_token, cancel)
        finally:
            run.keep_cached(self._cache)
        return run.generation()

    def start_targets(self, cache: SequenceCache, targets: list[list[int]], prefixes: list[str],
                      params: SamplingParams, seeds: list[int]) -> TargetsRun:
        """Decode what `cache` lacks of the targets (sequences 0..K-1 of it) and set up their
        samplers; the first tokens' logits are readable until the next decode."""
        self.check_fits(targets, params.max_tokens)
        decoded, prompt_s = cache.prepare(targets, [len(t) - 1 for t in targets])
        states = [SequenceState(k, targets[k], params, seeds[k], self.piece)
                  for k in range(len(targets))]
        rows = {k: cache.logit_rows[(k, len(targets[k]) - 1)] for k in range(len(targets))}
        return TargetsRun(targets, prefixes, states, rows, decoded, prompt_s)

    def _generate_loop(self, states: list[SequenceState], rows: dict[int, int],
                       params: SamplingParams, on_token: TokenCallback | None,
                       cancel: threading.Event | None) -> None:
        live = list(states)
        while live:
            self.sample_step(live, rows, params, on_token)
            live = [s for s in live if s.finish_reason is None]
            if self._cancelled(cancel):
                for state in live:
                    state.finish("cancelled")
                return
            if not live:
                return
            self._cache.fill_batch([(s.seq_id, s.n_past, s.pending_token, True) for s in live])
            self._cache.decode()
            for row, state in enumerate(live):
                state.mark_decoded()
                rows[state.seq_id] = row

    def sample_step(self, live: list[SequenceState], rows: dict[int, int],
                    params: SamplingParams, on_token: TokenCallback | None,
                    ctx: ll.llama_context_p | None = None) -> None:
        """Sample each live sequence's next token from its row of the last decode (of `ctx`,
        default the engine's own context) and append it; a sequence may finish here."""
        for state in live:
            logits = self._logits(rows[state.seq_id], ctx)
            peak = float(logits.max())
            raw = np.exp(logits - peak)  # one pass over the vocabulary for both
            token_id = state.sampler.sample(logits, peak, raw)
            if ll.llama_vocab_is_eog(self._vocab, token_id):
                state.finish("eos")
                continue
            token = token_stats(token_id, logits, params.top_logprobs, self.piece, peak, raw)
            state.append(token)  # may finish it (stop string, max tokens)
            if on_token is not None and on_token(state.seq_id, token) is True:
                state.finish("stopped")  # the caller asked to cut this sequence here

    def _logits(self, row: int, ctx: ll.llama_context_p | None = None) -> np.ndarray:
        context = self._ctx if ctx is None else ctx
        return logits_array(ll.llama_get_logits_ith(context, row), self.n_vocab)

    # -- scoring ------------------------------------------------------------------------
    def score(self, prompt: Prompt, continuation: str | Sequence[int]) -> list[Token]:
        with self._lock:
            tokens, read, decoded = self.score_unlocked(prompt, continuation)
        if tokens:
            self._read_prompt(read, decoded)
        return tokens

    def next_token_logprobs(self, prompt: Prompt, candidates: Sequence[str]) -> dict[str, float]:
        with self._lock:
            result, read, decoded = self.next_token_logprobs_unlocked(prompt, candidates)
        self._read_prompt(read, decoded)
        return result

    def score_unlocked(self, prompt: Prompt, continuation: str | Sequence[int],
                       ) -> tuple[list[Token], int, int]:
        """`score` by whoever holds the engine's turn: the tokens, and the prompt tokens read
        and decoded (for the caller's `_read_prompt`, on the caller's thread)."""
        base = self.prompt_tokens(prompt)
        cont = (self.tokenize(continuation, special=False) if isinstance(continuation, str)
                else list(continuation))
        if not cont:
            return [], 0, 0
        target = base + cont
        self.check_fits([target], 0)
        if len(cont) > self.options.n_batch:
            raise EngineError(f"can score at most {self.options.n_batch} tokens at once")
        cache = self._scoring()
        # the prompt first, as generation decodes it, then the continuation's rows: one
        # batch of prompt and continuation would reach llama.cpp's tiled attention (64+
        # tokens), which rounds differently from the steps that generated them
        decoded, _ = cache.prepare([base], [len(base) - 1])
        more, _ = cache.prepare([target], [len(base) - 1])
        decoded += more
        tokens = []
        for i, token_id in enumerate(cont):
            row = cache.logit_rows[(0, len(base) - 1 + i)]
            logits = self._logits(row, cache.ctx)
            tokens.append(token_stats(token_id, logits, 0, self.piece))
        return tokens, len(target), decoded

    def next_token_logprobs_unlocked(self, prompt: Prompt, candidates: Sequence[str],
                                     ) -> tuple[dict[str, float], int, int]:
        """`next_token_logprobs` by whoever holds the engine's turn (see score_unlocked)."""
        base = self.prompt_tokens(prompt)
        cache = self._scoring()
        decoded, _ = cache.prepare([base], [len(base) - 1])
        logits = self._logits(cache.logit_rows[(0, len(base) - 1)], cache.ctx)
        result = {}
        for candidate in candidates:
            first = self.tokenize(candidate, special=False)[:1]
            if not first:
                raise ValueError(f"candidate {candidate!r} has no tokens")
            stats = token_stats(first[0], logits, 0, self.piece)
            result[candidate] = stats.logprob
        return result, len(base), decoded


@dataclass
class TargetsRun:
    """Token targets being generated: their sequences, each one's logit row of the last
    decode, and what their prompts cost."""

    targets: list[list[int]]
    prefixes: list[str]
    states: list[SequenceState]
    rows: dict[int, int]
    decoded: int  # prompt tokens decoded (the rest came from the cache)
    prompt_s: float
    started: float = field(default_factory=time.perf_counter)

    def keep_cached(self, cache: SequenceCache) -> None:
        """Remember what the sequences left in `cache`, for a later request to extend."""
        cache.cached = {s.seq_id: s.cached_tokens() for s in self.states}

    def generation(self) -> Generation:
        """The finished Generation; GenerationCancelled (with it) if a sequence was cut."""
        generation = Generation(
            completions=[s.completion(self.prefixes[s.seq_id]) for s in self.states],
            prompt_tokens=sum(len(t) for t in self.targets),
            prompt_tokens_decoded=self.decoded,
            prompt_s=self.prompt_s,
            generate_s=time.perf_counter() - self.started,
        )
        if any(s.finish_reason == "cancelled" for s in self.states):
            raise GenerationCancelled(generation)
        return generation


def _in_groups(count: int, size: int, group: Callable[[int], Generation]) -> Generation:
    """Run `group(start)` for each group of `size` sequences and merge the generations in
    order; a cancelled group ends the merge with what all groups so far had."""
    parts: list[Generation] = []
    for start in range(0, count, size):
        try:
            part = group(start)
        except GenerationCancelled as exc:
            parts.append(shifted_generation(exc.partial, start))
            raise GenerationCancelled(merged_generations(parts)) from None
        parts.append(shifted_generation(part, start))
    return merged_generations(parts)
