"""The worker process: loads the model once, runs what the page's process sends, and streams
each run's trace back as deltas (see protocol.py).

Up to `config.engine_concurrency()` jobs are in flight at once, a slot each. Against model
servers (LAB_ENGINE_URL) each slot is an engine of its own, round-robin over the servers as
`lab eval --concurrency` does, and a Scaling sweep takes every slot and keeps that many runs
in flight itself. On a local model each slot is a lane of one shared decoder
(lab.engine.shared): the jobs' sequences are decoded together in the same batches, and a
sweep takes one lane, so that a class's single runs are not held behind one student's sweep.
With one slot (the default on a local model) jobs run one at a time. A "load" message loads a
model ahead of the first run (the app's first page view), so that run starts decoding at once.

Threads here: the main thread takes jobs in order, loads models and runs a local model's jobs
when they run one at a time (the engine's decode loop); a job beside others runs in a thread
of its own (a local model's lanes then decode in the shared decoder's thread); a reader takes
messages (a cancel reaches a running job at once); a publisher sends the changed nodes every
PUBLISH_S.
The process ends when its parent does (PR_SET_PDEATHSIG, and a check of the parent's pid) or
when the connection closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from lab.engine.base import Engine
from lab.worker.protocol import DeltaTracker, ModelInfo, RunResult

log = logging.getLogger(__name__)
PUBLISH_S = 0.5  # how often a running trace's changes go to the page
PARENT_CHECK_S = 1.0
DRAIN_S = 30.0  # how long a closing worker waits for each job in flight to end

EngineFactory = Callable[[str], Engine]  # model name -> engine


@dataclass
class _Job:
    id: int
    kind: str  # "runs", "sweep" or "load"
    model: str
    payload: tuple[Any, ...]
    cancel: threading.Event = field(default_factory=threading.Event)


class _Live:
    """A run being published: its trace and what changed in it."""

    def __init__(self, job: int, index: int):
        self.job, self.index = job, index
        self.trace: Any = None
        self.tracker = DeltaTracker()
        self.lock = threading.Lock()


def serve(conn: Connection, parent_pid: int) -> None:
    """The worker's main function: its first message is the engine factory."""
    _die_with_parent()
    logging.basicConfig(level=logging.WARNING, format="lab worker: %(message)s")
    try:
        kind, _, factory = conn.recv()
    except (EOFError, OSError):
        return
    Worker(conn, factory or load_engine, parent_pid).run()


def main(argv: list[str]) -> None:
    """`python -m lab.worker.server FD PARENT_PID` (started by WorkerClient)."""
    serve(Connection(int(argv[0])), int(argv[1]))


class Worker:
    def __init__(self, conn: Connection, engine_factory: EngineFactory, parent_pid: int,
                 concurrency: int | None = None):
        from lab import config

        self.conn = conn
        self.factory = engine_factory
        self.parent_pid = parent_pid
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.cancels: dict[int, threading.Event] = {}
        self.send_lock = threading.Lock()
        self.lives: dict[tuple[int, int], _Live] = {}
        self.lives_lock = threading.Lock()
        self.engine: Engine | None = None  # the loaded model (a local model's jobs run on it)
        self.model: ModelInfo | None = None
        self.loading: str | None = None  # the model being loaded now
        self.judge: tuple[str, Engine] | None = None  # the judge model's name and engine
        self.judge_lock = threading.Lock()  # held by a job that uses the judge
        self.stopping = threading.Event()
        self.ledger: Any = None
        self.ledger_lock = threading.Lock()
        # jobs in flight on model servers: a slot each (a sweep takes them all)
        self.concurrency = max(1, concurrency or config.engine_concurrency())
        self.free_slots = list(range(self.concurrency))
        self.slots_changed = threading.Condition()
        self.slot_engines: dict[int, tuple[str, Engine]] = {}
        self.in_flight: list[threading.Thread] = []
        # a local model's lanes (made on its first job beside another)
        self.local_lanes = min(self.concurrency, config.MAX_LOCAL_LANES)
        self.shared: Any = None  # lab.engine.shared.SharedDecoder over self.engine
        self.shared_lock = threading.Lock()  # two jobs' threads may ask for lanes at once
        self.warm = False  # whether warm_up() has run in this process

    # -- the threads --------------------------------------------------------------------
    def run(self) -> None:
        threading.Thread(target=self._read, name="worker-read", daemon=True).start()
        threading.Thread(target=self._publish, name="worker-publish", daemon=True).start()
        try:
            while (job := self.jobs.get()) is not None:
                self._dispatch(job)
        finally:
            for thread in self.in_flight:  # cancelled by the reader: they end soon
                thread.join(DRAIN_S)
            self.stopping.set()
            self._close_shared()
            engines = [self.engine, self.judge[1] if self.judge else None,
                       *(engine for _, engine in self.slot_engines.values())]
            for engine in engines:
                if engine is not None:
                    with contextlib.suppress(Exception):
                        engine.close()

    def _read(self) -> None:
        try:
            while True:
                if not self.conn.poll(PARENT_CHECK_S):
                    if os.getppid() != self.parent_pid:
                        break  # the page's process is gone
                    continue
                message = self.conn.recv()
                if not self._handle(message):
                    break
        except (EOFError, OSError):
            pass
        for event in list(self.cancels.values()):
            event.set()
        self.jobs.put(None)

    def _handle(self, message: tuple[Any, ...]) -> bool:
        kind, job_id, *payload = message
        if kind == "stop":
            return False
        if kind == "cancel":
            if job_id in self.cancels:
                self.cancels[job_id].set()
        elif kind == "status":
            self.send("status", 0, self.model, self.loading)
        elif kind in ("runs", "sweep", "load"):
            job = _Job(job_id, kind, payload[0], tuple(payload[1:]))
            if kind != "load":
                self.cancels[job_id] = job.cancel
            self.jobs.put(job)
        return True

    def _publish(self) -> None:
        while not self.stopping.wait(PUBLISH_S):
            self.flush()

    def flush(self, live: _Live | None = None) -> None:
        """Send what changed in `live` (default: in every run being published)."""
        with self.lives_lock:
            lives = [live] if live is not None else list(self.lives.values())
        for each in lives:
            if each.trace is None:
                continue
            with each.lock:  # computed and sent in one go: deltas arrive in order
                delta = each.tracker.delta(each.trace)
                if delta.nodes or delta.problem is not None:
                    self.send("delta", each.job, each.index, delta)

    def send(self, *message: Any) -> None:
        with self.send_lock:
            try:
                self.conn.send(message)
            except (OSError, EOFError, BrokenPipeError):
                self.stopping.set()

    # -- jobs ---------------------------------------------------------------------------
    def _dispatch(self, job: _Job) -> None:
        """Start `job`: a load or a local model's job here, to the end; a server's job in a
        thread of its own once enough slots are free (jobs start in the order they came)."""
        if job.kind == "load":
            self._preload(job)
            return
        if not self._spread(job) or job.cancel.is_set():
            self._do(job)
            return
        # connected and measured once, here, so the sidebar has the server's speed
        loaded = self.model is not None and self.model.name == job.model
        if not loaded and self._load_beside_others(job) is None:
            self.cancels.pop(job.id, None)
            return
        if self._local(job.model):  # one lane each, a sweep too
            slots = self._take_slots(1, below=self.local_lanes)
        else:
            slots = self._take_slots(self.concurrency if job.kind == "sweep" else 1)
        thread = threading.Thread(target=self._do_in_slots, args=(job, slots),
                                  name=f"worker-job-{job.id}", daemon=True)
        self.in_flight = [t for t in self.in_flight if t.is_alive()] + [thread]
        thread.start()

    def _spread(self, job: _Job) -> bool:
        """Whether `job` runs beside others: with more than one slot (on a model server, or
        a lane of a local model)."""
        return self.concurrency > 1 and (self.local_lanes > 1 or not self._local(job.model))

    @staticmethod
    def _local(model: str) -> bool:
        from lab.engine.openai import is_server_url

        return not is_server_url(model)

    def _load_beside_others(self, job: _Job) -> Engine | None:
        """Load `job.model` once every job in flight ended (they may be on the old model)."""
        every = self._take_slots(self.concurrency)
        try:
            if self.model is not None and self.model.name == job.model:
                return self.engine  # loaded by a job before this one
            return self._engine(job)
        finally:
            self._give_slots(every)

    def _take_slots(self, count: int, below: int | None = None) -> list[int]:
        """`count` free slots (numbered below `below`), waiting until there are."""
        def usable() -> list[int]:
            return [s for s in self.free_slots if below is None or s < below]

        with self.slots_changed:
            self.slots_changed.wait_for(lambda: len(usable()) >= count)
            taken = usable()[:count]
            self.free_slots = [s for s in self.free_slots if s not in taken]
            return taken

    def _give_slots(self, slots: list[int]) -> None:
        with self.slots_changed:
            self.free_slots = sorted(self.free_slots + slots)
            self.slots_changed.notify_all()

    def _do_in_slots(self, job: _Job, slots: list[int]) -> None:
        try:
            self._do(job, slots)
        finally:
            self._give_slots(slots)

    def _lane(self, slot: int) -> Engine:
        """Lane `slot` of the loaded local model's shared decoder (made on first use)."""
        from lab.engine.llamacpp import LlamaCppEngine
        from lab.engine.shared import SharedDecoder

        with self.shared_lock:
            if self.shared is None or self.shared.engine is not self.engine:
                self._close_shared()
                if not isinstance(self.engine, LlamaCppEngine):
                    assert self.engine is not None
                    return self.engine  # a scripted engine (tests): one for every slot
                self.shared = SharedDecoder(self.engine, self.local_lanes)
            lane: Engine = self.shared.lanes[slot]
            return lane

    def _close_shared(self) -> None:
        if self.shared is not None:
            with contextlib.suppress(Exception):
                self.shared.close()
            self.shared = None

    def _slot_engine(self, slot: int, model: str) -> Engine:
        """Slot `slot`'s engine: on the server `model`, or on the one after it in
        LAB_ENGINE_URL, round-robin (they must serve the same model); a lane of the shared
        decoder on a local model."""
        from lab import config

        if self._local(model):
            return self._lane(slot)

        urls = config.engine_urls()
        if model in urls:
            start = urls.index(model)
            urls = urls[start:] + urls[:start]
        else:
            urls = [model]
        url = urls[slot % len(urls)]
        have = self.slot_engines.get(slot)
        if have is not None and have[0] == url:
            return have[1]
        if have is not None:
            with contextlib.suppress(Exception):
                have[1].close()
            del self.slot_engines[slot]
        engine = self.factory(url)
        self.slot_engines[slot] = (url, engine)
        return engine

    def _do(self, job: _Job, slots: list[int] | None = None) -> None:
        try:
            if job.cancel.is_set():
                self.send("done", job.id, None, "stopped before it started")
                return
            if slots is not None:
                engines = [self._slot_engine(slot, job.model) for slot in slots]
            else:
                engine = self._engine(job)
                if engine is None:
                    return
                engines = [engine]
            if job.kind == "runs":
                self._runs(job, engines[0])
            else:
                self._sweep(job, engines)
        except Exception as exc:  # reported in the page; details in the worker's log
            log.exception("job %s failed", job.id)
            self.send("done", job.id, None, f"{type(exc).__name__}: {exc}")
        finally:
            self.cancels.pop(job.id, None)

    def _preload(self, job: _Job) -> None:
        """Load `job.model` now, before any run asks for it (the client's `preload`)."""
        try:
            if (self.model is not None and self.model.name == job.model
                    and self.engine is not None):
                self.send("model", job.id, self.model, None)  # loaded already
            elif self._spread(job):
                self._load_beside_others(job)  # the lanes' jobs may be on the old model
            else:
                self._engine(job)
        except Exception:  # said in the page by the first run that needs the model
            log.exception("loading %s failed", job.model)
        if not self.warm:
            warm_up()  # after the model is reported loaded: a run sent meanwhile queues
            self.warm = True

    def _engine(self, job: _Job) -> Engine | None:
        if self.model is not None and self.model.name == job.model and self.engine is not None:
            return self.engine
        if self.engine is not None:
            self._close_shared()
            self.engine.close()
            self.engine, self.model = None, None
        self.send("phase", job.id, -1, "loading")
        self.send("loading", 0, job.model)
        self.loading = job.model
        try:
            start = time.perf_counter()
            engine = self.factory(job.model)
            load_s = time.perf_counter() - start
            self.engine = engine
            self.model = ModelInfo(job.model, load_s, measure_speed(engine), engine_threads(engine))
        except Exception as exc:  # a missing or corrupt GGUF: said in the page
            self.send("model", job.id, None, f"{type(exc).__name__}: {exc}"
                      if not _is_user_error(exc) else str(exc))
            self.send("done", job.id, None, f"the model {job.model} could not be loaded: {exc}")
            return None
        finally:
            self.loading = None
        self.send("model", job.id, self.model, None)
        return engine

    def _runs(self, job: _Job, engine: Engine) -> None:
        requests: list[Any] = list(job.payload[0])
        judge_name: str | None = job.payload[1] if len(job.payload) > 1 else None
        # the judge's engine is one for the worker: a job that needs it has it to itself
        uses_judge = judge_name is not None and _needs_judge(requests)
        with self.judge_lock if uses_judge else contextlib.nullcontext():
            self._runs_in_turn(job, engine, requests, judge_name)

    def _runs_in_turn(self, job: _Job, engine: Engine, requests: list[Any],
                      judge_name: str | None) -> None:
        from lab.execution import cannot_start

        reasons = [cannot_start(engine, request, has_judge=bool(judge_name))
                   for request in requests]
        judge = self._judge(judge_name, requests) if not any(reasons) else None
        if isinstance(judge, str):  # the judge model could not be loaded
            reasons = [judge] * len(requests)
            judge = None
        self.send("refused", job.id, reasons)
        if any(reasons):
            self.send("done", job.id, None, None)
            return
        for index, request in enumerate(requests):
            if job.cancel.is_set():
                self.send("phase", job.id, index, "skipped")
                continue
            self.send("phase", job.id, index, "running")
            self.send("run", job.id, index, self._run_one(job, index, request, engine, judge))
        self.send("done", job.id, None, None)

    def _judge(self, name: str | None, requests: list[Any]) -> Engine | str | None:
        """The judge engine when a request needs one (loaded once, kept while the same judge
        is asked for), or why it could not be loaded."""
        if name is None or not _needs_judge(requests):
            return None
        if self.judge is not None and self.judge[0] == name:
            return self.judge[1]
        if self.judge is not None:
            with contextlib.suppress(Exception):
                self.judge[1].close()
            self.judge = None
        try:
            self.judge = (name, self.factory(name))
        except Exception as exc:  # a missing model or an unreachable server: said in the page
            return f"The judge model {name} could not be loaded: {exc}"
        return self.judge[1]

    def _run_one(self, job: _Job, index: int, request: Any, engine: Engine,
                 judge: Engine | None = None) -> RunResult:
        from lab.execution import execute
        from lab.strategies.params import ParamError
        from lab.trace import EventKind

        live = _Live(job.id, index)
        with self.lives_lock:
            self.lives[job.id, index] = live

        def on_event(event: Any) -> None:
            with live.lock:
                live.trace = event.trace
                live.tracker.touch(event.node, whole=event.kind == EventKind.NODE_UPDATED)

        try:
            outcome = execute(request, engine, self._ledger(), on_event, job.cancel, judge)
        except ParamError as exc:
            return RunResult(None, None, None, str(exc))
        finally:
            self.flush(live)
            with self.lives_lock:
                self.lives.pop((job.id, index), None)
        return RunResult(outcome.trace.to_dict(), outcome.run_id, outcome.save_error, None)

    def _sweep(self, job: _Job, engines: list[Engine]) -> None:
        """A sweep on `engines`, one run in flight on each (a local model: one engine)."""
        from lab.evaluation import run_sweep

        experiment, cells = job.payload
        result = run_sweep(cells, engines, self._ledger(), experiment,
                           on_progress=lambda p: self.send("progress", job.id, p),
                           cancel=job.cancel)
        self.send("done", job.id, result, None)

    def _ledger(self) -> Any:
        """The ledger, opened on the first run (the environment names it)."""
        from lab import config
        from lab.store.ledger import Ledger

        with self.ledger_lock:
            if self.ledger is None:
                self.ledger = Ledger(config.database_url(), busy_timeout_s=10.0)
            return self.ledger


def _needs_judge(requests: list[Any]) -> bool:
    """Whether a request's strategy asks the judge model (settings it refuses: no)."""
    from lab.strategies.registry import get_strategy

    def needs(request: Any) -> bool:
        try:
            strategy = get_strategy(request.strategy)
            return bool(strategy.needs_judge(strategy.validate(request.params)))
        except Exception:  # refused before the run, with its reason (cannot_start)
            return False

    return any(needs(request) for request in requests)


# -- loading ----------------------------------------------------------------------------
def load_engine(name: str) -> Engine:
    """The model server at `name` (an http(s) address), else the registry model or GGUF path
    `name` on llama.cpp (threads: LAB_THREADS, else every core, as for `lab solve`)."""
    from lab.engine.openai import OpenAICompatibleEngine, is_server_url

    if is_server_url(name):
        return OpenAICompatibleEngine(name).connect()
    from lab.engine.llamacpp import LlamaCppEngine
    from lab.models import resolve_model_path

    return LlamaCppEngine(resolve_model_path(name))


def engine_threads(engine: Engine) -> int:
    """llama.cpp's thread count of `engine` (0 for an engine that has none)."""
    from lab import config

    options = getattr(engine, "options", None)
    if options is None:
        return 0
    return int(getattr(options, "n_threads", None) or config.n_threads())


def measure_speed(engine: Engine) -> float | None:
    """Generated tokens per second on a short greedy completion."""
    from lab.engine.base import SamplingParams

    prompt = "Count from one to twenty in words: one, two, three,"
    generation = engine.generate(prompt, 1, SamplingParams(temperature=0.0, max_tokens=24))
    if generation.generate_s <= 0 or not generation.completion_tokens:
        return None
    return generation.completion_tokens / generation.generate_s


def warm_up() -> None:
    """Import and run once what every run needs besides the model: the strategies' registry,
    grading, tracing, numpy's random generators. On its first use that takes 0.3-0.4 s
    (measured on the 2-core AMD EPYC), which the first Run after a preload would otherwise
    spend before its first token."""
    with contextlib.suppress(Exception):  # a warm-up that fails costs the first run its time
        warm_up_run()


def warm_up_run() -> Any:
    """A self-consistency run of two chains on a scripted engine (no model token decoded),
    stored nowhere; its outcome."""
    from lab.engine.scripted import ScriptedEngine
    from lab.execution import RunRequest, execute
    from lab.tasks.problem import Problem

    problem = Problem("warm-up", "What is 1 + 1?", gold="2", source="warm-up")
    engine = ScriptedEngine("The answer is \\boxed{2}.")
    return execute(RunRequest("self-consistency", problem, {"n": 2}), engine, None)


def _is_user_error(exc: Exception) -> bool:
    from lab.engine.base import EngineError
    from lab.models import ModelError

    return isinstance(exc, ModelError | EngineError)


def _die_with_parent() -> None:
    """Ask Linux to end this process when its parent ends, however the parent ends."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


if __name__ == "__main__":
    main(sys.argv[1:])
