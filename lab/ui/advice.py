"""The Playground's "Which strategy for this problem?" panel: a probe of a few samples, run by
the run worker like any run (the page never waits on it), read against a stored sweep
(lab.evaluation.advice): the problem's difficulty, the predicted accuracy and cost of each
option, and the advised one."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lab.evaluation.advice import (
    LEVEL_WORDS,
    PROBE_N,
    Advice,
    AdviceError,
    StoredSweep,
    advise,
    choose_sweep,
    default_probe,
    find_sweeps,
    load_sweep,
)
from lab.models import ModelError, resolve_model_path
from lab.tasks.problem import Problem
from lab.ui import state
from lab.ui.live import run_notes, show_batch

TITLE = "Which strategy for this problem?"
PAGE = "pg-advice"  # the worker's page name of probe runs (never reattached as the Run's)
PROBE = "pg.advice.probe"  # session state: the probe's problem, sweep and batch
SWEEP_KEY = "pg.advice.sweep"
NO_SWEEP = "(none stored)"
FIND_TTL_S = 30  # the list of usable sweeps is looked up again after this long


def advice_panel(problem: Problem | None) -> None:
    """The expander: choose a stored sweep, probe the problem, show the advice."""
    with st.expander(TITLE, icon=":material/lightbulb:", key="pg-advice-panel"):
        if problem is None:
            st.caption("Pick a problem first.")
            return
        ledger = state.ledger_or_error()
        if ledger is None:
            return
        model = stored_model_name()
        st.caption(f"Draws {PROBE_N} samples in one batched call, reads how much they agree, "
                   "and predicts each strategy's accuracy and cost from the lab's own stored "
                   "sweep on problems that read alike.")
        experiment = _sweep_choice(ledger.location, model, problem)
        if experiment is not None:
            _probe_cost(experiment, model)
        if st.button("Probe this problem", icon=":material/troubleshoot:",
                     key="pg-advice-probe", disabled=_probing()):
            _start_probe(problem, model, experiment)
        probe = st.session_state.get(PROBE)
        if probe is not None and probe["problem"] == _problem_key(problem):
            show_batch(probe["batch"], PAGE, lambda batch, live: _draw(probe, batch, live))


def stored_model_name() -> str:
    """The name runs of the chosen model are stored under (a registry model's file stem)."""
    name = state.selected_model_name()
    if state.overridden():
        return name
    try:
        return resolve_model_path(name).stem
    except ModelError:
        return name


def _sweep_choice(location: str, model: str, problem: Problem) -> str | None:
    names = [name for name, _ in _usable_sweeps(location, model)]
    if not names:
        st.info(f"No stored sweep of {model} to advise from yet: the probe still reads the "
                "problem's difficulty.", icon=":material/info:")
        return None
    try:
        preferred = choose_sweep(state.get_ledger(), model, problem)
    except AdviceError:
        preferred = None
    if st.session_state.get(SWEEP_KEY) not in names:
        st.session_state[SWEEP_KEY] = preferred or names[0]
    return st.selectbox("Stored sweep", names, key=SWEEP_KEY,
                        help="The experiment (`lab eval`) whose problems the probe is "
                             "compared with; the probe uses its voter's settings and seed.")


def _probe_cost(experiment: str, model: str) -> None:
    try:
        sweep = _sweep(experiment, model)
    except AdviceError as exc:
        st.error(str(exc))
        return
    settings = ", ".join(f"{k}={sweep.voter_params[k]}" for k in ("temperature", "max_tokens",
                                                                   "seed")
                         if k in sweep.voter_params)
    st.caption(f"The probe: {sweep.voter} n={sweep.probe_n} ({settings}, as the sweep ran it), "
               f"about {sweep.probe_tokens:,.0f} generated tokens on the sweep's problems.")


@st.cache_data(ttl=FIND_TTL_S, show_spinner=False)
def _usable_sweeps(location: str, model: str) -> list[tuple[str, str]]:
    del location  # the cache key: another ledger, another list
    return find_sweeps(state.get_ledger(), model)


@st.cache_data(show_spinner=False, max_entries=8)
def _stored_sweep(location: str, experiment: str, model: str, newest_run: int) -> StoredSweep:
    del location, newest_run  # the cache key: a sweep that grew is read again
    return load_sweep(state.get_ledger(), experiment, model)


def _sweep(experiment: str, model: str) -> StoredSweep:
    ledger = state.get_ledger()
    newest = ledger.list_runs(experiment=experiment, limit=1)
    return _stored_sweep(ledger.location, experiment, model, newest[0].id if newest else 0)


def _start_probe(problem: Problem, model: str, experiment: str | None) -> None:
    try:
        sweep = _sweep(experiment, model) if experiment else None
        request = sweep.probe_request(problem) if sweep else default_probe(problem)
    except AdviceError as exc:
        st.error(str(exc))
        return
    batch = state.start_runs([request], PAGE)
    if batch is not None:
        st.session_state[PROBE] = {"problem": _problem_key(problem), "batch": batch,
                                   "experiment": experiment, "model": model,
                                   "problem_set": problem.source}
        st.rerun()


def _probing() -> bool:
    probe = st.session_state.get(PROBE)
    return probe is not None and not probe["batch"].done


def _problem_key(problem: Problem) -> tuple[str, str, str]:
    return problem.source, problem.id, problem.question


def _draw(probe: dict[str, Any], batch: Any, live: bool) -> None:
    run = batch.runs[0]
    if live:
        tokens = run.trace.compute.all_generated if run.trace is not None else 0
        st.caption(f"Probing: {tokens} tokens so far.")
        return
    run_notes(run)
    if run.trace is None or run.error:
        return
    try:
        sweep = _sweep(probe["experiment"], probe["model"]) if probe["experiment"] else None
        hint_set = probe["problem_set"] if probe["problem_set"] != "custom" else None
        found = advise(run.trace, sweep, hint_set, None)
    except AdviceError as exc:
        st.error(str(exc))
        return
    _show(found)


def _show(found: Advice) -> None:
    d = found.difficulty
    columns = st.columns(4)
    columns[0].metric("Agreement", f"{d.top}/{d.samples}")
    columns[1].metric("Distinct answers", d.distinct)
    columns[2].metric("No answer / cut", f"{d.unanswered} / {d.cut}")
    columns[3].metric("Probe cost", f"{found.probe_tokens:,} tokens")
    answers = ", ".join(a if a is not None else "–" for a in d.answers)
    st.markdown(f"Difficulty: **{d.level}**: {LEVEL_WORDS[d.level]} (answers {answers}; "
                f"the probe's vote: {found.probe_answer}). The probe also decoded "
                f"{found.probe_prompt_tokens:,} prompt tokens in {found.probe_wall_s:.1f} s.")
    for note in found.notes:
        st.warning(note)
    if found.missing:
        st.info(found.missing, icon=":material/info:")
        return
    chosen = found.chosen
    if chosen is not None:
        st.success(f"**{chosen.option.label}**: predicted accuracy {chosen.accuracy:.2f} "
                   f"[{chosen.low:.2f}, {chosen.high:.2f}] at about {chosen.tokens:,.0f} more "
                   f"tokens. {found.why[0].upper() + found.why[1:]} of `{found.experiment}`.",
                   icon=":material/lightbulb:")
    st.dataframe(_table(found), hide_index=True, use_container_width=True)
    st.caption(f"{found.similar} of the sweep's {found.stored} problems read '{d.level}'. "
               "Predictions are the stored runs' outcomes on them (95% Wilson interval); "
               "tokens are generated tokens after the probe.")


def _table(found: Advice) -> list[dict[str, Any]]:
    return [{"": "advised" if p is found.chosen else "", "option": p.option.label,
             "predicted accuracy": round(p.accuracy, 3),
             "95% interval": f"{p.low:.2f} – {p.high:.2f}", "tokens": round(p.tokens),
             "problems": p.problems} for p in found.predictions]
