"""Running strategies for the pages: in a worker thread, recorded in the ledger, stoppable.

Why a worker thread: Streamlit interrupts a running script at any widget action, so a run
inside the script thread could not be stopped cleanly (a Stop click would abort it mid-call
and leave its ledger row `running`). Here a worker thread runs the strategy with a
threading.Event as `cancel` through the one run path (`lab.execution`: run, grade, record
in the ledger); every TraceEvent bumps the run's counters; the page redraws the growing
trace from an `st.fragment(run_every=…)` (a throttled redraw) whose Stop button sets the
event. The strategy then ends `interrupted`, and the ledger stores it so. Runs keep going if
the user switches pages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lab import execution
from lab.engine.base import Engine
from lab.execution import RunRequest, cannot_start
from lab.store.ledger import Ledger
from lab.strategies.params import ParamError
from lab.trace import Trace, TraceEvent

log = logging.getLogger(__name__)

Phase = Literal["queued", "waiting", "running", "done"]


RunSpec = RunRequest  # what the pages ask to run
__all__ = ["LiveRun", "RunBatch", "RunSpec", "cannot_start", "execute"]


@dataclass(eq=False)
class LiveRun:
    spec: RunSpec
    trace: Trace | None = None  # the growing trace, shared with the worker
    run_id: int | None = None  # in the ledger
    phase: Phase = "queued"
    error: str | None = None  # why the run could not start or crashed
    save_error: str | None = None  # why the ledger could not store it
    events: int = 0
    started: float | None = None  # time.monotonic() of the first event

    @property
    def done(self) -> bool:
        return self.phase == "done"


def execute(run: LiveRun, engine: Engine, ledger: Ledger | None, cancel: threading.Event,
            slot: threading.Lock) -> None:
    """Run `run.spec` now, in this thread: wait for the model, run, grade, record."""
    run.phase = "waiting"
    if not _acquire(slot, cancel):
        run.error, run.phase = "stopped while waiting for the model", "done"
        return
    try:
        run.phase = "running"
        _run_recorded(run, engine, ledger, cancel)
    except Exception as exc:  # shown in the page; the details go to the log
        log.exception("run of %s failed", run.spec.strategy)
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        slot.release()
        run.phase = "done"


def _acquire(slot: threading.Lock, cancel: threading.Event) -> bool:
    while not slot.acquire(timeout=0.1):
        if cancel.is_set():
            return False
    return True


def _run_recorded(run: LiveRun, engine: Engine, ledger: Ledger | None,
                  cancel: threading.Event) -> None:
    spec = run.spec

    def on_event(event: TraceEvent) -> None:
        if run.started is None:
            run.started = time.monotonic()
        run.trace = event.trace
        run.events += 1

    request = RunRequest(spec.strategy, spec.problem, spec.params, spec.budget, spec.experiment)
    try:
        outcome = execution.execute(request, engine, ledger, on_event, cancel)
    except ParamError as exc:
        run.error = str(exc)
        return
    run.trace, run.run_id, run.save_error = outcome.trace, outcome.run_id, outcome.save_error


class RunBatch:
    """Runs done one after another by one worker thread (one for the Playground, two to four
    for Compare); `stop()` cancels the current run and skips the rest."""

    def __init__(self, specs: Sequence[RunSpec], engine: Engine, ledger: Ledger | None,
                 slot: threading.Lock):
        self.runs = [LiveRun(spec) for spec in specs]
        self.cancel = threading.Event()
        self._engine, self._ledger, self._slot = engine, ledger, slot
        self._thread = threading.Thread(target=self._work, name="lab-run", daemon=True)

    def start(self) -> RunBatch:
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return not self._thread.is_alive() and all(r.done for r in self.runs)

    def stop(self) -> None:
        self.cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.done

    def _work(self) -> None:
        for run in self.runs:
            if self.cancel.is_set():
                run.error, run.phase = "stopped before it started", "done"
                continue
            execute(run, self._engine, self._ledger, self.cancel, self._slot)
