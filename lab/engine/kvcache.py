"""The sequences that live in one llama.cpp context, and what each holds in the KV cache.

With a unified KV cache, copying a sequence only tags the cached cells with another sequence
id, so a prompt decoded once serves any number of samples, and a partial solution decoded
in one request is reused by the next request that extends it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import llama_cpp as ll

from lab.engine.base import EngineError

# (sequence, first position, end position, whether its last positions need logits)
Span = tuple[int, int, int, bool]
# (sequence, position, token, logits wanted)
BatchItem = tuple[int, int, int, bool]


class SequenceCache:
    """Sequence ids first_id .. first_id + n_seq_max - 1 of a context (all of them unless it
    is one lane of a context shared by several, see lab.engine.shared); the ids this class
    hands out and takes are counted from first_id."""

    def __init__(self, ctx: ll.llama_context_p, n_batch: int, n_seq_max: int,
                 first_id: int = 0, shared: bool = False):
        self._ctx = ctx
        self._mem = ll.llama_get_memory(ctx)
        self.n_batch = n_batch
        self.n_seq_max = n_seq_max
        self.first_id = first_id
        self.shared = shared  # other lanes' sequences live in the context too
        self._batch = ll.llama_batch_init(n_batch, 0, first_id + n_seq_max)
        self.cached: dict[int, list[int]] = {}  # seq id -> tokens whose KV is in the cache
        self.logit_rows: dict[tuple[int, int], int] = {}  # (seq, pos) -> row of the last decode

    @property
    def ctx(self) -> ll.llama_context_p:
        """The llama.cpp context these sequences live in."""
        return self._ctx

    @property
    def n_ctx(self) -> int:
        return ll.llama_n_ctx(self._ctx)

    def free(self) -> None:
        ll.llama_batch_free(self._batch)

    def prepare(self, targets: list[list[int]], logits_from: list[int]) -> tuple[int, float]:
        """Put each target's tokens into the cache as sequence 0..K-1, reusing what is cached.

        Target k is decoded from at most logits_from[k] on, so that the logits of every token
        from there on are available (at least its last token is always decoded). Returns
        the tokens decoded and the seconds it took."""
        started = time.perf_counter()
        k_count = len(targets)
        if k_count > self.n_seq_max // 2:
            raise EngineError(f"{k_count} sequences at once is more than this engine allows "
                              f"({self.n_seq_max // 2}); ask for fewer samples")
        reuse = [self._best_cached(t, min(len(t) - 1, lf)) for t, lf in zip(targets, logits_from,
                                                                            strict=True)]
        old_ids = list(self.cached)
        # Move cached sources out of the way of the target ids 0..K-1.
        offset = self.n_seq_max // 2
        first = self.first_id
        for i, src in enumerate(old_ids):
            ll.llama_memory_seq_cp(self._mem, first + src, first + offset + i, -1, -1)
            ll.llama_memory_seq_rm(self._mem, first + src, -1, -1)
        moved = {src: offset + i for i, src in enumerate(old_ids)}
        for k, (source, length) in enumerate(reuse):
            if source is not None and length > 0:
                ll.llama_memory_seq_cp(self._mem, first + moved[source], first + k, 0, length)
        for tmp in moved.values():
            ll.llama_memory_seq_rm(self._mem, first + tmp, -1, -1)
        starts = [length for _, length in reuse]
        decoded = self._decode_shared_spans(targets, starts, logits_from)
        self.cached = {k: list(t) for k, t in enumerate(targets)}
        return decoded, time.perf_counter() - started

    def _best_cached(self, tokens: list[int], limit: int) -> tuple[int | None, int]:
        best: tuple[int | None, int] = (None, 0)
        for seq_id, cached in self.cached.items():
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
        spans: list[Span] = []
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
                    ll.llama_memory_seq_cp(self._mem, self.first_id + members[0],
                                           self.first_id + k, begin, shared)
                begin = shared
            for k in members:
                spans.append((k, begin, len(targets[k]), True))
                decoded += len(targets[k]) - begin
        self.logit_rows = self._decode_spans(spans, targets, logits_from)
        return decoded

    def _decode_spans(self, spans: list[Span], targets: list[list[int]],
                      logits_from: list[int] | None = None) -> dict[tuple[int, int], int]:
        """Decode token spans into their sequences in as few batches as fit; returns
        (seq, position) -> output row of the last batch for the positions whose logits were
        asked for. Logits are only asked for in the last batch."""
        items: list[BatchItem] = []
        for seq, begin, end, want in spans:
            first = end - 1 if logits_from is None else max(begin, min(logits_from[seq], end - 1))
            for pos in range(begin, end):
                items.append((seq, pos, targets[seq][pos], want and pos >= first))
        rows: dict[tuple[int, int], int] = {}
        n_batch = self.n_batch
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
            self.fill_batch(chunk)
            for row, (seq, pos, _, logits) in enumerate(chunk):
                if logits:
                    rows[(seq, pos)] = row
            self.decode()
        return rows

    def fill_batch(self, chunk: list[BatchItem]) -> None:
        batch = self._batch
        for i, (seq, pos, token, logits) in enumerate(chunk):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = self.first_id + seq
            batch.logits[i] = logits
        batch.n_tokens = len(chunk)

    def decode(self) -> None:
        status = ll.llama_decode(self._ctx, self._batch)
        if status == 1:
            self.reset()
            raise EngineError(f"the KV cache is full ({self.n_ctx} tokens shared by all "
                              "sequences): ask for fewer samples or fewer max tokens")
        if status != 0:
            self.reset()
            raise EngineError(f"llama_decode failed with status {status}")

    def reset(self) -> None:
        if self.shared:  # only this lane's sequences: the others' are still being decoded
            for seq in range(self.first_id, self.first_id + self.n_seq_max):
                ll.llama_memory_seq_rm(self._mem, seq, -1, -1)
        else:
            ll.llama_memory_clear(self._mem, True)
        self.cached = {}


def _common_prefix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
