"""Drawing a view's blocks (lab.views.blocks) with Streamlit: the one place the app turns a
description of a trace into page elements."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import streamlit as st

from lab.views.blocks import (
    Block,
    Caption,
    Code,
    Expander,
    Figure,
    Grid,
    Heading,
    Html,
    Markdown,
    Note,
    Panel,
    Table,
)

CHART_CONFIG = {"displayModeBar": False}


def draw_blocks(blocks: Sequence[Block]) -> None:
    for block in blocks:
        draw_block(block)


def draw_block(block: Block) -> None:  # noqa: C901 - one branch per kind of block
    if isinstance(block, Heading):
        st.markdown(f"##### {block.text}")
    elif isinstance(block, Caption):
        st.caption(block.text)
    elif isinstance(block, Markdown):
        st.markdown(block.text)
    elif isinstance(block, Html):
        st.html(block.html)
    elif isinstance(block, Code):
        st.code(block.text, language=block.language, wrap_lines=block.language is None)
    elif isinstance(block, Note):
        _note(block)
    elif isinstance(block, Table):
        st.dataframe(list(block.rows), hide_index=True, width="stretch")
    elif isinstance(block, Figure):
        _figure(block)
    elif isinstance(block, Panel):
        _panel(block)
    elif isinstance(block, Grid):
        for row in _rows(block.panels, block.per_row):
            for column, panel in zip(st.columns(block.per_row), row, strict=False):
                with column:
                    _panel(panel)
    elif isinstance(block, Expander):
        icon = f":material/{block.icon}:" if block.icon else None
        with st.expander(block.title, expanded=block.expanded, icon=icon,
                         key=block.key or None):
            draw_blocks(block.body)


def _note(note: Note) -> None:
    {"info": st.info, "success": st.success, "warning": st.warning,
     "error": st.error}[note.tone](note.text)


def _panel(panel: Panel) -> None:
    with st.container(border=True, key=panel.key or None):
        st.markdown(panel.title)
        if panel.height is not None:
            with st.container(height=panel.height, border=False):
                draw_blocks(panel.body)
        else:
            draw_blocks(panel.body)
        if panel.caption:
            st.caption(panel.caption)


def _figure(figure: Figure) -> None:
    """A chart; with picks, a click on a point (or its line in the list below) shows what
    that point holds."""
    if not figure.picks:
        st.plotly_chart(figure.figure, key=figure.key, config=CHART_CONFIG)
        return
    event = st.plotly_chart(figure.figure, key=figure.key, on_select="rerun",
                            selection_mode="points", config=CHART_CONFIG)
    pick_key = f"{figure.key}-node"
    _apply_click(event, pick_key)
    ids = list(figure.picks)
    if st.session_state.get(pick_key) not in ids:
        st.session_state[pick_key] = figure.default_pick if figure.default_pick in ids else ids[0]
    chosen = st.selectbox("Node", ids, key=pick_key,
                          format_func=lambda i: figure.picks[i].label)
    with st.container(border=True):
        draw_blocks(figure.picks[chosen].body)


def _apply_click(event: Any, pick_key: str) -> None:
    """A new click on a point selects it in the list (once, so the list stays usable)."""
    points = (event or {}).get("selection", {}).get("points", [])
    clicked = [p["customdata"] for p in points if isinstance(p.get("customdata"), int)]
    last_key = f"{pick_key}-click"
    if clicked and clicked[0] != st.session_state.get(last_key):
        st.session_state[pick_key] = clicked[0]
    st.session_state[last_key] = clicked[0] if clicked else None


def _rows(panels: Sequence[Panel], size: int) -> Iterator[Sequence[Panel]]:
    for start in range(0, len(panels), size):
        yield panels[start : start + size]
