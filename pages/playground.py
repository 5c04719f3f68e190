"""Playground: one strategy on one problem, watched as it thinks."""

from __future__ import annotations

import streamlit as st

from lab.ui import state
from lab.ui.advice import advice_panel
from lab.ui.controls import (
    budget_input,
    param_controls,
    problem_picker,
    strategy_picker,
)
from lab.ui.entry import ensure_entrypoint
from lab.ui.handout import report_button
from lab.ui.live import elapsed, run_notes, show_batch
from lab.ui.presets import apply_pending_preset
from lab.ui.render import Canvas, render_trace
from lab.ui.runner import RunSpec

BATCH = "pg.batch"

ensure_entrypoint()
apply_pending_preset("pg")
st.title("Playground")
st.caption("Pick a problem, a strategy and a budget, press Run, and watch the model think.")

problem_column, strategy_column, budget_column = st.columns([1.3, 1, 1], gap="large")
with problem_column:
    st.markdown("##### Problem")
    problem = problem_picker("pg")
with strategy_column:
    st.markdown("##### Strategy")
    strategy = strategy_picker("pg")
    params = param_controls(strategy, "pg", exclude=strategy.knobs)
with budget_column:
    st.markdown("##### Budget")
    budget = budget_input("pg")
    params |= param_controls(strategy, "pg", names=strategy.knobs)

advice_panel(problem)

batch = st.session_state.get(BATCH) or state.running_batch("pg")
if batch is not None:  # a reloaded page or a second tab reattaches to a running run
    st.session_state[BATCH] = batch
running = batch is not None and not batch.done
# The click that caused this rerun, read before the button is drawn: the run starts here and
# the button is drawn disabled, with no second rerun of the page while the model decodes.
if st.session_state.get("pg.run") and problem is not None and not running:
    started = state.start_runs([RunSpec(strategy.name, problem, params, budget)], "pg")
    if started is not None:
        st.session_state[BATCH] = batch = started
        running = not started.done
buttons = st.columns([1, 2, 5], vertical_alignment="center")
buttons[0].button("Run", type="primary", icon=":material/play_arrow:",
                  disabled=running or problem is None, key="pg.run")
color_tokens = buttons[1].toggle("Colour tokens by log-prob", key="pg.color")


def draw(batch: state.Batch, live: bool) -> None:
    run = batch.runs[0]
    run_notes(run)
    if run.trace is not None:
        render_trace(run.trace, Canvas("pg", live=live, color_tokens=color_tokens and not live,
                                       elapsed_s=elapsed(run)))
        if not live:
            report_button([run.trace], [run.run_id], "pg-report")


st.divider()
show_batch(st.session_state.get(BATCH), "pg", draw)
