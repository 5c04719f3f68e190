"""The in-process engine: one llama.cpp context, many sequences, a shared KV cache.

Several sequences live in one context with a unified KV cache, so a prompt decoded once is
shared by every sample of it (a memory sequence copy only tags the cached cells with more
sequence ids). Each step puts one token per live sequence into a batch and decodes once:
on a CPU this batching is the lab's main speed lever. Token lists of the sequences left in
the cache are remembered, so a later request that extends them (the next step of a search)
decodes only what is new.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as ll

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
)
from lab.engine.chat import ChatFormat
from lab.engine.sequence import SequenceState, token_stats

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


class LlamaCppEngine(Engine):
    def __init__(self, model_path: str | Path, **options: object):
        super().__init__()
        from lab.models import check_gguf  # late: keeps the engine importable on its own

        self.path = Path(model_path)
        check_gguf(self.path)
        self.options = EngineOptions(**options)  # type: ignore[arg-type]
        self.model_name = self.path.stem
        _init_backend()
        self._model = self._load_model()
        self._vocab = ll.llama_model_get_vocab(self._model)
        self.n_vocab = ll.llama_vocab_n_tokens(self._vocab)
        self._ctx = self._new_context()
        self._mem = ll.llama_get_memory(self._ctx)
        self._batch = ll.llama_batch_init(self.options.n_batch, 0, self.options.n_seq_max)
        self._cached: dict[int, list[int]] = {}  # seq id -> tokens whose KV is in the cache
        self.chat = ChatFormat.from_model(self._model, self._piece)
        self._closed = False

    # -- set-up -------------------------------------------------------------------------
    def _load_model(self) -> ll.llama_model_p:
        params = ll.llama_model_default_params()
        params.n_gpu_layers = self.options.n_gpu_layers if ll.llama_supports_gpu_offload() else 0
        model = ll.llama_model_load_from_file(str(self.path).encode(), params)
        if not model:
            raise EngineError(f"llama.cpp could not load {self.path}: the file may be corrupt or "
                              "its architecture unsupported by this llama.cpp build")
        return model

    def _new_context(self) -> ll.llama_context_p:
        opts = self.options
        n_ctx_train = ll.llama_model_n_ctx_train(self._model)
        params = ll.llama_context_default_params()
        params.n_ctx = min(opts.n_ctx, n_ctx_train * opts.n_seq_max) if n_ctx_train else opts.n_ctx
        params.n_batch = opts.n_batch
        params.n_ubatch = opts.n_ubatch
        params.n_seq_max = opts.n_seq_max
        params.kv_unified = True  # prefix sharing by seq_cp costs no memory only when unified
        threads = opts.n_threads or config.n_threads()
        params.n_threads = threads
        params.n_threads_batch = threads
        params.flash_attn_type = (ll.LLAMA_FLASH_ATTN_TYPE_ENABLED if opts.flash_attn
                                  else ll.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        params.no_perf = True
        ctx = ll.llama_init_from_model(self._model, params)
        if not ctx:
            raise EngineError(f"llama.cpp could not create a context of {opts.n_ctx} tokens "
                              f"for {self.path.name}: try a smaller n_ctx")
        self._n_ctx_train = n_ctx_train
        return ctx

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        ll.llama_batch_free(self._batch)
        ll.llama_free(self._ctx)
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

    def _piece(self, token: int, special: bool = False) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = ll.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self._vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self._piece(t) for t in tokens).decode("utf-8", errors="replace")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text, special=False))

    def format_prompt(self, prompt: Prompt) -> str:
        return prompt if isinstance(prompt, str) else self.chat.render(list(prompt))

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        return self.tokenize(self.format_prompt(prompt), special=True)

    @property
    def n_ctx(self) -> int:
        return ll.llama_n_ctx(self._ctx)

    # -- the KV cache -------------------------------------------------------------------
    def _prepare(self, targets: list[list[int]], logits_from: list[int]) -> tuple[int, float]:
        """Put each target's tokens into the cache as sequence 0..K-1, reusing what is cached.

        Target k is decoded from at most logits_from[k] on, so that the logits of every token
        from there on are available (at least its last token is always decoded). Returns
        the tokens decoded and the seconds it took."""
        started = time.perf_counter()
        k_count = len(targets)
        if k_count > self.options.n_seq_max // 2:
            raise EngineError(f"{k_count} sequences at once is more than this engine allows "
                              f"({self.options.n_seq_max // 2}); ask for fewer samples")
        reuse = [self._best_cached(t, min(len(t) - 1, lf)) for t, lf in zip(targets, logits_from,
                                                                            strict=True)]
        old_ids = list(self._cached)
        # Move cached sources out of the way of the target ids 0..K-1.
        offset = self.options.n_seq_max // 2
        for i, src in enumerate(old_ids):
            ll.llama_memory_seq_cp(self._mem, src, offset + i, -1, -1)
            ll.llama_memory_seq_rm(self._mem, src, -1, -1)
        moved = {src: offset + i for i, src in enumerate(old_ids)}
        for k, (src, length) in enumerate(reuse):
            if src is not None and length > 0:
                ll.llama_memory_seq_cp(self._mem, moved[src], k, 0, length)
        for tmp in moved.values():
            ll.llama_memory_seq_rm(self._mem, tmp, -1, -1)
        starts = [length for _, length in reuse]
        decoded = self._decode_shared_spans(targets, starts, logits_from)
        self._cached = {k: list(t) for k, t in enumerate(targets)}
        return decoded, time.perf_counter() - started

    def _best_cached(self, tokens: list[int], limit: int) -> tuple[int | None, int]:
        best: tuple[int | None, int] = (None, 0)
        for seq_id, cached in self._cached.items():
            n = _common_prefix(cached, tokens, limit)
            if n > best[1]:
                best = (seq_id, n)
        return best

    def _decode_shared_spans(self, targets: list[list[int]], starts: list[int],
                             logits_from: list[int]) -> int:
        """Decode what each target still lacks. Targets that start at the same place and share
        more tokens decode the shared span once, in the first of them, then copy it."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, target in enumerate(targets):
            key = (starts[k], *target[: starts[k]])
            groups.setdefault(key, []).append(k)
        decoded = 0
        spans: list[tuple[int, int, int, bool]] = []  # (seq, begin, end, want logits)
        for members in groups.values():
            begin = starts[members[0]]
            shared = min(len(targets[k]) - 1 for k in members)
            shared = min(shared, *(logits_from[k] for k in members))
            for k in members[1:]:
                shared = min(shared, _common_prefix(targets[members[0]], targets[k], shared))
            if len(members) > 1 and shared > begin:
                self._decode_spans([(members[0], begin, shared, False)], targets)
                decoded += shared - begin
                for k in members[1:]:
                    ll.llama_memory_seq_cp(self._mem, members[0], k, begin, shared)
                begin = shared
            for k in members:
                spans.append((k, begin, len(targets[k]), True))
                decoded += len(targets[k]) - begin
        self._logit_rows = self._decode_spans(spans, targets, logits_from)
        return decoded

    def _decode_spans(self, spans: list[tuple[int, int, int, bool]], targets: list[list[int]],
                      logits_from: list[int] | None = None) -> dict[tuple[int, int], int]:
        """Decode token spans into their sequences in as few batches as fit; returns
        (seq, position) -> output row of the last batch for the positions whose logits were
        asked for. Logits are only asked for in the last batch."""
        items: list[tuple[int, int, int, bool]] = []  # (seq, pos, token, logits)
        for seq, begin, end, want in spans:
            first = end - 1 if logits_from is None else max(begin, min(logits_from[seq], end - 1))
            for pos in range(begin, end):
                items.append((seq, pos, targets[seq][pos], want and pos >= first))
        rows: dict[tuple[int, int], int] = {}
        n_batch = self.options.n_batch
        want_rows = [i for i, item in enumerate(items) if item[3]]
        if len(want_rows) > n_batch:
            raise EngineError(f"asked for {len(want_rows)} logit rows at once; max {n_batch}")
        # Put every item that needs logits into the last batch, so their rows stay readable.
        plain = [it for it in items if not it[3]]
        wanted = [it for it in items if it[3]]
        chunks = [plain[i:i + n_batch] for i in range(0, len(plain), n_batch)]
        if chunks and len(chunks[-1]) + len(wanted) <= n_batch:
            chunks[-1] = chunks[-1] + wanted
        else:
            chunks.append(wanted)
        for chunk in chunks:
            if not chunk:
                continue
            rows = {}
            self._fill_batch(chunk)
            for row, (seq, pos, _, logits) in enumerate(chunk):
                if logits:
                    rows[(seq, pos)] = row
            self._decode()
        return rows

    def _fill_batch(self, chunk: list[tuple[int, int, int, bool]]) -> None:
        batch = self._batch
        for i, (seq, pos, token, logits) in enumerate(chunk):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(chunk)

    def _decode(self) -> None:
        status = ll.llama_decode(self._ctx, self._batch)
        if status == 1:
            self._reset_cache()
            raise EngineError(f"the KV cache is full ({self.n_ctx} tokens shared by all "
                              "sequences): ask for fewer samples or fewer max tokens")
        if status != 0:
            self._reset_cache()
            raise EngineError(f"llama_decode failed with status {status}")

    def _reset_cache(self) -> None:
        ll.llama_memory_clear(self._mem, True)
        self._cached = {}

    def _check_fits(self, targets: list[list[int]], max_tokens: int) -> None:
        longest = max(len(t) for t in targets) + max_tokens
        if longest > self.n_ctx:
            raise EngineError(f"prompt of {max(len(t) for t in targets)} tokens plus "
                              f"{max_tokens} new tokens does not fit the context of "
                              f"{self.n_ctx} tokens: shorten the prompt or lower max_tokens")

    # -- generation ---------------------------------------------------------------------
    def _continue(self, prompt: Prompt, prefixes: list[str], params: SamplingParams,
                  seeds: list[int], on_token: TokenCallback | None,
                  cancel: threading.Event | None) -> Generation:
        base = self.prompt_tokens(prompt)
        targets = [base + (self.tokenize(p, special=False) if p else []) for p in prefixes]
        self._check_fits(targets, params.max_tokens)
        decoded, prompt_s = self._prepare(targets, [len(t) - 1 for t in targets])
        states = [SequenceState(k, targets[k], params, seeds[k], self._piece)
                  for k in range(len(targets))]
        rows = {k: self._logit_rows[(k, len(targets[k]) - 1)] for k in range(len(targets))}
        started = time.perf_counter()
        try:
            self._generate_loop(states, rows, params, on_token, cancel)
        finally:
            for state in states:
                state.free_sampler()
            self._cached = {s.seq_id: s.cached_tokens() for s in states}
        generation = Generation(
            completions=[s.completion(prefixes[s.seq_id]) for s in states],
            prompt_tokens=sum(len(t) for t in targets),
            prompt_tokens_decoded=decoded,
            prompt_s=prompt_s,
            generate_s=time.perf_counter() - started,
        )
        if any(s.finish_reason == "cancelled" for s in states):
            raise GenerationCancelled(generation)
        return generation

    def _generate_loop(self, states: list[SequenceState], rows: dict[int, int],
                       params: SamplingParams, on_token: TokenCallback | None,
                       cancel: threading.Event | None) -> None:
        live = list(states)
        while live:
            for state in live:
                token_id = ll.llama_sampler_sample(state.sampler, self._ctx, rows[state.seq_id])
                if ll.llama_vocab_is_eog(self._vocab, token_id):
                    state.finish("eos")
                    continue
                logits = ll.llama_get_logits_ith(self._ctx, rows[state.seq_id])
                token = token_stats(token_id, logits, self.n_vocab, params.top_logprobs,
                                    self._piece)
                state.append(token)  # may finish it (stop string, max tokens)
                if on_token is not None and on_token(state.seq_id, token) is True:
                    state.finish("stopped")  # the caller asked to cut this sequence here
            live = [s for s in live if s.finish_reason is None]
            if self._cancelled(cancel):
                for state in live:
                    state.finish("cancelled")
                return
            if not live:
                return
            self._fill_batch([(s.seq_id, s.n_past, s.pending_token, True) for s in live])
            self._decode()
            for row, state in enumerate(live):
                state.mark_decoded()
                rows[state.seq_id] = row

    # -- scoring ------------------------------------------------------------------------
    def score(self, prompt: Prompt, continuation: str | Sequence[int]) -> list[Token]:
        with self._lock:
            base = self.prompt_tokens(prompt)
            cont = (self.tokenize(continuation, special=False) if isinstance(continuation, str)
                    else list(continuation))
            if not cont:
                return []
            target = base + cont
            self._check_fits([target], 0)
            if len(cont) > self.options.n_batch:
                raise EngineError(f"can score at most {self.options.n_batch} tokens at once")
            self._prepare([target], [len(base) - 1])
            tokens = []
            for i, token_id in enumerate(cont):
                row = self._logit_rows[(0, len(base) - 1 + i)]
                logits = ll.llama_get_logits_ith(self._ctx, row)
                tokens.append(token_stats(token_id, logits, self.n_vocab, 0, self._piece))
            return tokens

    def next_token_logprobs(self, prompt: Prompt, candidates: Sequence[str]) -> dict[str, float]:
        with self._lock:
            base = self.prompt_tokens(prompt)
            self._prepare([base], [len(base) - 1])
            logits = ll.llama_get_logits_ith(self._ctx, self._logit_rows[(0, len(base) - 1)])
            result = {}
            for candidate in candidates:
                first = self.tokenize(candidate, special=False)[:1]
                if not first:
                    raise ValueError(f"candidate {candidate!r} has no tokens")
                stats = token_stats(first[0], logits, self.n_vocab, 0, self._piece)
                result[candidate] = stats.logprob
            return result


def _common_prefix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
