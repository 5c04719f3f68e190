"""The scaling figure: accuracy against mean generated tokens per problem (model verdicts
included), or against all decoded tokens (prompts too), one line per strategy (dashed:
pass@k, the oracle that knows the gold answer), 95% intervals as error bars. `lab plot` and
the app's Scaling page draw the same figure from the same rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from lab.evaluation.report import Row

if TYPE_CHECKING:
    from plotly.graph_objects import Figure


XAxis = Literal["generated", "decoded"]
X_TITLES: dict[str, str] = {
    "generated": "mean generated tokens per problem (log scale)",
    "decoded": "mean decoded tokens per problem, prompts included (log scale)",
}


class FigureError(RuntimeError):
    """The figure cannot be written; the message is one line for the user."""


def x_value(row: Row, x: XAxis = "generated") -> float:
    """The row's compute on the chosen axis: generated tokens, or all decoded tokens."""
    return row.decoded if x == "decoded" else row.tokens


def scaling_figure(rows: Sequence[Row], title: str = "", x: XAxis = "generated") -> Figure:
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    figure = go.Figure()
    prefix = _prefixes(rows)
    position = {id(row): i for i, row in enumerate(rows)}  # a clicked point names its row
    palette = qualitative.Plotly
    colors: dict[str, str] = {}
    for (_, _, name), points in _series(rows).items():
        points = sorted(points, key=lambda r: x_value(r, x))
        oracle = points[0].metric == "pass@k"
        color = colors.setdefault(points[0].strategy, palette[len(colors) % len(palette)])
        figure.add_trace(go.Scatter(
            x=[x_value(r, x) for r in points],
            y=[r.accuracy for r in points],
            mode="lines+markers" if oracle else "lines+markers+text",
            name=prefix(points[0]) + name,
            line={"color": color, "dash": "dash", "width": 1} if oracle else {"color": color},
            marker={"color": color, "size": 5 if oracle else 8},
            error_y={"type": "data", "symmetric": False, "thickness": 1 if oracle else 1.5,
                     "array": [(r.high or 0) - (r.accuracy or 0) for r in points],
                     "arrayminus": [(r.accuracy or 0) - (r.low or 0) for r in points]},
            text=[r.label for r in points],
            textposition="top left",
            textfont={"size": 10, "color": color},
            hovertext=[_hover(r) for r in points],
            hoverinfo="text",
            customdata=[position[id(r)] for r in points],
        ))
    figure.update_layout(
        title=title or None,
        xaxis={"title": X_TITLES[x], "type": "log",
               "tickvals": _ticks([x_value(r, x) for r in rows])},
        yaxis={"title": "accuracy (95% interval)", "range": [0, 1.05]},
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 50 if title else 20, "b": 50},
    )
    return figure


def save_figure(figure: Figure, out: Path) -> None:
    """Write the figure as .html (self-contained: plotly.js inlined, no network needed) or
    .png."""
    suffix = out.suffix.lower()
    if suffix == ".html":
        figure.write_html(out, include_plotlyjs=True)
        return
    if suffix != ".png":
        raise FigureError(f"--out must end in .html or .png (got {out.name})")
    try:
        figure.write_image(out, width=900, height=560, scale=2)
    except Exception as exc:  # kaleido missing, or it found no Chrome
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FigureError(f"cannot write {out.name}: {detail[:160].rstrip(',.')} (PNG needs the "
                          "kaleido package and a Chrome or Chromium); write "
                          f"{out.with_suffix('.html').name} instead") from exc


def _series(rows: Sequence[Row]) -> dict[tuple[str, str, str], list[Row]]:
    series: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        if row.accuracy is not None:
            series.setdefault((row.problem_set, row.model, row.series), []).append(row)
    return series


def _prefixes(rows: Sequence[Row]) -> Callable[[Row], str]:
    """Set and model names go in front of the line names when the rows have several."""
    many_sets = len({r.problem_set for r in rows}) > 1
    many_models = len({r.model for r in rows}) > 1

    def prefix(row: Row) -> str:
        parts = ([row.problem_set] if many_sets else []) + ([row.model] if many_models else [])
        return " · ".join(parts) + " · " if parts else ""

    return prefix


def _ticks(points: Sequence[float]) -> list[float]:
    """1-2-5 steps across the data: plain numbers on the log axis."""
    values = [v for v in points if v > 0]
    if not values:
        return []
    low, high = min(values) / 2, max(values) * 2
    steps = [m * 10**e for e in range(0, 8) for m in (1, 2, 5)]
    return [v for v in steps if low <= v <= high]


def _hover(row: Row) -> str:
    metric = row.metric_label
    derived = " (derived)" if row.derived else ""
    return (f"{row.strategy} {row.label}<br>{metric}{derived}: {row.accuracy:.3f} "
            f"[{row.low:.3f}, {row.high:.3f}]<br>{row.tokens:.0f} generated tokens/problem, "
            f"{row.prompt_tokens:.0f} prompt tokens decoded, {row.problems} problems")
