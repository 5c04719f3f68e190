"""The search tree of beam and tree search as a Plotly node-link drawing.

Nodes are coloured by their value (a tree search's backed-up value, else the scorer's score),
pruned nodes are faded, and the chosen path is outlined. Clicking a node (or picking it in
the list below the drawing) shows its step text and scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from lab.trace import Node, NodeKind, NodeStatus, Trace
from lab.ui.view import STATUS_LABEL, View

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


# -- the page element ---------------------------------------------------------------------------
def search_tree(trace: Trace, view: View) -> None:
    nodes = tree_nodes(trace)
    st.markdown("##### Search tree")
    st.caption("Colour: value · faded: pruned · red outline: the chosen path · "
               + ("details appear when the run ends" if view.live
                  else "click a node to see its step"))
    figure = tree_figure(trace, nodes, layout(nodes))
    if view.live:
        st.plotly_chart(figure, key=f"{view.key}-tree", config={"displayModeBar": False})
        return
    event = st.plotly_chart(figure, key=f"{view.key}-tree", on_select="rerun",
                            selection_mode="points", config={"displayModeBar": False})
    pick_key = f"{view.key}-tree-node"
    _apply_click(event, pick_key)
    ids = [n.id for n in nodes]
    if st.session_state.get(pick_key) not in ids:
        st.session_state[pick_key] = _default_node(trace, nodes)
    chosen = st.selectbox("Node", ids, key=pick_key,
                          format_func=lambda i: _option(trace.node(i), trace))
    node_details(trace, trace.node(chosen))


def _apply_click(event: Any, pick_key: str) -> None:
    """A new click on a node selects it in the node list (once, so the list stays usable)."""
    points = (event or {}).get("selection", {}).get("points", [])
    clicked = [p["customdata"] for p in points if isinstance(p.get("customdata"), int)]
    last_key = f"{pick_key}-click"
    if clicked and clicked[0] != st.session_state.get(last_key):
        st.session_state[pick_key] = clicked[0]
    st.session_state[last_key] = clicked[0] if clicked else None


def _default_node(trace: Trace, nodes: Sequence[Node]) -> int:
    chosen_steps = [n for n in nodes if n.chosen and n.kind == NodeKind.STEP]
    return chosen_steps[-1].id if chosen_steps else nodes[0].id


def _option(node: Node, trace: Trace) -> str:
    depth = node.meta.get("depth")
    where = f" (depth {depth})" if depth is not None else ""
    mark = " ★" if node.chosen else ""
    return f"#{node.id} {node.kind.value}{where}{mark}: {' '.join(node.text.split())[:60]}"


def node_details(trace: Trace, node: Node) -> None:
    with st.container(border=True):
        facts = [f"**#{node.id} {node.kind.value}**"]
        if node.status != NodeStatus.OPEN:
            facts.append(STATUS_LABEL[node.status])
        if node.chosen:
            facts.append("★ on the chosen path")
        if node.answer is not None:
            facts.append(f"answer `{node.answer}`")
        st.markdown(" · ".join(facts))
        st.code(node.text or "(empty)", language=None, wrap_lines=True)
        numbers = {**node.scores, **{k: v for k, v in node.meta.items()
                                     if k in ("depth", "visits", "value") and v is not None}}
        if numbers:
            st.dataframe([{"measure": k, "value": v} for k, v in numbers.items()],
                         hide_index=True)
