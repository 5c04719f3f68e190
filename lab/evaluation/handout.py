"""The report to hand out: one self-contained HTML file (Plotly's JavaScript inlined, no
network needed to open it) of a run, a comparison of runs, or an experiment's scaling table
and curve.

A run's report has the problem, the settings, the outcome, the votes, the candidates and
their scores, the chains with their tokens shaded by probability, where the chains part ways
(lab.divergence), the trace's nodes as a nested list (searches, REPL turns) and the compute.
No Streamlit: the app's download buttons (lab/ui/handout.py), `lab runs report` and `lab plot`
all call it.

    page = runs_report([trace], [run_id])  # one run; several traces: a comparison
    page = ledger_report(ledger, [12, 13])
    page = experiment_report(summarize(ledger, "sweep-1"), "sweep-1")
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lab.evaluation.report import Row, problems_named, table_cells
from lab.store.ledger import Ledger
from lab.strategies.registry import views_of
from lab.tasks.problem import Problem
from lab.trace import Trace
from lab.views.base import REPORT
from lab.views.html import blocks_html, figure_html, html_table

if TYPE_CHECKING:
    from plotly.graph_objects import Figure

    from lab.evaluation.figure import XAxis

OTHER, RIGHT, WRONG = "#b8c0c8", "#1b7f3b", "#c62828"
VERDICT = {True: '<b class="right">✓ right</b>', False: '<b class="wrong">✗ wrong</b>',
           None: "not graded"}
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
 margin:0;background:#fff}
main{max-width:76rem;margin:0 auto;padding:1.5rem 1.5rem 3rem}
h1{font-size:1.6rem;margin:.2rem 0 .8rem}h2{font-size:1.3rem;margin:2rem 0 .6rem;
 border-bottom:2px solid #e5e7eb;padding-bottom:.2rem}h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
.box{border:1px solid #d0d7de;border-radius:.5rem;padding:.6rem .9rem;margin:.5rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(22rem,1fr));gap:.8rem}
.chain{max-height:18rem;overflow-y:auto}.muted{color:#57606a;font-size:.85rem}
table{border-collapse:collapse;font-size:.88rem;margin:.4rem 0}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.right{color:#1b7f3b}.wrong{color:#c62828}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
pre.code{background:#f6f8fa;padding:.4rem .6rem;border-radius:.3rem;white-space:pre-wrap;
 font-size:.82rem;margin:.3rem 0}
@media print{.chain{max-height:none}details{display:block}}
"""


# -- documents ----------------------------------------------------------------------------------
def runs_report(traces: Sequence[Trace], run_ids: Sequence[int | None] | None = None,
                title: str | None = None) -> str:
    """One run's report, or a comparison of several (a summary, then each run)."""
    ids = list(run_ids) if run_ids is not None else [None] * len(traces)
    if not traces:
        return document(title or "No runs", "<p>No runs to report.</p>")
    if len(traces) == 1:
        heading = title or _run_heading(traces[0], ids[0])
        return document(heading, run_section(traces[0], ids[0], heading=None))
    heading = title or f"Comparison of {len(traces)} runs"
    return document(heading, comparison_body(traces, ids))


def ledger_report(ledger: Ledger, run_ids: Sequence[int], title: str | None = None) -> str:
    """The report of stored runs (raises the ledger's UnknownRun for an id it lacks)."""
    return runs_report([ledger.load_trace(i) for i in run_ids], list(run_ids), title)


def experiment_report(rows: Sequence[Row], title: str, x: XAxis = "generated",
                      figure: Figure | None = None) -> str:
    """An experiment's scaling curve and table."""
    from lab.evaluation.figure import scaling_figure

    figure = figure if figure is not None else scaling_figure(rows, "", x)
    header, body = table_cells(rows)
    notes = ("One line per strategy; error bars are 95% Wilson intervals; dashed lines are "
             "pass@k (an oracle that knows the answer)."
             + (" * rows are derived from the chains of the largest n (sample reuse)."
                if any(r.derived for r in rows) else ""))
    models = ", ".join(sorted({r.model for r in rows}))
    parts = [f'<p class="muted">Ran on {html.escape("; ".join(problems_named(rows)))} · '
             f"model {html.escape(models)}</p>",
             "<h2>Accuracy against compute</h2>", figure_html(figure),
             f'<p class="muted">{notes}</p>', "<h2>Scaling table</h2>", html_table(header, body),
             _paired_section(rows)]
    return document(title, "".join(parts))


def _paired_section(rows: Sequence[Row]) -> str:
    """Every point against the greedy baseline, on the problems both ran."""
    from lab.evaluation.paired import (
        PAIRED_COLUMNS,
        against_baseline,
        default_baseline,
        describe_row,
        paired_cells,
    )

    baseline = default_baseline(rows)
    pairs = against_baseline(rows, baseline) if baseline is not None else []
    if baseline is None or not pairs:
        return ""
    unshown = sum(not found.shown for _, found in pairs)
    note = (f"Each point minus {describe_row(baseline)} on the problems both ran: the mean of "
            "the per-problem differences with its 95% interval. ")
    if unshown:
        note += f"{unshown} of {len(pairs)} intervals span 0: no difference shown on them."
    return (f"<h2>Against {html.escape(describe_row(baseline))}, problem by problem</h2>"
            + html_table(list(PAIRED_COLUMNS), paired_cells(pairs))
            + f'<p class="muted">{html.escape(note)}</p>')


def document(title: str, body: str) -> str:
    """A whole HTML page; Plotly's JavaScript inlined when the body has a figure."""
    script = ""
    if 'class="plotly-graph-div"' in body:
        from plotly.offline import get_plotlyjs

        script = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style>{script}</head>"
            f"<body><main><h1>{html.escape(title)}</h1>{body}"
            f'<p class="muted">Made by the Inference Scaling Lab, {made}.</p>'
            "</main></body></html>")


def report_name(run_ids: Sequence[int | None]) -> str:
    """A file name for the report of these runs: run-12.html, runs-12-13.html."""
    known = [str(i) for i in run_ids if i is not None]
    if not known:
        return "run.html" if len(run_ids) <= 1 else "runs.html"
    return f"run-{known[0]}.html" if len(run_ids) == 1 else f"runs-{'-'.join(known)}.html"


# -- a comparison -----------------------------------------------------------------------------
def comparison_body(traces: Sequence[Trace], ids: Sequence[int | None]) -> str:
    shared = len({_problem_key(t.problem) for t in traces}) == 1
    parts = [problem_html(traces[0].problem)] if shared else []
    parts += ["<h2>Summary</h2>", _comparison_table(traces, ids),
              figure_html(comparison_figure(traces, ids))]
    parts += [run_section(t, i, heading=_run_heading(t, i), show_problem=not shared)
              for t, i in zip(traces, ids, strict=True)]
    return "".join(parts)


def _comparison_table(traces: Sequence[Trace], ids: Sequence[int | None]) -> str:
    header = ["run", "strategy", "settings", "answer", "graded", "generated tokens",
              "prompt tokens", "wall s", "calls"]
    rows = [[f"#{i}" if i is not None else "-", t.strategy, _settings(t),
             t.final_answer or "—", {True: "✓", False: "✗", None: "—"}[t.correct],
             f"{t.compute.all_generated:,}", f"{t.compute.prompt_tokens:,}",
             f"{t.compute.wall_s:.1f}", str(t.compute.engine_calls)]
            for t, i in zip(traces, ids, strict=True)]
    return html_table(header, rows)


def comparison_figure(traces: Sequence[Trace], ids: Sequence[int | None]) -> Figure:
    """Generated tokens per run, green when the answer was right, red when wrong."""
    import plotly.graph_objects as go

    names = [f"{t.strategy} #{i}" if i is not None else f"{t.strategy} ({n})"
             for n, (t, i) in enumerate(zip(traces, ids, strict=True), 1)]
    colours = [{True: RIGHT, False: WRONG, None: OTHER}[t.correct] for t in traces]
    figure = go.Figure(go.Bar(
        x=names, y=[t.compute.all_generated for t in traces], marker={"color": colours},
        text=[f"{t.final_answer or 'no answer'}" for t in traces], textposition="outside",
        cliponaxis=False, hovertemplate="%{x}<br>%{y} generated tokens<extra></extra>"))
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         title={"text": "Generated tokens (green: right, red: wrong)",
                                "font": {"size": 14}},
                         xaxis={"type": "category"}, yaxis={"title": "generated tokens"},
                         template="plotly_white")
    return figure


# -- one run ----------------------------------------------------------------------------------
def run_section(trace: Trace, run_id: int | None, heading: str | None,
                show_problem: bool = True) -> str:
    """Everything about one run, in the order the app draws it: the same views, written as
    HTML (lab.views.html)."""
    parts = [f"<h2>{html.escape(heading)}</h2>"] if heading else []
    if show_problem:
        parts.append(problem_html(trace.problem))
    parts += [settings_html(trace, run_id), outcome_html(trace)]
    parts += [blocks_html(view.describe(trace, REPORT)) for view in views_of(trace)]
    parts.append(compute_html(trace))
    return f'<section>{"".join(parts)}</section>'


def problem_html(problem: Problem) -> str:
    gold = (f'<p class="muted">Correct answer: <code>{html.escape(problem.gold)}</code></p>'
            if problem.gold is not None else "")
    return (f'<div class="box"><b>{html.escape(problem.source)} · {html.escape(problem.id)}</b>'
            f'<p style="white-space:pre-wrap">{html.escape(problem.question)}</p>{gold}</div>')


def settings_html(trace: Trace, run_id: int | None) -> str:
    rows = [("run", f"#{run_id}" if run_id is not None else "not stored"),
            ("strategy", trace.strategy), ("model", trace.model or "-"),
            ("settings", _settings(trace) or "defaults"),
            ("budget", f"{trace.budget:,} tokens" if trace.budget is not None else "none"),
            ("seed", str(trace.seed)), ("status", str(trace.status))]
    return html_table(["setting", "value"], [list(r) for r in rows])


def outcome_html(trace: Trace) -> str:
    parts = []
    if trace.error:
        parts.append(f'<p class="wrong">The run failed: {html.escape(trace.error)}</p>')
    if trace.final_answer is None:
        parts.append("<p><b>No answer.</b></p>")
    else:
        parts.append(f"<p><b>Answer: <code>{html.escape(trace.final_answer)}</code></b> · "
                     f"{VERDICT[trace.correct]}</p>")
    if trace.reason:
        parts.append(f'<p class="muted">Why: {html.escape(trace.reason)}</p>')
    return f'<div class="box">{"".join(parts)}</div>'


def compute_html(trace: Trace) -> str:
    c = trace.compute
    rows = [["generated tokens (all)", f"{c.all_generated:,}"],
            ["of which model verdicts", f"{c.verdict_tokens:,}"],
            ["prompt tokens decoded", f"{c.prompt_tokens:,}"],
            ["prompt tokens from the cache", f"{c.cached_prompt_tokens:,}"],
            ["engine calls", f"{c.engine_calls:,}"], ["wall time", f"{c.wall_s:.1f} s"]]
    rows += [[f"generated by {kind}", f"{count:,}"] for kind, count in c.generated_by.items()]
    return "<h3>Compute</h3>" + html_table(["measure", "value"], rows)


# -- helpers ------------------------------------------------------------------------------------
def _run_heading(trace: Trace, run_id: int | None) -> str:
    number = f"Run #{run_id} · " if run_id is not None else ""
    return f"{number}{trace.strategy} on {trace.problem.id}"


def _settings(trace: Trace) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(trace.params.items()))


def _problem_key(problem: Problem) -> tuple[str, str, str]:
    return problem.source, problem.id, problem.question


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"
