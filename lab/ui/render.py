"""Drawing a trace in the app. The same functions draw a live run (redrawn while it grows)
and a stored one.

`render_trace` draws the outcome, the views the trace's strategy asks for (lab.views: each
view describes its drawing as blocks, which lab/ui/blocks.py draws here and the report writes
as HTML), and the compute panel. A stored run of a strategy that is no longer registered gets
the views its nodes call for.
"""

from __future__ import annotations

import streamlit as st

from lab.execution import ENGINE_NOTES
from lab.strategies.registry import views_of
from lab.tasks.problem import Problem
from lab.trace import NodeKind, Trace, TraceStatus
from lab.ui.blocks import draw_blocks
from lab.views.base import Canvas

__all__ = ["Canvas", "render_trace", "problem_box"]


def render_trace(trace: Trace, canvas: Canvas) -> None:
    outcome(trace, canvas)
    for view in views_of(trace):
        draw_blocks(view.describe(trace, canvas))
    compute_panel(trace, canvas)


# -- the outcome ------------------------------------------------------------------------------
def outcome(trace: Trace, canvas: Canvas) -> None:
    """The final answer (graded when the gold answer is known), or how the run ended."""
    if trace.status == TraceStatus.RUNNING:
        st.caption(f"Running {trace.strategy} on {trace.model}…")
        return
    if trace.status == TraceStatus.FAILED:
        st.error(f"**The run failed.** {trace.error}")
    elif trace.status == TraceStatus.INTERRUPTED:
        st.warning("**Stopped.** The run was interrupted and is stored as interrupted; "
                   "it keeps what was generated.")
    answer = trace.final_answer
    gold = trace.problem.gold
    if answer is None:
        st.info(f"**No answer.** {trace.reason}" if trace.reason else "**No answer.**")
        return
    text = f"**Answer: {_md(answer)}**"
    if trace.correct is True:
        st.success(f"{text} — correct", icon=":material/check_circle:")
    elif trace.correct is False:
        st.error(f"{text} — wrong (the correct answer is {_md(gold or '?')})",
                 icon=":material/cancel:")
    else:
        st.info(text)
    if trace.reason:
        st.caption(f"Why: {trace.reason}")
    for note in trace.meta.get(ENGINE_NOTES, []):
        st.caption(f":material/info: The model server could not give everything asked: {note}.")


def problem_box(problem: Problem) -> None:
    with st.container(border=True):
        st.markdown(f"**{problem.source} · {problem.id}**")
        st.markdown(_md(problem.question))
        if problem.gold is not None:
            st.caption(f"Correct answer: {problem.gold}")


# -- compute ----------------------------------------------------------------------------------
def compute_panel(trace: Trace, canvas: Canvas) -> None:
    """Tokens generated (model verdicts included), prompt tokens decoded and served from the
    cache, wall time and speed (live: generated tokens counted from the nodes)."""
    compute = trace.compute
    generated = max(compute.all_generated, compute.verdict_tokens + sum(
        len(n.tokens) for n in trace.nodes if n.kind != NodeKind.PROMPT))
    wall = canvas.elapsed_s if canvas.live and canvas.elapsed_s is not None else compute.wall_s
    speed = generated / wall if wall > 0 else 0.0
    budget = f" of {trace.budget:,}" if trace.budget is not None else ""
    if canvas.compact or canvas.live:  # live: one line, cheap to redraw every second
        st.caption(f"{generated:,}{budget} tokens · {compute.prompt_tokens:,} prompt · "
                   f"{compute.cached_prompt_tokens:,} cached · {wall:.1f} s · "
                   f"{speed:.1f} tok/s · {compute.engine_calls} calls")
        return
    st.markdown("##### Compute")
    columns = st.columns(6)
    columns[0].metric("Generated tokens", f"{generated:,}{budget}", help=generated_help(trace))
    columns[1].metric("Prompt tokens", f"{compute.prompt_tokens:,}",
                      help="prompt tokens the engines decoded, verdict prompts included "
                           "(a prefix shared by several sequences once)")
    columns[2].metric("Cached prompt", f"{compute.cached_prompt_tokens:,}",
                      help="prompt tokens served from the KV cache instead of decoded")
    columns[3].metric("Wall time", f"{wall:.1f} s")
    columns[4].metric("Tokens / s", f"{speed:.1f}")
    columns[5].metric("Engine calls", f"{compute.engine_calls:,}")


def generated_help(trace: Trace) -> str:
    """What the generated tokens were spent on, by kind of call."""
    compute = trace.compute
    parts = ", ".join(f"{kind} {count:,}" for kind, count in compute.generated_by.items())
    return ("every generated token, what the budget caps: sampled "
            f"{compute.generated_tokens:,} + model verdicts {compute.verdict_tokens:,} "
            "(one per yes/no or grade read)" + (f"; by call: {parts}" if parts else ""))


# -- helpers ----------------------------------------------------------------------------------
def _md(text: str) -> str:
    """Text shown in markdown without it being read as markup (e.g. `*` or `$`)."""
    return "".join("\\" + ch if ch in "\\`*_{}[]<>()#+-.!|$~" else ch for ch in text)
