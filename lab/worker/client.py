"""The page's side of the worker: start it, send it runs and sweeps, mirror what comes back.

One `WorkerClient` per Streamlit server (held with st.cache_resource) serves every session:
jobs queue in the worker, so two pages never load two engines. A job handle has the shape
the pages already draw: `WorkerBatch` looks like `runner.RunBatch` (runs with a growing
trace, `cancel`, `done`, `stop()`, `wait()`), `WorkerSweep` like `scaling.SweepJob`.

`preload` starts the worker and loads a model in it without waiting (the app does it at the
first page view), so the first run starts decoding at once; a run sent while it loads waits
for it, its phase "loading". Against model servers the worker runs several jobs at once
(`config.engine_concurrency()`); a local model's run one at a time.

A worker that dies (killed, out of memory, a llama.cpp abort) is noticed when its
connection closes: its unfinished jobs end with one sentence saying so, its runs are marked
`interrupted` in the ledger, and the next job starts a fresh worker.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from lab import config
from lab.engine.openai import is_server_url
from lab.evaluation.sweep import Cell, SweepProgress, SweepResult
from lab.execution import RunRequest
from lab.trace import Trace, TraceStatus
from lab.worker.protocol import ModelInfo, RunResult, TraceDelta, apply_delta
from lab.worker.server import EngineFactory

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0
STATUS_TIMEOUT_S = 10.0


class RemoteCancel(threading.Event):
    """A cancel flag whose `set()` also tells the worker."""

    def __init__(self, send: Callable[[], None]):
        super().__init__()
        self._send = send

    def set(self) -> None:
        if not self.is_set():
            super().set()
            self._send()


@dataclass(eq=False)
class WorkerRun:
    spec: RunRequest
    trace: Trace | None = None  # the mirror of the worker's trace, then the finished one
    run_id: int | None = None
    phase: str = "queued"  # queued, waiting, loading, running, done
    error: str | None = None
    save_error: str | None = None
    events: int = 0  # deltas applied
    started: float | None = None  # time.monotonic() of the first delta
    version: int = 0  # bumped on every change: the live view redraws what changed

    @property
    def done(self) -> bool:
        return self.phase == "done"


class _Job:
    def __init__(self, client: WorkerClient, job_id: int):
        self.id = job_id
        self.cancel = RemoteCancel(lambda: client.cancel(job_id))
        self.finished = threading.Event()
        self.error: str | None = None

    @property
    def running(self) -> bool:
        return not self.finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    def stop(self) -> None:
        self.cancel.set()


class WorkerBatch(_Job):
    """Runs done one after another in the worker (one for the Playground, more for Compare)."""

    def __init__(self, client: WorkerClient, job_id: int, specs: Sequence[RunRequest],
                 page: str):
        super().__init__(client, job_id)
        self.page = page
        self.runs = [WorkerRun(spec) for spec in specs]

    @property
    def done(self) -> bool:
        return self.finished.is_set() and all(r.done for r in self.runs)

    def end(self, error: str | None) -> None:
        for run in self.runs:
            if not run.done:
                run.error = run.error or error
                if run.trace is not None and run.trace.status == TraceStatus.RUNNING:
                    run.trace.status = TraceStatus.INTERRUPTED
                run.phase = "done"
                run.version += 1
        self.error = error
        self.finished.set()


class WorkerSweep(_Job):
    """A scaling sweep run by the worker; progress as it goes."""

    def __init__(self, client: WorkerClient, job_id: int, experiment: str, cells: list[Cell]):
        super().__init__(client, job_id)
        self.experiment = experiment
        self.cells = cells
        self.progress: SweepProgress | None = None
        self.result: SweepResult | None = None

    def end(self, error: str | None) -> None:
        self.error = error
        self.finished.set()


@dataclass
class _Process:
    process: Any
    conn: Connection
    jobs: dict[int, _Job] = field(default_factory=dict)


class WorkerClient:
    def __init__(self, engine_factory: EngineFactory | None = None):
        _clients.add(self)
        self._factory = engine_factory
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._worker: _Process | None = None
        self._next_id = 1
        self.model: ModelInfo | None = None
        self.model_error: str | None = None
        self.loading: str | None = None  # the model the worker is loading now
        self._status_reply = threading.Event()
        self.last_death: str | None = None  # the sentence about the last worker that died

    # -- jobs ---------------------------------------------------------------------------
    def submit_runs(self, model: str, specs: Sequence[RunRequest], page: str,
                    judge: str | None = None) -> WorkerBatch:
        """Run `specs` on `model` (a name, a path or a server's URL), one after another; `judge`
        names the second model of the judge scorer (loaded by the worker when a run needs it)."""
        batch = WorkerBatch(self, self._new_id(), specs, page)
        phase = ("waiting" if self._full(model) else
                 "loading" if self.loading == model and self.alive else "queued")
        for run in batch.runs:
            run.phase = phase
        self._submit(batch, ("runs", batch.id, model, list(specs), judge))
        return batch

    def submit_sweep(self, model: str, experiment: str, cells: list[Cell]) -> WorkerSweep:
        sweep = WorkerSweep(self, self._new_id(), experiment, cells)
        self._submit(sweep, ("sweep", sweep.id, model, experiment, cells))
        return sweep

    def load(self, model: str) -> WorkerBatch:
        """Load `model` in the worker now (a job with no runs: wait() until it is loaded)."""
        batch = WorkerBatch(self, self._new_id(), [], "load")
        self._submit(batch, ("runs", batch.id, model, []))
        return batch

    def preload(self, model: str) -> None:
        """Start loading `model` in the worker (starting the worker if none runs) and return at
        once; `loading` names it until it is loaded. Nothing is sent when the worker has it
        loaded or loading already."""
        if self.alive and model in (self.loading, self.model.name if self.model else None):
            return
        with self._lock:
            if self._worker is None:
                self._start()
        self.loading = model
        self._send(("load", 0, model))

    def status(self, timeout: float = STATUS_TIMEOUT_S) -> ModelInfo | None:
        """Ask the worker which model it has loaded (None: none yet, or no worker running);
        `model` and `loading` are refreshed from its answer. Starts no worker."""
        if not self.alive:
            return None
        self._status_reply.clear()
        self._send(("status", 0))
        self._status_reply.wait(timeout)
        return self.model

    def cancel(self, job_id: int) -> None:
        self._send(("cancel", job_id))

    def running_batch(self, page: str) -> WorkerBatch | None:
        """The newest unfinished batch started from `page` (a reloaded page reattaches)."""
        for job in reversed(self._unfinished()):
            if isinstance(job, WorkerBatch) and job.page == page:
                return job
        return None

    @property
    def busy(self) -> bool:
        return bool(self._unfinished())

    def _full(self, model: str) -> bool:
        """Whether a job on `model` sent now waits for others to finish: as many run at once
        as `config.engine_concurrency()` says (a sweep takes every slot of model servers, one
        lane of a local model, which has at most MAX_LOCAL_LANES)."""
        server = is_server_url(model)
        width = config.engine_concurrency()
        if not server:
            width = min(width, config.MAX_LOCAL_LANES)
        taken = sum(width if isinstance(job, WorkerSweep) and server else 1
                    for job in self._unfinished())
        return taken >= width

    def _unfinished(self) -> list[_Job]:
        """The jobs the worker has not finished, oldest first (a job leaves the worker's map
        when it ends, so finished runs are not kept here)."""
        worker = self._worker
        return [job for job in list(worker.jobs.values()) if job.running] if worker else []

    @property
    def pid(self) -> int | None:
        worker = self._worker
        return worker.process.pid if worker is not None else None

    @property
    def alive(self) -> bool:
        worker = self._worker
        return worker is not None and worker.process.poll() is None

    def close(self) -> None:
        """Stop the worker (its running job is cancelled; stored as interrupted)."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is None:
            return
        for job in worker.jobs.values():
            job.cancel.set()
        try:
            with self._send_lock:
                worker.conn.send(("stop", 0))
        except (OSError, ValueError):
            pass
        try:
            worker.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(STOP_TIMEOUT_S)

    # -- the process --------------------------------------------------------------------
    def _new_id(self) -> int:
        with self._lock:
            job_id, self._next_id = self._next_id, self._next_id + 1
            return job_id

    def _submit(self, job: _Job, message: tuple[Any, ...]) -> None:
        with self._lock:
            worker = self._worker if self._worker is not None else self._start()
            worker.jobs[job.id] = job
        self._send(message)

    def _send(self, message: tuple[Any, ...]) -> None:
        worker = self._worker
        if worker is None:
            return
        try:
            with self._send_lock:
                worker.conn.send(message)
        except (OSError, ValueError):
            pass  # the reader notices the dead worker and ends its jobs

    def _start(self) -> _Process:
        """A fresh interpreter (`python -m lab.worker.server FD PID`), not a fork of this one:
        nothing of the page's process (threads, Streamlit) comes along, and the module that
        started this one is not imported again. It is started from the thread that then
        reads from it, for as long as it lives: Linux's parent-death signal, which ends the
        worker when this process dies, fires when the *thread* that started it ends, and a
        Streamlit script thread ends after every rerun."""
        started: list[_Process] = []
        ready = threading.Event()
        threading.Thread(target=self._own, args=(started, ready), name="lab-worker",
                         daemon=True).start()
        ready.wait()
        if not started:
            raise RuntimeError("the run worker could not be started")
        self._worker = started[0]
        return started[0]

    def _own(self, started: list[_Process], ready: threading.Event) -> None:
        try:
            started.append(self._spawn())
        finally:
            ready.set()
        if started:
            self._read(started[0])

    def _spawn(self) -> _Process:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        # the engine factory is pickled by reference: the worker imports what this process can
        paths = [p for p in sys.path if p and os.path.isdir(p)]
        env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        process = subprocess.Popen(
            [sys.executable, "-m", "lab.worker.server", str(theirs.fileno()), str(os.getpid())],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        conn = Connection(ours.detach())
        conn.send(("factory", 0, self._factory))
        return _Process(process, conn)

    def _read(self, worker: _Process) -> None:
        try:
            while True:
                self._dispatch(worker, worker.conn.recv())
        except (EOFError, OSError):
            pass
        except Exception:  # a message we cannot apply must not leave the page waiting
            log.exception("reading from the worker failed")
        self._worker_ended(worker)

    def _dispatch(self, worker: _Process, message: tuple[Any, ...]) -> None:
        kind, job_id, *payload = message
        if kind == "status":
            self.model = payload[0]
            self.loading = payload[1] if len(payload) > 1 else None
            self._status_reply.set()
            return
        if kind == "loading":
            self.loading = payload[0]
            return
        job = worker.jobs.get(job_id)
        if kind == "model":
            self.model, self.model_error = payload
            self.loading = None
        elif isinstance(job, WorkerBatch):
            self._batch_message(job, kind, payload)
        elif isinstance(job, WorkerSweep):
            if kind == "progress":
                job.progress = payload[0]
            elif kind == "done":
                job.result = payload[0]
        if kind == "done" and job is not None:
            job.end(payload[1])  # type: ignore[attr-defined]
            worker.jobs.pop(job_id, None)

    @staticmethod
    def _batch_message(batch: WorkerBatch, kind: str, payload: list[Any]) -> None:
        if kind == "refused":
            for run, reason in zip(batch.runs, payload[0], strict=False):
                if reason:
                    run.error = f"This run cannot start. {reason}"
                    run.phase = "done"
            return
        if kind == "phase" and payload[0] < 0:  # the whole job: e.g. loading the model
            for run in batch.runs:
                if not run.done:
                    run.phase = payload[1]
                    run.version += 1
            return
        if kind == "phase":
            run = batch.runs[payload[0]]
            if payload[1] == "skipped":
                run.error, run.phase = "stopped before it started", "done"
            else:
                run.phase = payload[1]
                for later in batch.runs[payload[0] + 1:]:  # the model is loaded: they queue
                    if later.phase == "loading":
                        later.phase = "queued"
                        later.version += 1
        elif kind == "delta":
            run = batch.runs[payload[0]]
            delta: TraceDelta = payload[1]
            run.trace = apply_delta(run.trace, delta)
            run.events += 1
            if run.started is None:
                run.started = time.monotonic()
        elif kind == "run":
            run = batch.runs[payload[0]]
            result: RunResult = payload[1]
            if result.trace is not None:
                run.trace = Trace.from_dict(result.trace)
            run.run_id, run.save_error, run.error = result.run_id, result.save_error, result.error
            run.phase = "done"
        else:
            return
        run.version += 1

    def _worker_ended(self, worker: _Process) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(STOP_TIMEOUT_S)
        with self._lock:
            if self._worker is worker:
                self._worker = None
                self.loading = None
        unfinished = [job for job in worker.jobs.values() if job.running]
        if not unfinished:
            return
        code = worker.process.returncode
        how = (f"was killed (signal {-code})" if isinstance(code, int) and code < 0
               else f"exited with code {code}")
        self.last_death = (f"The model's worker process {how} (out of memory, killed, or a "
                           "llama.cpp crash); the run is stored as interrupted, and the next "
                           "run starts a fresh worker.")
        _recover_runs()
        for job in unfinished:
            job.end(self.last_death)  # type: ignore[attr-defined]


def _recover_runs() -> None:
    """Mark `interrupted` the ledger runs the dead worker left `running`."""
    from lab import config
    from lab.store.errors import LedgerError
    from lab.store.ledger import Ledger

    try:
        ledger = Ledger(config.database_url())
        try:
            ledger.recover_interrupted()
        finally:
            ledger.close()
    except LedgerError:
        log.exception("could not mark the dead worker's runs interrupted")


_clients: weakref.WeakSet[WorkerClient] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """The app is closing: no worker outlives it."""
    for client in list(_clients):
        client.close()
