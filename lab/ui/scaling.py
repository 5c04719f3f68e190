"""Scaling sweeps in the background: lab.evaluation's resumable sweep in a worker thread.

A job lives in a process-wide registry keyed by experiment, so it keeps running (and can be
watched or stopped) when its page is left or reopened from another session. A stopped or
crashed sweep resumes by running the same experiment again: stored cells are skipped.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import streamlit as st

from lab.engine.base import Engine
from lab.evaluation import (
    Cell,
    StrategySpec,
    SweepProgress,
    SweepResult,
    SweepSpec,
    build_cells,
    run_sweep,
)
from lab.store.ledger import Ledger
from lab.tasks.problem import Problem

log = logging.getLogger(__name__)


@dataclass(eq=False)
class SweepJob:
    experiment: str
    cells: list[Cell]
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: SweepProgress | None = None
    result: SweepResult | None = None
    error: str | None = None
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running


@st.cache_resource(show_spinner=False)
def jobs() -> dict[str, SweepJob]:
    """Every sweep this process started, by experiment name."""
    return {}


def sample(problems: Sequence[Problem], count: int, seed: int) -> list[Problem]:
    """`count` problems drawn with `seed` (the same ones every time), in set order."""
    count = max(0, min(count, len(problems)))
    chosen = set(random.Random(seed).sample(range(len(problems)), count))
    return [p for i, p in enumerate(problems) if i in chosen]


def sweep_cells(problems: Sequence[Problem], strategies: Sequence[str], knob: str,
                ladder: Sequence[int], max_tokens: int) -> list[Cell]:
    """The sweep's cells; raises ParamError for a ladder that fits no strategy."""
    spec = SweepSpec([StrategySpec(name) for name in strategies], sweeps={knob: list(ladder)},
                     params={"max_tokens": max_tokens})
    return build_cells(spec, problems)


def start(experiment: str, cells: list[Cell], engine: Engine, ledger: Ledger) -> SweepJob:
    job = SweepJob(experiment, cells)

    def work() -> None:
        try:
            job.result = run_sweep(cells, engine, ledger, experiment,
                                   on_progress=lambda p: setattr(job, "progress", p),
                                   cancel=job.cancel)
        except Exception as exc:  # shown in the page; details in the log
            log.exception("sweep %s failed", experiment)
            job.error = f"{type(exc).__name__}: {exc}"

    job.thread = threading.Thread(target=work, name=f"lab-sweep-{experiment}", daemon=True)
    jobs()[experiment] = job
    job.thread.start()
    return job


def progress_text(progress: SweepProgress | None, running: bool) -> tuple[float, str]:
    if progress is None or not progress.total:
        return 0.0, "Starting…"
    parts = [f"{progress.done} of {progress.total} runs"]
    if progress.stored:
        parts.append(f"{progress.stored} found stored")
    if progress.accuracy is not None:
        parts.append(f"accuracy so far {progress.accuracy:.0%}")
    if progress.eta_s:
        parts.append(f"about {progress.eta_s / 60:.0f} min left")
    if running and progress.current:
        parts.append(f"now: {progress.current}")
    return progress.done / progress.total, " · ".join(parts)
