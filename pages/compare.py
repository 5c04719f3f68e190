"""Compare: two to four strategies on the same problem at the same token budget."""

from __future__ import annotations

import streamlit as st

from lab.evaluation.paired import describe_row, stored_evidence
from lab.store.errors import LedgerError
from lab.strategies.params import ParamError
from lab.strategies.registry import get_strategy, list_strategies
from lab.ui import state
from lab.ui.controls import budget_input, default, param_controls, problem_picker
from lab.ui.entry import ensure_entrypoint
from lab.ui.handout import report_button
from lab.ui.live import elapsed, run_notes, show_batch
from lab.ui.render import Canvas, render_trace
from lab.ui.runner import RunSpec

BATCH = "cmp.batch"
SPEND = "spend"  # run meta: how the strategy spent the budget
MAX_STRATEGIES = 4


def equal_spend(chosen: list[str], params: dict, budget: int | None,
                problem: object) -> list[RunSpec]:
    """One run per strategy, each spending the budget its own way (a sampling strategy
    draws more chains at their usual length rather than shorter chains)."""
    specs = []
    for name in chosen:
        strategy = get_strategy(name)
        spend = strategy.spend(strategy.validate(params[name]), budget)
        specs.append(RunSpec(name, problem, spend.params, budget, meta={SPEND: spend.how}))
    return specs


ensure_entrypoint()
st.title("Compare")
st.caption("Run strategies one after another on the shared model, on the same problem and "
           "with the same token budget, and see what each bought. A sampling strategy spends "
           "the budget on more chains of its usual length (its n is set from the budget).")

setup = st.columns([1.3, 1], gap="large")
with setup[0]:
    st.markdown("##### Problem")
    problem = problem_picker("cmp")
with setup[1]:
    st.markdown("##### Strategies and budget")
    default("cmp.strategies", ["cot", "self-consistency"])
    chosen = st.multiselect("Strategies", [s.name for s in list_strategies()],
                            key="cmp.strategies", max_selections=MAX_STRATEGIES,
                            help="Two to four strategies.")
    budget = budget_input("cmp", value=2048)  # 4 chains at the default 512 tokens
    params = {}
    for name in chosen:
        with st.expander(f"{name} settings"):
            params[name] = param_controls(get_strategy(name), "cmp")

batch = st.session_state.get(BATCH) or state.running_batch("cmp")
if batch is not None:  # a reloaded page or a second tab reattaches to running runs
    st.session_state[BATCH] = batch
running = batch is not None and not batch.done
ready = problem is not None and 2 <= len(chosen) <= MAX_STRATEGIES
if len(chosen) < 2:
    st.caption("Choose at least two strategies.")
# The click that caused this rerun, read before the button is drawn: the runs start here and
# the button is drawn disabled, with no second rerun of the page while the model decodes.
if st.session_state.get("cmp.run") and ready and not running and problem is not None:
    try:
        specs = equal_spend(chosen, params, budget, problem)
    except ParamError as exc:
        st.error(f"**Invalid settings.** {exc}")
        specs = []
    started = state.start_runs(specs, "cmp") if specs else None
    if started is not None:
        st.session_state[BATCH] = batch = started
        running = not started.done
st.button("Run all", type="primary", icon=":material/play_arrow:", key="cmp.run",
          disabled=running or not ready)


def summary(runs: list) -> list[dict[str, object]]:
    rows = []
    for run in runs:
        trace = run.trace
        mark = {True: "✓", False: "✗", None: "—"}[trace.correct if trace else None]
        rows.append({
            "strategy": run.spec.strategy,
            "answer": (trace.final_answer if trace else None) or "—",
            "correct": mark,
            "generated tokens": trace.compute.generated_tokens if trace else 0,
            "time (s)": round(trace.compute.wall_s, 1) if trace else 0.0,
            "status": str(trace.status) if trace else run.phase,
        })
    return rows


def draw(batch: state.Batch, live: bool) -> None:
    columns = st.columns(len(batch.runs), gap="medium")
    for index, (column, run) in enumerate(zip(columns, batch.runs, strict=True)):
        with column:
            st.subheader(run.spec.strategy)
            if run.spec.meta.get(SPEND):
                st.caption(f"Spends the budget as {run.spec.meta[SPEND]}.")
            run_notes(run)
            if run.trace is None:
                continue
            view = Canvas(f"cmp{index}", live=live and not run.done, compact=True,
                        elapsed_s=elapsed(run))
            render_trace(run.trace, view)
    st.markdown("##### Summary")
    st.dataframe(summary(batch.runs), hide_index=True, width="stretch")
    if not live:
        finished = [run for run in batch.runs if run.trace is not None]
        report_button([run.trace for run in finished], [run.run_id for run in finished],
                      "cmp-report", label="Download the comparison")


def measured_elsewhere(chosen: list[str]) -> None:
    """What the ledger's experiments (the gallery's too) show for these strategies over many
    problems: one problem is an anecdote."""
    ledger = state.ledger_or_error()
    if ledger is None or len(chosen) < 2:
        return
    try:
        evidence = [e for other in chosen[1:] for e in stored_evidence(ledger, other, chosen[0])]
    except LedgerError as exc:
        st.error(f"**The ledger cannot be read.** {exc}")
        return
    with st.expander(f"Measured on many problems: each strategy against {chosen[0]}",
                     expanded=bool(evidence)):
        if not evidence:
            st.caption(f"No stored experiment has runs of {chosen[0]} and another of these "
                       f"strategies. `lab eval ... --baseline {chosen[0]}` or the Scaling page "
                       "measures them on a set.")
            return
        for item in evidence:
            where = f"`{item.experiment}`" + (" (gallery)" if item.shipped else "")
            st.markdown(f"{where}, {item.row.problem_set}, {item.row.model}: " +
                        item.found.words(describe_row(item.row), describe_row(item.baseline)))


st.divider()
measured_elsewhere(chosen)
show_batch(st.session_state.get(BATCH), "cmp", draw)
