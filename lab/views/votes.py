"""The votes view: votes per answer, the winner (or the live leader) coloured, the right
answers outlined."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from lab.grades import answer_grades
from lab.trace import Trace, TraceStatus, TraceView
from lab.views.base import Canvas, View
from lab.views.blocks import Block, Caption, Figure, Heading, Html

WINNER, OTHER, CORRECT = "#2a9d8f", "#b8c0c8", "#1b7f3b"
LIVE_ROWS = 12


class VotesView(View):
    name = TraceView.VOTES
    summary = "Votes per answer: the winner coloured, the right answers outlined."
    order = 10

    def applies(self, trace: Trace) -> bool:
        return bool(trace.votes)

    def describe(self, trace: Trace, canvas: Canvas) -> Sequence[Block]:
        blocks: list[Block] = [Heading("Votes")]
        if not trace.votes:
            return [*blocks, Caption("No votes yet: they appear as chains finish.")]
        items = sorted(dict(trace.votes).items(), key=lambda kv: -kv[1])
        if canvas.live:  # a text tally: a chart redrawn every second costs the engine its cores
            return [*blocks, Html(live_tally_html(items))]
        graded = answer_grades(trace, canvas.live)
        correct = [graded.get(answer) is True for answer, _ in items]
        blocks.append(Figure(votes_figure(items, winning_answer(trace), correct, live=False),
                             key=f"{canvas.key}-votes"))
        if trace.problem.gold is not None and not any(correct):
            blocks.append(Caption(f"The correct answer ({trace.problem.gold}) got no votes."))
        return blocks


def winning_answer(trace: Trace) -> str | None:
    """The answer class the run chose (its chosen chain's group), else its final answer."""
    if trace.status == TraceStatus.RUNNING:
        return None
    grouped = [n for n in trace.nodes if n.chosen and isinstance(n.meta.get("group"), str)]
    group = grouped[-1].meta["group"] if grouped else None
    return group if isinstance(group, str) else trace.final_answer


def live_tally_html(items: Sequence[tuple[str, float]]) -> str:
    """The running votes as bars of text, the leader first."""
    top = max((weight for _, weight in items), default=1.0) or 1.0
    rows = []
    for rank, (answer, weight) in enumerate(items[:LIVE_ROWS]):
        color = WINNER if rank == 0 else OTHER
        width = max(2.0, 100 * weight / top)
        rows.append(
            f'<div style="display:flex;align-items:center;gap:.5rem;margin:2px 0">'
            f'<code style="min-width:6rem">{html.escape(answer[:24])}</code>'
            f'<div style="background:{color};height:1rem;width:{width:.0f}%;max-width:70%"></div>'
            f"<span>{number(weight)}</span></div>")
    more = (f"<div>… and {len(items) - LIVE_ROWS} more answers</div>"
            if len(items) > LIVE_ROWS else "")
    return (f'<div style="font-size:.9rem">leading: <b>{html.escape(items[0][0][:24])}</b>'
            f'{"".join(rows)}{more}</div>')


def votes_figure(items: Sequence[tuple[str, float]], winner: str | None,
                 correct: Sequence[bool], live: bool) -> Any:
    import plotly.graph_objects as go

    answers = [answer for answer, _ in items]
    labels = [f"{number(weight)}{' ✓ correct' if ok else ''}"
              for (_, weight), ok in zip(items, correct, strict=True)]
    figure = go.Figure(go.Bar(
        x=[f"{a[:24]}" for a in answers], y=[w for _, w in items], text=labels,
        textposition="outside", cliponaxis=False,
        marker={"color": [WINNER if a == winner else OTHER for a in answers],
                "line": {"color": [CORRECT if ok else "rgba(0,0,0,0)" for ok in correct],
                         "width": 3}},
        hovertemplate="answer %{x}<br>%{y} votes<extra></extra>",
    ))
    title = "leading" if live else "winner"
    figure.update_layout(
        height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=False,
        title={"text": f"{title}: {winner}" if winner else "", "font": {"size": 14}},
        xaxis={"title": "answer", "type": "category"}, yaxis={"title": "votes"},
    )
    return figure


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
