"""The candidates view: each candidate with its answer, its grade, its scorer values, whether
it was kept or rejected, and why. A strategy with reasons of its own (best-of-n's refinement)
subclasses `CandidatesView` and extends `why_parts`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from lab.divergence import chain_correct
from lab.grades import answer_grades, extra_grades
from lab.trace import Node, NodeKind, NodeStatus, Trace, TraceView, chain_labels
from lab.views.base import STATUS_LABEL, Canvas, View
from lab.views.blocks import Block, Caption, Heading, Table

GRADE_MARK = {True: "✓", False: "✗", None: "—"}


class CandidatesView(View):
    name: ClassVar[str] = TraceView.CANDIDATES
    summary = "Each candidate's scores, grade and the decision about it, with the reason."
    order = 20

    def applies(self, trace: Trace) -> bool:
        return not trace.votes and any(n.scores for n in trace.solutions())

    def describe(self, trace: Trace, canvas: Canvas) -> Sequence[Block]:
        rows = self.rows(trace, canvas)
        return [Heading("Candidates"), Table(rows) if rows else Caption("No candidates yet.")]

    def rows(self, trace: Trace, canvas: Canvas) -> list[dict[str, object]]:
        nodes = trace.solutions()
        scores = {n.id: dict(n.scores) for n in nodes}  # copies: a live run may add some
        scorers = sorted({name for values in scores.values() for name in values})
        labels = chain_labels(nodes)
        graded: dict[str, bool | None] = {}
        if trace.problem.gold is not None and not canvas.live:
            graded = {**answer_grades(trace, canvas.live), **extra_grades(trace)}
        rows = []
        for node in nodes:
            row: dict[str, object] = {"candidate": labels[node.id], "answer": node.answer or "—"}
            if graded:
                row["graded"] = GRADE_MARK[chain_correct(trace, node, graded)]
            row.update({name: round(scores[node.id][name], 3) if name in scores[node.id]
                        else None for name in scorers})
            row["decision"] = ("★ chosen" if node.chosen else STATUS_LABEL[node.status]) or "—"
            row["why"] = "; ".join(self.why_parts(node, trace))
            rows.append(row)
        return rows

    def why_parts(self, node: Node, trace: Trace) -> list[str]:
        """The reasons for the decision about `node`: verdicts, rank, revision, cut."""
        parts = []
        for check in (c for c in trace.children(node.id) if c.kind == NodeKind.VERIFICATION):
            threshold = check.meta.get("threshold")
            against = f" (threshold {threshold:g})" if isinstance(threshold, int | float) else ""
            verdict = "accepted" if check.status == NodeStatus.ACCEPTED else "rejected"
            parts.append(f"{check.meta.get('verifier', 'verifier')} {verdict}: "
                         f"{check.text}{against}")
        if "rank" in node.meta:
            parts.append(f"ranked {node.meta['rank']} by "
                         f"{trace.params.get('scorer', 'the scorer')}")
        if node.kind == NodeKind.REVISION and node.status == NodeStatus.KEPT:
            parts.append("scored at least as high as the solution it revised")
        elif node.kind == NodeKind.REVISION and node.status == NodeStatus.REJECTED:
            parts.append("scored lower than the solution it revised, or lost its answer")
        if node.answer is None and node.text:
            parts.append("no answer found")
        if node.cut:
            parts.append("cut off at the token limit")
        if node.chosen and trace.reason:
            parts.append(trace.reason)
        return parts
