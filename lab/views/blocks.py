"""What a view of a trace draws, described as plain data: headings, captions, tables, code,
figures, chain panels. The app draws a description with Streamlit (lab/ui/blocks.py) and the
report to hand out writes the same description as HTML (lab/views/html.py), so the page and
the report cannot drift apart.

A block holds text, HTML made by lab/trace_html.py, rows, or a Plotly figure; it never holds
a Streamlit call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Tone = Literal["info", "success", "warning", "error"]


@dataclass(frozen=True)
class Heading:
    text: str  # plain text


@dataclass(frozen=True)
class Caption:
    text: str  # plain text, muted


@dataclass(frozen=True)
class Markdown:
    text: str  # **bold** and `code` only: the report turns those two into HTML


@dataclass(frozen=True)
class Html:
    html: str  # inline-styled HTML (lab/trace_html.py makes it)


@dataclass(frozen=True)
class Code:
    text: str
    language: str | None = "python"


@dataclass(frozen=True)
class Note:
    text: str  # plain text in a coloured box
    tone: Tone = "info"


@dataclass(frozen=True)
class Table:
    rows: Sequence[Mapping[str, object]]  # one dict per row, the same keys in each


@dataclass(frozen=True)
class Pick:
    """What a click on one point of a figure shows."""

    label: str  # its line in the list of points beside the figure
    body: Sequence[Block]


@dataclass(frozen=True)
class Figure:
    figure: Any  # a plotly.graph_objects.Figure
    key: str
    # customdata of a point -> what clicking it shows (the app only; the report draws the
    # figure, and the same facts elsewhere)
    picks: Mapping[int, Pick] = field(default_factory=dict)
    default_pick: int | None = None


@dataclass(frozen=True)
class Panel:
    title: str  # **bold** and `code` only
    body: Sequence[Block]
    caption: str = ""
    key: str = ""
    height: int | None = None  # a scrolling body this many pixels high (the app)


@dataclass(frozen=True)
class Grid:
    panels: Sequence[Panel]
    per_row: int = 3


@dataclass(frozen=True)
class Expander:
    title: str
    body: Sequence[Block]
    key: str = ""
    icon: str | None = None  # a Material icon name for the app, e.g. "account_tree"
    expanded: bool = False


Block = Heading | Caption | Markdown | Html | Code | Note | Table | Figure | Panel | Grid | Expander
