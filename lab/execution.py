"""The one run path: run a strategy on a problem, grade it, record it in the ledger, finish it.

The app's runs, `lab solve`, `lab eval` and the run worker all call `execute`:

    outcome = execute(RunRequest("self-consistency", problem, {"n": 8}), engine, ledger,
                      on_event=show, cancel=event)
    outcome.trace.correct, outcome.run_id, outcome.save_error

Grading happens once, when the strategy has finished and before the ledger writes the
finished run: the final answer against the gold answer, and each voted answer (kept in
`trace.meta["vote_correct"]`, so no page grades in a redraw). A ledger that cannot be written
does not stop the run: the trace is returned with `save_error` saying why it was not stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lab.engine.base import Engine
from lab.grades import grade_votes
from lab.prompts import solve_messages
from lab.scorers import get_scorer
from lab.store.errors import LedgerError
from lab.store.ledger import Ledger
from lab.strategies.params import ParamError
from lab.strategies.registry import get_strategy
from lab.tasks.grading import grade_answer
from lab.tasks.problem import Problem
from lab.trace import VOTE_CORRECT, EventCallback, EventKind, Trace, TraceEvent

ENGINE_NOTES = "engine_notes"  # trace.meta key: what the engine could not give as asked

log = logging.getLogger(__name__)


@dataclass
class RunRequest:
    strategy: str
    problem: Problem
    params: Mapping[str, Any] = field(default_factory=dict)
    budget: int | None = None  # generated tokens; None: only the strategy's knobs bound it
    experiment: str | None = None  # the ledger experiment the run belongs to
    meta: Mapping[str, Any] = field(default_factory=dict)  # merged into trace.meta at the end


@dataclass
class RunOutcome:
    trace: Trace
    run_id: int | None = None  # None when the run was not stored
    save_error: str | None = None  # why the ledger could not store it


def execute(
    request: RunRequest,
    engine: Engine,
    ledger: Ledger | None,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    judge: Engine | None = None,
) -> RunOutcome:
    """Run, grade and record `request`. Raises ParamError for settings the strategy refuses
    (before anything is stored); every other failure ends in the trace's status."""
    strategy = get_strategy(request.strategy)
    recorder = ledger.recorder(experiment=request.experiment) if ledger is not None else None

    engine.take_notes()  # a previous run's leftovers are not this run's

    def forward(event: TraceEvent) -> None:
        if event.kind == EventKind.FINISHED:
            finalize(event.trace, request)  # graded before the finished run is written
            if notes := engine.take_notes():
                event.trace.meta[ENGINE_NOTES] = notes
        if recorder is not None:
            recorder(event)
        if on_event is not None:
            on_event(event)

    # run() validates first and raises ParamError before any event reaches the ledger
    trace = strategy.run(request.problem, engine, request.params, request.budget, forward,
                         cancel, judge)
    outcome = RunOutcome(trace)
    if ledger is not None and recorder is not None:
        outcome.run_id, outcome.save_error = _store(ledger, recorder, trace, request)
    return outcome


def finalize(trace: Trace, request: RunRequest) -> None:
    """Grade the finished trace and add the request's meta."""
    trace.meta.update(request.meta)
    try:
        trace.correct = grade_answer(trace.problem, trace.final_answer)
        trace.meta[VOTE_CORRECT] = grade_votes(trace)
    except Exception:  # a grader bug must not lose the run: it stays ungraded
        log.exception("grading %s/%s failed", trace.problem.source, trace.problem.id)


def _store(ledger: Ledger, recorder: Any, trace: Trace,
           request: RunRequest) -> tuple[int | None, str | None]:
    """The finished run's id in the ledger, and why it could not be stored, if so."""
    try:
        if recorder.run_id is None:  # no event reached the ledger: store the run whole
            recorder.run_id = ledger.start_run(trace, request.experiment)
            ledger.finish_run(recorder.run_id, trace)
        elif recorder.error is not None:  # the finishing write failed: try once more
            ledger.finish_run(recorder.run_id, trace)
    except LedgerError as exc:
        log.warning("run not stored: %s", exc)
        return recorder.run_id, str(exc)
    return recorder.run_id, None


def cannot_start(engine: Engine, request: RunRequest, has_judge: bool = False) -> str | None:
    """Why the run cannot start (invalid params, a judge model not given, a scorer reading
    what the engine cannot report, too large for the model's context), else None."""
    strategy = get_strategy(request.strategy)
    try:
        params = strategy.validate(request.params)
    except ParamError as exc:
        return f"Invalid settings: {exc}."
    if strategy.needs_judge(params) and not has_judge:
        return ("The judge scorer needs a second model: choose a judge model in the sidebar "
                "(or `lab solve --judge-model NAME`), or another scorer.")
    for scorer in strategy.scorers_used(params):
        lacking = sorted(set(get_scorer(scorer).reads) & engine.lacks)
        if lacking:
            return (f"The {scorer} scorer reads each token's {', '.join(lacking)}, which "
                    f"{engine.model_name} does not report (a model server returns only the "
                    "top log-probabilities): choose another scorer.")
    messages = solve_messages(request.problem, strategy.prompt_style(params),
                              engine.prompt_format)
    prompt = engine.count_tokens(engine.format_prompt(messages))
    per_sequence = strategy.sequence_tokens(params)
    if request.budget is not None:
        per_sequence = min(per_sequence, request.budget)
    if engine.context_per_sequence:
        need = prompt + per_sequence
        if need <= engine.n_ctx:
            return None
        return (f"Too large for the server's context: a chain of this run needs up to "
                f"{need:,} tokens ({prompt:,} prompt + {per_sequence:,} generated), but each "
                f"of its slots holds {engine.n_ctx:,}. Lower the tokens per chain, or give "
                "the server more context per slot (llama-server: -c divided by -np).")
    at_once = min(strategy.parallel_sequences(params) * per_sequence, request.budget or 10**9)
    need = prompt + max(per_sequence, at_once)
    if need <= engine.n_ctx:
        return None
    return (f"Too large for the model's context: this run needs up to {need:,} tokens "
            f"({prompt:,} prompt + {need - prompt:,} generated at once), but the model's "
            f"context holds {engine.n_ctx:,}. Lower the tokens per chain, the number of "
            "samples, or the token budget.")
