"""Learn's ladder: the gallery's experiment climbed step by step (lab.evaluation.ladder), its
numbers read from the stored runs, one problem shown at every step with a button that reruns
the step live in the Playground."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from lab.evaluation import summarize
from lab.evaluation.ladder import ORACLE, LadderSpec, Rung, Step, climbing_problems, rungs
from lab.evaluation.ladder import ladder_steps as steps_of
from lab.evaluation.paired import paired_difference
from lab.evaluation.report import Row
from lab.store.ledger import Ledger
from lab.trace_html import chain_html
from lab.ui.presets import Preset, request_preset
from lab.ui.render import problem_box


def ladder_section(ledger: Ledger, spec: LadderSpec) -> None:
    st.subheader(spec.title)
    st.markdown(spec.intro)
    rows = (summarize(ledger, spec.experiment, spec.ladders())
            if spec.experiment in ledger.experiments() else [])
    steps = steps_of(spec, rows)
    if not any(step.row is not None for step in steps):
        st.info(f"This ledger has no experiment **{spec.experiment}**, the gallery's, to climb "
                "the ladder on: `lab gallery import` brings it, or measure it yourself "
                f"(about an hour on two cores):\n\n```\n{spec.command}\n```")
        return
    first = next(s.row for s in steps if s.row is not None)
    st.caption(f"{spec.experiment}: {first.problems} problems of {first.problem_set}, "
               f"{first.model}, measured with `{spec.command}`. The numbers are the "
               "experiment's own table, as `lab eval --json` prints it.")
    st.dataframe(step_table(steps), hide_index=True)
    st.caption("change: this step minus the step above on the same problems, in points, with "
               "its 95% paired interval (an interval that spans 0 shows no change on these "
               "problems); % cut: chains that reached their token cap before they answered (a "
               "step asked for a short answer has a short cap: a model that reasons anyway is "
               "cut there).")
    st.plotly_chart(ladder_figure(steps), key=f"learn.ladder.figure.{spec.experiment}")
    example(ledger, steps, spec.experiment)


def step_table(steps: list[Step]) -> list[dict[str, object]]:
    table: list[dict[str, object]] = []
    before: Row | None = None
    for step in steps:
        row = step.row
        if row is None or row.accuracy is None:
            table.append({"step": step.spec.title, "what": step.spec.what, "accuracy": "—"})
            continue
        change = ("" if before is None or step.spec.metric == ORACLE
                  else change_from(row, before))
        table.append({"step": step.spec.title, "what": step.spec.what,
                      "accuracy [95% CI]": f"{row.accuracy:.2f} [{row.low:.2f}, {row.high:.2f}]",
                      "tokens/problem": f"{row.tokens:.0f}", "change": change,
                      "% cut": "-" if row.cut_share is None else f"{100 * row.cut_share:.0f}%"})
        if step.spec.metric != ORACLE:
            before = row
    return table


def change_from(row: Row, before: Row) -> str:
    """`row` minus `before`, paired on their shared problems: points [95% interval]."""
    found = paired_difference(row.outcomes, before.outcomes)
    if found.low is None or found.high is None:
        return f"{_points(found.difference)} points"
    return (f"{_points(found.difference)} [{_points(found.low)}, {_points(found.high)}]"
            + ("" if found.shown else " (spans 0)"))


def _points(share: float) -> str:
    """A difference in points, signed, without a "-0"."""
    return f"{round(100 * share):+d}"


def ladder_figure(steps: list[Step]) -> go.Figure:
    measured = [s for s in steps if s.row is not None and s.row.accuracy is not None]
    figure = go.Figure()
    for oracle in (False, True):
        shown = [s for s in measured if (s.spec.metric == ORACLE) == oracle]
        if not shown:
            continue
        figure.add_scatter(
            x=[s.row.tokens for s in shown if s.row], y=[s.row.accuracy for s in shown if s.row],
            text=[s.spec.title for s in shown], textposition="top left",
            mode="markers+text" if oracle else "lines+markers+text",
            name="pass@k (oracle)" if oracle else "the ladder",
            error_y={"type": "data", "symmetric": False,
                     "array": [(s.row.high or 0) - (s.row.accuracy or 0) for s in shown if s.row],
                     "arrayminus": [(s.row.accuracy or 0) - (s.row.low or 0)
                                    for s in shown if s.row]},
            marker={"symbol": "diamond-open" if oracle else "circle", "size": 9})
    figure.update_layout(height=380, template="plotly_white", margin={"t": 20, "b": 40},
                         xaxis={"title": "mean generated tokens per problem (log scale)",
                                "type": "log"},
                         yaxis={"title": "accuracy (95% interval)", "range": [0, 1.05]})
    return figure


def example(ledger: Ledger, steps: list[Step], experiment: str) -> None:
    st.markdown("##### One problem, every step")
    problems = climbing_problems(steps)
    if not problems:
        st.caption("No problem in the experiment goes from wrong at the first step to right "
                   "at the last.")
        return
    st.caption(f"{len(problems)} problems go from wrong at the first step to right at the "
               "last; first those where greedy step-by-step was wrong too.")
    problem_id = st.selectbox("Problem", problems, key=f"learn.ladder.problem.{experiment}")
    climbed = rungs(ledger, steps, problem_id)
    if not climbed:
        return
    problem_box(climbed[0].trace.problem)
    for start in range(0, len(climbed), 3):
        for column, rung in zip(st.columns(3), climbed[start:start + 3], strict=False):
            with column:
                rung_panel(rung, start + climbed[start:start + 3].index(rung))


def rung_panel(rung: Rung, position: int) -> None:
    with st.container(border=True):
        st.markdown(f"**{rung.spec.title}** · {verdict(rung)}")
        if rung.node is not None:
            with st.container(height=240, border=False):
                st.html(chain_html(rung.node))
        elif rung.chance is not None:
            st.caption(f"A vote of {rung.spec.k} of run #{rung.run_id}'s "
                       f"{len(rung.trace.solutions())} chains is right in "
                       f"{rung.chance:.0%} of the ways to choose them.")
        st.caption(f"run #{rung.run_id} · {rung.trace.compute.generated_tokens} tokens "
                   "generated by the run")
        if st.button("Run this step live", key=f"learn.ladder.run.{position}",
                     icon=":material/play_arrow:"):
            request_preset(Preset(rung.trace.strategy, rung.params, problem=rung.trace.problem))
            st.switch_page("pages/playground.py")


def verdict(rung: Rung) -> str:
    if rung.correct is None:
        return "a vote of chosen chains"
    mark = "✓" if rung.correct else "✗"
    return f"answer `{rung.answer or '—'}` {mark}"
