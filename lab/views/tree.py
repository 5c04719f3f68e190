"""The tree view: the search tree of beam and tree search as a Plotly node-link drawing.

Nodes are coloured by their value (a tree search's backed-up value, else the scorer's score),
pruned nodes are faded, and the chosen path is outlined. In the app, clicking a node (or
picking it in the list below the drawing) shows its step text and scores; every node is also
listed under its parent (the report's way to read the steps).
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from lab.trace import Node, NodeKind, NodeStatus, Trace, TraceView
from lab.trace_html import node_tree_html
from lab.views.base import STATUS_LABEL, Canvas, View
from lab.views.blocks import (
    Block,
    Caption,
    Code,
    Expander,
    Figure,
    Heading,
    Html,
    Markdown,
    Pick,
    Table,
)


class TreeView(View):
    name = TraceView.TREE
    summary = "The search tree: each step coloured by its value, the chosen path outlined."
    order = 30

    def applies(self, trace: Trace) -> bool:
        return any(n.kind == NodeKind.STEP for n in trace.nodes)

    def describe(self, trace: Trace, canvas: Canvas) -> Sequence[Block]:
        nodes = tree_nodes(trace)
        if not any(n.kind == NodeKind.STEP for n in nodes):
            return []
        how = ("details appear when the run ends" if canvas.live
               else "the nodes are listed below it" if canvas.report
               else "click a node to see its step")
        figure = tree_figure(trace, nodes, layout(nodes))
        blocks: list[Block] = [
            Heading("Search tree"),
            Caption("Colour: value · faded: pruned · red outline: the chosen path · " + how)]
        if canvas.live:
            return [*blocks, Figure(figure, key=f"{canvas.key}-tree")]
        picks = {n.id: Pick(_option(n), node_details(n)) for n in nodes}
        blocks.append(Figure(figure, key=f"{canvas.key}-tree", picks=picks,
                             default_pick=_default_node(nodes)))
        blocks.append(Expander("Every node under its parent", [Html(node_tree_html(trace))],
                               key=f"{canvas.key}-nodes", expanded=canvas.report))
        return blocks


SYMBOL = {NodeKind.PROMPT: "diamond", NodeKind.STEP: "circle", NodeKind.CHAIN: "square",
          NodeKind.ANSWER: "star"}
Positions = dict[int, tuple[float, float]]


def tree_nodes(trace: Trace) -> list[Node]:
    """The nodes drawn: the prompt, steps, rollouts and the answer (not verifier verdicts)."""
    return [n for n in list(trace.nodes) if n.kind in SYMBOL]


def value_of(node: Node, scorer: str | None) -> float | None:
    if isinstance(node.meta.get("value"), int | float) and node.kind != NodeKind.PROMPT:
        return float(node.meta["value"])
    scores = dict(node.scores)  # a copy: a live run may be adding to it
    if scorer and scorer in scores:
        return scores[scorer]
    return next(iter(scores.values()), None)


def layout(nodes: Sequence[Node]) -> Positions:
    """Leaves side by side, each parent centred over its children; depth downwards."""
    ids = {n.id for n in nodes}
    children: dict[int | None, list[Node]] = {}
    for node in nodes:
        parent = node.parent if node.parent in ids else None
        children.setdefault(parent, []).append(node)
    positions: Positions = {}
    next_leaf = [0.0]

    def place(node: Node, depth: int) -> float:
        kids = children.get(node.id, [])
        if kids:
            xs = [place(kid, depth + 1) for kid in kids]
            x = (xs[0] + xs[-1]) / 2
        else:
            x = next_leaf[0]
            next_leaf[0] += 1
        positions[node.id] = (x, -depth)
        return x

    for root in children.get(None, []):
        place(root, 0)
    return positions


def tree_figure(trace: Trace, nodes: Sequence[Node], positions: Positions) -> go.Figure:
    scorer = trace.params.get("scorer")
    figure = go.Figure()
    for chosen in (False, True):
        figure.add_trace(_edges(nodes, positions, chosen))
    values = [value_of(n, scorer) for n in nodes]
    figure.add_trace(go.Scatter(
        x=[positions[n.id][0] for n in nodes], y=[positions[n.id][1] for n in nodes],
        mode="markers", customdata=[n.id for n in nodes], hoverinfo="text",
        hovertext=[_hover(n, scorer) for n in nodes],
        marker={
            "size": [22 if n.kind == NodeKind.ANSWER else 16 for n in nodes],
            "symbol": [SYMBOL[n.kind] for n in nodes],
            "color": [v if v is not None else float("nan") for v in values],
            "colorscale": "Viridis", "showscale": any(v is not None for v in values),
            "colorbar": {"title": {"text": "value"}, "thickness": 12},
            "opacity": [0.25 if n.status == NodeStatus.PRUNED else 1.0 for n in nodes],
            "line": {"width": [3.5 if n.chosen else 1 for n in nodes],
                     "color": ["#e63946" if n.chosen else "#ffffff" for n in nodes]},
        },
    ))
    depth = -min((y for _, y in positions.values()), default=0)
    figure.update_layout(
        height=max(260, 70 * (depth + 1)), showlegend=False, clickmode="event+select",
        margin={"l": 10, "r": 10, "t": 10, "b": 10}, plot_bgcolor="rgba(0,0,0,0)",
        xaxis={"visible": False}, yaxis={"visible": False},
    )
    return figure


def _edges(nodes: Sequence[Node], positions: Positions, chosen: bool) -> go.Scatter:
    by_id = {n.id: n for n in nodes}
    xs: list[float | None] = []
    ys: list[float | None] = []
    for node in nodes:
        parent = by_id.get(node.parent) if node.parent is not None else None
        if parent is None or (node.chosen and parent.chosen) != chosen:
            continue
        (x0, y0), (x1, y1) = positions[parent.id], positions[node.id]
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    line = {"color": "#e63946", "width": 3.5} if chosen else {"color": "#adb5bd", "width": 1.2}
    return go.Scatter(x=xs, y=ys, mode="lines", line=line, hoverinfo="skip")


def _hover(node: Node, scorer: str | None) -> str:
    value = value_of(node, scorer)
    head = f"#{node.id} {node.kind.value}"
    if value is not None:
        head += f" · value {value:.3f}"
    if node.status != NodeStatus.OPEN:
        head += f" · {STATUS_LABEL[node.status]}"
    text = " ".join(node.text.split())
    return f"{head}<br>{text[:80]}{'…' if len(text) > 80 else ''}"


def _default_node(nodes: Sequence[Node]) -> int:
    chosen_steps = [n for n in nodes if n.chosen and n.kind == NodeKind.STEP]
    return chosen_steps[-1].id if chosen_steps else nodes[0].id


def _option(node: Node) -> str:
    depth = node.meta.get("depth")
    where = f" (depth {depth})" if depth is not None else ""
    mark = " ★" if node.chosen else ""
    return f"#{node.id} {node.kind.value}{where}{mark}: {' '.join(node.text.split())[:60]}"


def node_details(node: Node) -> list[Block]:
    facts = [f"**#{node.id} {node.kind.value}**"]
    if node.status != NodeStatus.OPEN:
        facts.append(STATUS_LABEL[node.status])
    if node.chosen:
        facts.append("★ on the chosen path")
    if node.answer is not None:
        facts.append(f"answer `{node.answer}`")
    blocks: list[Block] = [Markdown(" · ".join(facts)), Code(node.text or "(empty)", None)]
    numbers = {**node.scores, **{k: v for k, v in node.meta.items()
                                 if k in ("depth", "visits", "value") and v is not None}}
    if numbers:
        blocks.append(Table([{"measure": k, "value": v} for k, v in numbers.items()]))
    return blocks
