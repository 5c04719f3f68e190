"""Playground: one strategy on one problem, watched as it thinks."""

from __future__ import annotations

import streamlit as st

from lab.ui import state
from lab.ui.controls import (
    BUDGET_KNOBS,
    budget_input,
    param_controls,
    problem_picker,
    strategy_picker,
)
from lab.ui.entry import ensure_entrypoint
from lab.ui.live import elapsed, run_notes, show_batch
from lab.ui.presets import apply_pending_preset
from lab.ui.render import View, render_trace
from lab.ui.runner import RunBatch, RunSpec, cannot_start

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
    params = param_controls(strategy, "pg", exclude=BUDGET_KNOBS)
with budget_column:
    st.markdown("##### Budget")
    budget = budget_input("pg")
    params |= param_controls(strategy, "pg", names=BUDGET_KNOBS)

batch: RunBatch | None = st.session_state.get(BATCH)
running = batch is not None and not batch.done
buttons = st.columns([1, 2, 5], vertical_alignment="center")
run_clicked = buttons[0].button("Run", type="primary", icon=":material/play_arrow:",
                                disabled=running or problem is None, key="pg.run")
color_tokens = buttons[1].toggle("Colour tokens by log-prob", key="pg.color")

if run_clicked and problem is not None:
    model = state.current_model()
    spec = RunSpec(strategy.name, problem, params, budget)
    reason = cannot_start(model.engine, spec) if model is not None else None
    if reason:
        st.error(f"**This run cannot start.** {reason}")
    elif model is not None:
        batch = RunBatch([spec], model.engine, state.ledger_or_error(), state.model_slot())
        st.session_state[BATCH] = batch.start()
        st.rerun()  # redraw with Run disabled while the batch runs


def draw(batch: RunBatch, live: bool) -> None:
    run = batch.runs[0]
    run_notes(run)
    if run.trace is not None:
        render_trace(run.trace, View("pg", live=live, color_tokens=color_tokens,
                                     elapsed_s=elapsed(run)))


st.divider()
show_batch(st.session_state.get(BATCH), "pg", draw)
