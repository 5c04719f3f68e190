"""Runs of different sessions decoded together: one llama.cpp context shared by several
lanes, each lane an engine of its own for one run at a time.

A classroom's runs used to wait in one queue although a batched step of 16 sequences costs
little more than one of 8 on a CPU. Here each lane owns a range of the context's sequence
ids (its own prompt cache, so a search still extends its own sequences) and one decoder
thread does every llama.cpp call: it takes a lane's request at the next step (decodes its
prompt, samples its first tokens), then puts one token of every live sequence of every lane
into one batch per step (continuous batching), and hands each request its Generation when
its last sequence ends. Scoring calls run on the same thread between steps.

Each sequence keeps its seed and sampler, so a run samples what it would alone as long as
its logits are the same; they are not always: a batch holding other runs' sequences is
another shape for llama.cpp's kernels, and the KV cache holds the other lanes' cells, and
both change the order of llama.cpp's sums (see lab.engine.llamacpp), so a near-tie can go
the other way. `bench/classroom.py` counts how often.

Each lane has as much KV room as the engine alone (the context is lanes times as long), and
64 sequence ids as alone, so at most 4 lanes (llama.cpp has 256 sequence ids).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import llama_cpp as ll

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
from lab.engine.kvcache import SequenceCache
from lab.engine.llamacpp import LlamaCppEngine, TargetsRun
from lab.engine.sequence import SequenceState
from lab.engine.turn import TurnLock

T = TypeVar("T")
MAX_SEQUENCE_IDS = 256  # llama.cpp's LLAMA_MAX_SEQ


@dataclass
class _Request:
    lane: Lane
    targets: list[list[int]]
    prefixes: list[str]
    params: SamplingParams
    seeds: list[int]
    on_token: TokenCallback | None
    cancel: threading.Event | None
    done: Future[Generation] = field(default_factory=Future)
    run: TargetsRun | None = None  # set once admitted
    error: BaseException | None = None  # raised while sampling (a callback's), for the caller

    @property
    def states(self) -> list[SequenceState]:
        return self.run.states if self.run is not None else []


@dataclass
class _Call:
    """Work for the decoder thread between two steps (a scoring call)."""
    work: Callable[[], Any]
    done: Future[Any] = field(default_factory=Future)


def shared_lanes(engine: LlamaCppEngine, count: int) -> list[Engine]:
    """`count` engines decoded together over `engine`'s model, which closes with the last of
    them (one engine, the model itself, when count is 1)."""
    if count <= 1:
        return [engine]
    return list(SharedDecoder(engine, count, owns_engine=True).lanes)


class SharedDecoder:
    """`lanes` engines over one context of `engine`'s model, decoded together."""

    def __init__(self, engine: LlamaCppEngine, lanes: int, owns_engine: bool = False):
        ids_per_lane = engine.options.n_seq_max
        if lanes < 1 or lanes * ids_per_lane > MAX_SEQUENCE_IDS:
            raise EngineError(f"{lanes} lanes of {ids_per_lane} sequences do not fit llama.cpp's "
                              f"{MAX_SEQUENCE_IDS} sequence ids: use at most "
                              f"{MAX_SEQUENCE_IDS // ids_per_lane} lanes")
        self.engine = engine
        self.owns_engine = owns_engine  # closed with the last lane (lab eval's lanes)
        self._lanes_closed: set[int] = set()
        # each lane as much KV room as the engine alone has
        self._ctx = engine.new_context(lanes * ids_per_lane, lanes * engine.n_ctx)
        n_batch = engine.options.n_batch
        self.lanes = [Lane(self, SequenceCache(self._ctx, n_batch, ids_per_lane,
                                               first_id=i * ids_per_lane, shared=True), i)
                      for i in range(lanes)]
        # every lane's ids, for the steps that decode all lanes at once
        self._joint = SequenceCache(self._ctx, n_batch, lanes * ids_per_lane)
        self._inbox: queue.Queue[_Request | _Call | None] = queue.Queue()
        self._live: list[_Request] = []
        self._turn = TurnLock()  # the machine-wide queue of engines, held while decoding
        self.peak_sequences = 0  # most sequences in one step so far (for tests and benches)
        self.steps = 0
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="shared-decoder", daemon=True)
        self._thread.start()

    # -- what lanes call ----------------------------------------------------------------
    def submit(self, request: _Request) -> Generation:
        self._check_open()
        self._inbox.put(request)
        return request.done.result()

    def call(self, work: Callable[[], T]) -> T:
        self._check_open()
        item = _Call(work)
        self._inbox.put(item)
        return item.done.result()

    def _check_open(self) -> None:
        if self._closed:
            raise EngineError("the engine was closed")

    def lane_closed(self, lane: Lane) -> None:
        """A lane's owner is done with it; the last one closes the decoder it owns."""
        self._lanes_closed.add(lane.index)
        if self.owns_engine and len(self._lanes_closed) == len(self.lanes):
            self.close()
            self.engine.close()

    def close(self) -> None:
        """Stop the decoder thread (a request still live fails) and free the context."""
        if self._closed:
            return
        self._closed = True
        self._inbox.put(None)
        self._thread.join()
        with contextlib.suppress(queue.Empty):  # sent too late: told, not left waiting
            while True:
                item = self._inbox.get_nowait()
                if item is not None:
                    item.done.set_exception(EngineError("the engine was closed"))
        self._joint.free()
        for lane in self.lanes:
            lane.cache.free()
        ll.llama_free(self._ctx)

    # -- the decoder thread -------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            item = self._inbox.get()  # idle: nothing live, wait for work
            if item is None:
                return
            try:
                with self._turn:
                    if not self._work(item):
                        return
            except BaseException as exc:  # noqa: BLE001 - no caller may wait forever
                self._fail_live(EngineError(f"the shared decoder failed: {exc!r}"))

    def _work(self, first: _Request | _Call) -> bool:
        """Decode until nothing is live or waiting; False once closed."""
        pending: list[_Request | _Call | None] = [first]
        while True:
            for position, item in enumerate(pending):
                if item is None:
                    closed = EngineError("the engine was closed")
                    self._fail_live(closed)
                    for later in pending[position + 1:]:
                        if later is not None:
                            later.done.set_exception(closed)
                    return False
                self._take(item)
            if not self._live:
                return True
            self._step()
            pending = []
            with contextlib.suppress(queue.Empty):
                while True:
                    pending.append(self._inbox.get_nowait())

    def _take(self, item: _Request | _Call) -> None:
        if isinstance(item, _Call):
            try:
                item.done.set_result(item.work())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                item.done.set_exception(exc)
            return
        try:
            self._admit(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            item.lane.cache.reset()
            item.done.set_exception(exc)

    def _admit(self, request: _Request) -> None:
        """Decode the request's prompts into its lane's sequences and sample its first
        tokens (their logits are readable only until the next decode)."""
        request.run = self.engine.start_targets(request.lane.cache, request.targets,
                                                request.prefixes, request.params, request.seeds)
        self._live.append(request)
        self._sample(request, request.run.rows)
        self._retire()

    def _step(self) -> None:
        """One token of every live sequence of every lane in one batch, then each sampled."""
        items = [(request, state) for request in self._live for state in request.states
                 if state.finish_reason is None]
        self._joint.fill_batch([(request.lane.cache.first_id + state.seq_id, state.n_past,
                                 state.pending_token, True) for request, state in items])
        self.peak_sequences = max(self.peak_sequences, len(items))
        self.steps += 1
        try:
            self._joint.decode()  # a failure drops every lane's cells
        except EngineError as failed:
            self._fail_live(failed)
            return
        rows: dict[int, dict[int, int]] = {}
        for row, (request, state) in enumerate(items):
            state.mark_decoded()
            rows.setdefault(id(request), {})[state.seq_id] = row
        for request in self._live:
            self._sample(request, rows[id(request)])
        self._retire()

    def _sample(self, request: _Request, rows: dict[int, int]) -> None:
        live = [s for s in request.states if s.finish_reason is None]
        try:
            self.engine.sample_step(live, rows, request.params, request.on_token, self._ctx)
        except BaseException as exc:  # noqa: BLE001 - e.g. the caller's on_token raised
            for state in live:
                state.finish("failed")
            request.error = exc

    def _retire(self) -> None:
        """Hand every request whose sequences all ended (or that was cancelled) its result."""
        still: list[_Request] = []
        for request in self._live:
            live = [s for s in request.states if s.finish_reason is None]
            if live and request.lane.cancelled(request.cancel):
                for state in live:
                    state.finish("cancelled")
                live = []
            if live:
                still.append(request)
                continue
            assert request.run is not None
            request.run.keep_cached(request.lane.cache)
            if request.error is not None:
                request.done.set_exception(request.error)
                continue
            try:
                request.done.set_result(request.run.generation())
            except GenerationCancelled as cancelled:
                request.done.set_exception(cancelled)
        self._live = still

    def _fail_live(self, error: Exception) -> None:
        """A failed step: the context's memory is dropped, and every live request fails."""
        self._joint.reset()
        for lane in self.lanes:
            lane.cache.cached = {}
        for request in self._live:
            request.done.set_exception(error)
        self._live = []


class Lane(Engine):
    """One lane of a SharedDecoder: an engine for one job at a time, decoded with the other
    lanes' jobs. Tokens, prompts and the context length are the shared engine's."""

    def __init__(self, decoder: SharedDecoder, cache: SequenceCache, index: int):
        super().__init__()
        self.decoder = decoder
        self.cache = cache
        self.index = index
        base = decoder.engine
        self.model_name = base.model_name
        self.prompt_format = base.prompt_format
        self.lacks = base.lacks
        self.n_vocab = base.n_vocab

    @property
    def max_batch_sequences(self) -> int:
        return self.decoder.engine.max_batch_sequences

    @property
    def n_ctx(self) -> int:
        return self.decoder.engine.n_ctx

    def format_prompt(self, prompt: Prompt) -> str:
        return self.decoder.engine.format_prompt(prompt)

    def count_tokens(self, text: str) -> int:
        return self.decoder.engine.count_tokens(text)

    def cancelled(self, cancel: threading.Event | None) -> bool:
        return self._cancelled(cancel)

    def _run_targets(self, targets: list[list[int]], prefixes: list[str],
                     params: SamplingParams, seeds: list[int], on_token: TokenCallback | None,
                     cancel: threading.Event | None) -> Generation:
        return self.decoder.submit(_Request(self, targets, prefixes, params, seeds, on_token,
                                            cancel))

    def _continue(self, prompt: Prompt, prefixes: list[str], params: SamplingParams,
                  seeds: list[int], on_token: TokenCallback | None,
                  cancel: threading.Event | None) -> Generation:
        return self.decoder.engine.continue_in_groups(self._run_targets, prompt, prefixes,
                                                      params, seeds, on_token, cancel)

    def _generate_each(self, prompts: list[Prompt], params: SamplingParams, seeds: list[int],
                       cancel: threading.Event | None) -> Generation:
        return self.decoder.engine.each_in_groups(self._run_targets, prompts, params, seeds,
                                                  cancel)

    def score(self, prompt: Prompt, continuation: str | Sequence[int]) -> list[Token]:
        engine = self.decoder.engine
        tokens, read, decoded = self.decoder.call(
            lambda: engine.score_unlocked(prompt, continuation))
        if tokens:
            self._read_prompt(read, decoded)
        return tokens

    def next_token_logprobs(self, prompt: Prompt, candidates: Sequence[str]) -> dict[str, float]:
        engine = self.decoder.engine
        result, read, decoded = self.decoder.call(
            lambda: engine.next_token_logprobs_unlocked(prompt, candidates))
        self._read_prompt(read, decoded)
        return result

    def close(self) -> None:
        self.decoder.lane_closed(self)

    def forget_cache(self) -> None:
        def forget() -> None:
            self.cache.reset()
            self.decoder.engine.forget_scoring_cache()

        self.decoder.call(forget)
