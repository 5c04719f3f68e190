"""Writing a view's blocks (lab.views.blocks) as HTML, for the report to hand out
(lab/evaluation/handout.py): the same description the app draws, everything open and no
widgets. Classes come from the report's style sheet (box, grid, chain, muted)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

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

NOTE_CLASS = {"info": "muted", "success": "right", "warning": "wrong", "error": "wrong"}
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def blocks_html(blocks: Sequence[Block]) -> str:
    return "".join(block_html(block) for block in blocks)


def block_html(block: Block) -> str:  # noqa: C901 - one branch per kind of block
    if isinstance(block, Heading):
        return f"<h3>{html.escape(block.text)}</h3>"
    if isinstance(block, Caption):
        return f'<p class="muted">{html.escape(block.text)}</p>'
    if isinstance(block, Markdown):
        return f"<p>{markdown_html(block.text)}</p>"
    if isinstance(block, Html):
        return block.html
    if isinstance(block, Code):
        return f'<pre class="code"><code>{html.escape(block.text)}</code></pre>'
    if isinstance(block, Note):
        return f'<p class="{NOTE_CLASS[block.tone]}">{html.escape(block.text)}</p>'
    if isinstance(block, Table):
        return table_html(block.rows)
    if isinstance(block, Figure):
        return figure_html(block.figure)
    if isinstance(block, Panel):
        return panel_html(block)
    if isinstance(block, Grid):
        return f'<div class="grid">{"".join(panel_html(p) for p in block.panels)}</div>'
    if isinstance(block, Expander):
        return (f"<details open><summary>{html.escape(block.title)}</summary>"
                f'<div class="box">{blocks_html(block.body)}</div></details>')
    raise TypeError(f"not a block: {block!r}")


def panel_html(panel: Panel) -> str:
    body = blocks_html(panel.body)
    if panel.height is not None:
        body = f'<div class="chain">{body}</div>'
    caption = f'<div class="muted">{html.escape(panel.caption)}</div>' if panel.caption else ""
    return f'<div class="box"><div>{markdown_html(panel.title)}</div>{body}{caption}</div>'


def markdown_html(text: str) -> str:
    """The two marks views use, **bold** and `code`, as HTML; everything else escaped."""
    escaped = html.escape(text)
    return _CODE.sub(r"<code>\1</code>", _BOLD.sub(r"<b>\1</b>", escaped))


def table_html(rows: Sequence[Mapping[str, object]]) -> str:
    if not rows:
        return ""
    header = list(rows[0])
    return html_table(header, [[_cell(row.get(name)) for name in header] for row in rows])


def figure_html(figure: Any) -> str:
    """A figure's div and script, for a page that has Plotly's JavaScript already."""
    return str(figure.to_html(full_html=False, include_plotlyjs=False,
                              config={"displaylogo": False, "responsive": True}))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
