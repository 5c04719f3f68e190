"""Running strategies for the pages: in a worker thread, recorded in the ledger, stoppable.

Why a worker thread: Streamlit interrupts a running script at any widget action, so a run
inside the script thread could not be stopped cleanly (a Stop click would abort it mid-call
and leave its ledger row `running`). Here a worker thread runs the strategy with a
threading.Event as `cancel`; every TraceEvent goes to the ledger's recorder and bumps the
run's counters; the page redraws the growing trace from an `st.fragment(run_every=…)` (a
throttled redraw) whose Stop button sets the event. The strategy then ends `interrupted`,
and the ledger stores it so. Runs keep going if the user switches pages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lab.engine.base import Engine
from lab.store.errors import LedgerError
from lab.store.ledger import Ledger
from lab.strategies.params import ParamError
from lab.prompts import solve_messages
from lab.strategies.registry import get_strategy, run_strategy
from lab.trace import Trace, TraceEvent
from lab.tasks.problem import Problem
from lab.ui.problems import grade_trace

log = logging.getLogger(__name__)

Phase = Literal["queued", "waiting", "running", "done"]
SEARCHES = ("beam-search", "tree-search")


@dataclass
class RunSpec:
    strategy: str
    problem: Problem
    params: dict[str, Any] = field(default_factory=dict)
    budget: int | None = None  # generated tokens; None: only the strategy's knobs bound it
    experiment: str | None = None


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
    recorder = ledger.recorder(experiment=spec.experiment) if ledger is not None else None

    def on_event(event: TraceEvent) -> None:
        if run.started is None:
            run.started = time.monotonic()
        run.trace = event.trace
        run.events += 1
        if recorder is not None:
            recorder(event)
            run.run_id = recorder.run_id

    try:
        trace = run_strategy(spec.strategy, spec.problem, engine, spec.params, spec.budget,
                             on_event, cancel)
    except ParamError as exc:
        run.error = str(exc)
        return
    trace.correct = grade_trace(trace)
    run.trace = trace
    if recorder is None:
        return
    run.run_id = recorder.run_id
    if recorder.error is not None:
        run.save_error = str(recorder.error)
    elif run.run_id is not None:
        try:
            ledger.finish_run(run.run_id, trace)  # type: ignore[union-attr] - set above
        except LedgerError as exc:
            run.save_error = str(exc)


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


# -- checks before a run ---------------------------------------------------------------------
def cannot_start(engine: Engine, spec: RunSpec) -> str | None:
    """Why the run cannot start (invalid params, a judge model the app lacks, too large for
    the model's context), else None."""
    strategy = get_strategy(spec.strategy)
    try:
        params = strategy.validate(spec.params)
    except ParamError as exc:
        return f"Invalid settings: {exc}."
    if "judge" in strategy.scorers_used(params):
        return ("The judge scorer needs a second model, which the app does not load: choose "
                "another scorer, or use `lab solve --judge-model NAME`.")
    search = spec.strategy in SEARCHES
    style = "steps" if search else params.get("prompt", "cot")
    prompt = engine.count_tokens(engine.format_prompt(solve_messages(spec.problem, style)))
    per_sequence = int(params.get("max_tokens", 256)) * (int(params["depth"]) if search else 1)
    if spec.budget is not None:
        per_sequence = min(per_sequence, spec.budget)
    at_once = min(parallel_sequences(spec.strategy, params) * per_sequence,
                  spec.budget or 10**9)
    need = prompt + max(per_sequence, at_once)
    if need <= engine.n_ctx:
        return None
    return (f"Too large for the model's context: this run needs up to {need:,} tokens "
            f"({prompt:,} prompt + "
            f"{need - prompt:,} generated at once), but the model's context holds "
            f"{engine.n_ctx:,}. Lower the tokens per chain, the number of samples, or the "
            "token budget.")


def parallel_sequences(strategy: str, params: dict[str, Any]) -> int:
    """How many sequences one engine call of this strategy may generate side by side."""
    if strategy == "beam-search":
        return int(params["width"]) * int(params["branch"])
    if strategy == "tree-search":
        return int(params["branch"])
    if strategy == "confidence-vote":
        return max(int(params["warmup"]), int(params["n"]) - int(params["warmup"]))
    batch = int(params.get("batch", 0) or 0)
    return batch or int(params.get("n", 1))
