"""`lab runs`: list, show, export, report and delete the runs stored in the ledger."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from lab.commands.common import fail, print_json
from lab.store import Ledger, LedgerError, RunSummary
from lab.trace import Node, Trace, TraceStatus

STATUSES = [str(s) for s in TraceStatus]
T = TypeVar("T")


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The filters `list` and `export` share."""
    options = [
        click.option("--strategy", help="Only runs of this strategy."),
        click.option("--model", help="Only runs of this model (registry name)."),
        click.option("--problem-set", help="Only runs on this problem set."),
        click.option("--experiment", help="Only runs of this experiment (sweep)."),
        click.option("--status", multiple=True, type=click.Choice(STATUSES),
                     help="Only runs with this status (repeatable)."),
        click.option("--correct/--wrong", "correct", default=None,
                     help="Only runs graded correct (or wrong)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group()
def runs() -> None:
    """List, show, export, report and delete stored runs."""


@runs.command("list")
@filter_options
@click.option("--limit", default=50, show_default=True, help="Newest runs shown (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_runs(limit: int, as_json: bool, **filters: Any) -> None:
    """List stored runs, newest first."""
    with _open_ledger() as ledger:
        summaries = _guard(lambda: ledger.list_runs(limit=limit or None, **_filters(filters)))
        location = ledger.location
    if as_json:
        print_json([s.to_dict() for s in summaries])
        return
    console = Console()
    if not summaries:
        console.print(f"No runs stored in {location}.", markup=False)
        return
    table, left_out = _runs_table(summaries, console.width)
    console.print(table)
    console.print(f"{len(summaries)} run(s){left_out} from {location}", markup=False,
                  style="dim")


@runs.command("show")
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the run and its whole trace.")
def show_run(run_id: int, as_json: bool) -> None:
    """Show one run: its summary and the tree of its trace."""
    with _open_ledger() as ledger:
        summary = _guard(lambda: ledger.get_run(run_id))
        trace = _guard(lambda: ledger.load_trace(run_id))
    if as_json:
        print_json({**summary.to_dict(), "trace": trace.to_dict()})
        return
    console = Console()
    for line in _summary_lines(summary, trace):  # the terminal wraps, not rich: a long
        console.print(line, markup=False, highlight=False, soft_wrap=True)  # path stays whole
    if trace.nodes:
        console.print(_node_tree(trace))


@runs.command("export")
@filter_options
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True, help="jsonl: each run with its trace; csv: one row a run.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="File to write (default: standard output).")
def export_runs(fmt: str, out: str | None, **filters: Any) -> None:
    """Export runs (all, or those the filters pick), oldest first."""
    with _open_ledger() as ledger:
        export = ledger.export_jsonl if fmt == "jsonl" else ledger.export_csv
        count = _guard(lambda: export(out or sys.stdout, **_filters(filters)))
    if out:
        click.echo(f"exported {count} run(s) to {out}", err=True)


@runs.command("report")
@click.argument("run_ids", type=int, nargs=-1, required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="FILE.html to write (default: run-ID.html, or runs-ID-ID.html).")
@click.option("--title", default=None, help="The report's title.")
def report_runs(run_ids: tuple[int, ...], out: Path | None, title: str | None) -> None:
    """Write one self-contained HTML file of runs (one run, or several compared) to hand
    out: it opens with no network."""
    from lab.evaluation.handout import ledger_report, report_name

    if out is not None and out.suffix.lower() not in (".html", ".htm"):
        fail(f"--out must end in .html (got {out.name})")
    with _open_ledger() as ledger:
        page = _guard(lambda: ledger_report(ledger, run_ids, title))
    out = out or Path(report_name(run_ids))
    out.write_text(page, encoding="utf-8")
    click.echo(f"wrote {out}")


@runs.command("delete")
@click.argument("run_ids", type=int, nargs=-1, required=True)
def delete_runs(run_ids: tuple[int, ...]) -> None:
    """Delete runs (with their traces) by id."""
    with _open_ledger() as ledger:
        for run_id in run_ids:
            _guard(partial(ledger.delete_run, run_id))
            click.echo(f"deleted run {run_id}")


def _open_ledger() -> Ledger:
    return _guard(Ledger)


def _guard(action: Callable[[], T]) -> T:
    """Run a ledger call; a LedgerError ends the command with its one-line message."""
    try:
        return action()
    except LedgerError as exc:
        fail(str(exc))


def _filters(options: dict[str, Any]) -> dict[str, Any]:
    filters = {k: v for k, v in options.items() if v is not None}
    filters["status"] = list(options["status"]) or None
    return filters


RUN_COLUMNS = ("id", "age", "strategy", "model", "problem", "status", "answer", "tokens")
# The columns that give way, widest first, when the table is wider than the terminal, and the
# narrowest each may become; the others are never cut. A cut cell shows "…" where text went:
# a model keeps its ends (the size is at the end), a problem its end (the number that tells
# problems apart), an answer its mark, anything else its start.
SHRINKABLE = {"model": 10, "strategy": 10, "answer": 6, "problem": 18}
CLIP = {"model": "middle", "problem": "start"}


def _runs_table(summaries: list[RunSummary], width: int) -> tuple[Table, str]:
    """One line a run, fitted to `width` columns (the terminal's), and what the table leaves
    out: the model, when every run listed has the same one (said once, under the table)."""
    rows = [_run_cells(s) for s in summaries]
    models = {r["model"] for r in rows}
    columns = [c for c in RUN_COLUMNS if c != "model" or len(models) > 1]
    widths, gap = _fit_widths(rows, columns, width)
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1, 0, gap - 1))
    for column in columns:
        numeric = column in ("id", "age", "tokens")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True,
                         overflow="ellipsis")
    for cells in rows:
        table.add_row(*(Text(_clip(cells[c], widths[c], CLIP.get(c, "end"))) for c in columns))
    return table, "" if len(models) > 1 else f" of model {models.pop()}"


def _run_cells(s: RunSummary) -> dict[str, str]:
    return {
        "id": str(s.id),
        "age": _age(s.created),
        "strategy": s.strategy,
        "model": s.model or "-",
        "problem": problem_label(s.problem_set, s.problem_id),
        "status": str(s.status),
        "answer": f"{_short(s.answer or '', 20)} {_mark(s.correct)}",
        "tokens": str(s.generated_tokens),
    }


def _age(created: datetime) -> str:
    """How long ago, in its largest unit: 45s, 12m, 5h (up to two days), 3d, 2y."""
    seconds = max(0, int((datetime.now(UTC) - created).total_seconds()))
    for unit, size, below in (("s", 1, 60), ("m", 60, 3600), ("h", 3600, 172_800),
                              ("d", 86_400, 365 * 86_400)):
        if seconds < below:
            return f"{seconds // size}{unit}"
    return f"{seconds // (365 * 86_400)}y"


def _fit_widths(rows: list[dict[str, str]], columns: list[str],
                width: int) -> tuple[dict[str, int], int]:
    """Each column's width and the gap between columns (two spaces, one where that is too
    wide) that fit `width`, as far as cutting the SHRINKABLE columns allows."""
    widths = {c: max([cell_len(c)] + [cell_len(r[c]) for r in rows]) for c in columns}
    gap = 2
    excess = sum(widths.values()) + gap * (len(columns) - 1) - width
    if excess > 0:
        gap, excess = 1, excess - (len(columns) - 1)
    while excess > 0:  # one cell at a time off the widest column that may still give way
        shrinkable = [c for c in SHRINKABLE if c in widths and widths[c] > SHRINKABLE[c]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda c: widths[c])
        widths[widest] -= 1
        excess -= 1
    return widths, gap


def _clip(text: str, width: int, cut: str = "end") -> str:
    """`text` in `width` cells, cut at its "end", "start" or "middle"."""
    if cell_len(text) <= width:
        return text
    if cut == "start":
        return "…" + text[len(text) - width + 1:]
    if cut == "middle":
        head = (width - 1) // 2
        return text[:head] + "…" + text[len(text) - (width - 1 - head):]
    if text[-2:] in (" ✓", " ✗", " -"):  # an answer keeps its mark
        return text[: width - 3] + "…" + text[-2:]
    return text[: width - 1] + "…"


def set_name(problem_set: str) -> str:
    """A problem set's short name: `gsm8k` for `gsm8k:/long/path/gsm8k_train.jsonl`, the
    file's stem for a plain `jsonl:`/`csv:` file or a bare path, a built-in set's own name."""
    kind, sep, location = problem_set.partition(":")
    if sep and len(kind) > 1 and location:  # not a Windows drive letter
        return Path(location).stem if kind in ("jsonl", "csv") else kind
    if "/" in problem_set or "\\" in problem_set or Path(problem_set).suffix:
        return Path(problem_set).stem
    return problem_set


def problem_label(problem_set: str, problem_id: str) -> str:
    """The set's short name and the problem's id (`gsm8k:gsm8k_train-00012`), the id alone
    where it already starts with that name (`arith-0007`)."""
    name = set_name(problem_set)
    return problem_id if not name or problem_id.startswith(name) else f"{name}:{problem_id}"


def _summary_lines(summary: RunSummary, trace: Trace) -> list[str]:
    lines = [
        f"run {summary.id}  {summary.status}  created "
        f"{summary.created.astimezone():%Y-%m-%d %H:%M:%S}",
        f"strategy   {summary.strategy} {summary.params}"
        + (f"  budget {summary.budget}" if summary.budget is not None else ""),
        f"model      {summary.model or '-'}  seed {summary.seed}",
        f"problem    {summary.problem_id} of {summary.problem_set}  "
        f"{_short(trace.problem.question)}",
        f"answer     {summary.answer}  gold {summary.gold}  {_mark(summary.correct)}",
        f"compute    {summary.generated_tokens} generated + {summary.verdict_tokens} by verdicts"
        f" + {summary.prompt_tokens} prompt tokens decoded ({summary.cached_prompt_tokens} "
        f"cached), {summary.engine_calls} engine calls, {summary.wall_s:.2f} s",
    ]
    if summary.experiment:
        lines.append(f"experiment {summary.experiment}")
    if trace.votes:
        lines.append(f"votes      {trace.votes}")
    if trace.reason:
        lines.append(f"reason     {trace.reason}")
    if summary.error:
        lines.append(f"error      {summary.error}")
    return lines


def _node_tree(trace: Trace) -> Tree:
    tree = Tree(Text(f"{len(trace.nodes)} nodes"), guide_style="dim")
    branches: dict[int, Tree] = {}
    for node in trace.nodes:  # parents come before their children
        parent = branches.get(node.parent) if node.parent is not None else None
        branches[node.id] = (parent or tree).add(_node_label(node))
    return tree


def _node_label(node: Node) -> Text:
    label = Text(f"#{node.id} {node.kind} ", style="bold")
    label.append(f"[{node.status}]", style="green" if node.chosen else "dim")
    if node.chosen:
        label.append(" chosen", style="green")
    if node.answer is not None:
        label.append(f"  answer {node.answer}")
    if node.scores:
        label.append("  " + " ".join(f"{k}={v:.3g}" for k, v in node.scores.items()))
    label.append(f"  {len(node.tokens)} tok  ", style="dim")
    label.append(_short(node.text))
    return label


def _short(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _mark(correct: bool | None) -> str:
    return {True: "✓", False: "✗", None: "-"}[correct]
