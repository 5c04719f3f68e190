"""`lab problems`: list the built-in sets, show problems, check gold answers, rebuild data/."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from lab.commands.common import fail, print_json
from lab.tasks.datasets import (
    FILE_KINDS,
    ProblemSetError,
    build_sets,
    list_sets,
    load_set_result,
)
from lab.tasks.kinds import kind_names
from lab.tasks.problem import Problem

KINDS = ["auto", *kind_names()]


def column_options(command: Any) -> Any:
    """How to read a generic jsonl/csv file."""
    options = [
        click.option(
            "--question-field",
            help="jsonl/csv: the question column (default: question, problem, prompt, input).",
        ),
        click.option(
            "--answer-field",
            help="jsonl/csv: the gold answer column (default: answer, gold, target, output).",
        ),
        click.option("--id-field", help="jsonl/csv: the id column (default: id or unique_id)."),
        click.option(
            "--kind",
            type=click.Choice(KINDS),
            help="jsonl/csv: how answers compare (default: auto).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group()
def problems() -> None:
    """Browse and check problem sets."""


@problems.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(as_json: bool) -> None:
    """List the built-in problem sets."""
    rows = list_sets()
    if as_json:
        print_json(rows)
        return
    table = Table("set", "problems", "description")
    for row in rows:
        table.add_row(row["name"], str(row["count"]), row["description"])
    console = Console()
    console.print(table)
    kinds = ", ".join(f"{kind}:PATH" for kind in FILE_KINDS)
    console.print(f"Files: {kinds} (PATH may be hf://datasets/OWNER/NAME/FILE).", markup=False)


@problems.command("show")
@click.argument("set_spec", metavar="SET")
@click.option("--limit", default=10, show_default=True, help="Problems shown (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of problems.")
@column_options
def show_command(set_spec: str, limit: int, as_json: bool, **columns: Any) -> None:
    """Show the problems of SET (built-in name or KIND:PATH)."""
    loaded = _load(set_spec, limit or None, columns)
    if as_json:
        print_json([problem.to_dict() for problem in loaded])
        return
    table = Table("id", "difficulty", "question", "gold", show_lines=True)
    for problem in loaded:
        difficulty = "" if problem.difficulty is None else f"{problem.difficulty:g}"
        table.add_row(problem.id, difficulty, _short(problem.question, 300), problem.gold or "")
    Console().print(table)


@problems.command("check")
@click.argument("set_spec", metavar="SET")
@click.option("--limit", default=0, help="Check only the first N problems (0: all).")
@click.option(
    "--min-agree",
    default=100.0,
    show_default=True,
    help="Exit with status 1 when fewer than this percentage agree.",
)
@column_options
def check_command(set_spec: str, limit: int, min_agree: float, **columns: Any) -> None:
    """Check that each gold answer passes its own grader (and a wrong one fails).

    For files with worked solutions (gsm8k, math500) the answer extracted from each
    solution is graded against the recorded answer. The last line is `agree: K/N (P%)`."""
    from lab.tasks.grading import check_problem

    loaded = _load(set_spec, limit or None, columns)
    if not loaded:
        fail(f"{set_spec} has no problems to check")
    agree = 0
    for problem in loaded:
        result = check_problem(problem)
        agree += result.ok
        if not result.ok:
            click.echo(f"FAIL {problem.id}: {result.detail}")
    percent = 100.0 * agree / len(loaded)
    click.echo(f"agree: {agree}/{len(loaded)} ({percent:.1f}%)")
    if percent < min_agree:
        raise SystemExit(1)


@problems.command("build")
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Only check that data/ holds what the generators make; write nothing.",
)
def build_command(check_only: bool) -> None:
    """Regenerate the built-in sets' data files (data/NAME.jsonl) from their seeds."""
    up_to_date = build_sets(check_only=check_only)
    for name, same in up_to_date.items():
        state = "up to date" if same else ("differs" if check_only else "written")
        click.echo(f"{name}: {state}")
    if check_only and not all(up_to_date.values()):
        fail("data/ differs from the generators: run `lab problems build`")


def _load(set_spec: str, limit: int | None, columns: dict[str, Any]) -> list[Problem]:
    try:
        result = load_set_result(set_spec, limit, **columns)
    except ProblemSetError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot read {set_spec}: {exc.strerror or exc}")
    for message in result.errors:
        click.echo(f"warning: {message}", err=True)
    return result.problems


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
