"""`lab eval`: sweep strategies over a problem set into one experiment, resumably, and print
the scaling table; `lab plot`: draw an experiment's accuracy against compute."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from lab.commands.common import (
    check_local_concurrency,
    engine_url_option,
    engine_urls,
    fail,
    open_engine,
    open_server,
    print_json,
    run_cancellable,
)
from lab.strategies.params import BUDGET_MAX, BUDGET_MIN, ParamError, parse_assignments
from lab.tasks.datasets import set_help

if TYPE_CHECKING:
    from lab.engine.base import Engine
    from lab.evaluation import Cell, Row, StrategySpec, SweepProgress, SweepResult, SweepSpec
    from lab.evaluation.figure import XAxis
    from lab.evaluation.paired import PairedDifference
    from lab.store.ledger import Ledger
    from lab.tasks.problem import Problem

console = Console(stderr=True)
T = TypeVar("T")
EXIT_INTERRUPTED = 130


@click.command()
@click.option("--set", "set_spec", required=True,
              help=set_help())
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="The first N problems of the set.")
@click.option("--range", "span", default=None, metavar="FROM-TO",
              help="Problems FROM to TO of the set (counted from 1, both included), e.g. "
                   "101-400: report on a slice no setting was chosen on.")
@click.option("--seed", type=int, default=None, help="The strategies' seed parameter.")
@click.option("--strategy", "-s", "strategies", multiple=True, required=True,
              metavar="NAME[:K=V,...]",
              help="A strategy (repeatable), optionally with its own parameters, e.g. "
                   "beam-search:width=2,depth=4.")
@click.option("--param", "-p", "param_items", multiple=True, metavar="NAME=VALUE",
              help="A parameter for every strategy that has it (repeatable).")
@click.option("--sweep", "sweep_items", multiple=True, metavar="PARAM=V1,V2,...",
              help="Values to sweep (repeatable), for every strategy that has PARAM; "
                   "`budget` sweeps the token budget.")
@click.option("--budget", type=int, default=None,
              help=f"Most tokens a run may generate ({BUDGET_MIN}..{BUDGET_MAX}).")
@click.option("--model", default=None, help="Registry name or .gguf path (default: the lab's).")
@engine_url_option
@click.option("--concurrency", type=click.IntRange(1, 256), default=None,
              help="Runs in flight at once, over the --engine-url servers round-robin "
                   "(default: one per server), or decoded together on a local model (at most "
                   "4; default 1).")
@click.option("--experiment", default=None,
              help="Experiment name (default: one derived from the arguments).")
@click.option("--reuse-samples/--no-reuse-samples", default=True, show_default=True,
              help="Run only the largest n of a voting or best-of-n sweep and derive the "
                   "smaller n from its chains.")
@click.option("--baseline", default=None, metavar="NAME[:K=V,...]",
              help="Compare every row with this strategy's on the problems both ran: the "
                   "paired difference with its 95% interval, and who alone was right.")
@click.option("--repeat", type=click.IntRange(2, 20), default=None, metavar="K",
              help="Run every configuration K times, with seeds SEED..SEED+K-1 (--seed, "
                   "default 0), and print how far accuracy moves between the reruns: the "
                   "noise floor a difference must clear.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def evaluate(set_spec: str, limit: int | None, span: str | None, seed: int | None,
             strategies: tuple[str, ...],
             param_items: tuple[str, ...], sweep_items: tuple[str, ...], budget: int | None,
             model: str | None, engine_url: tuple[str, ...], concurrency: int | None,
             experiment: str | None, reuse_samples: bool, baseline: str | None,
             repeat: int | None, as_json: bool) -> None:
    """Run every (problem, strategy, swept value) cell, store each run in one experiment,
    and print accuracy against compute. Running it again skips the stored cells."""
    from lab.evaluation import build_cells, summarize
    from lab.evaluation.sweep import SweepSpec

    wanted = _guard(lambda: _strategy_spec(baseline)) if baseline else None
    sweeps = _guard(lambda: _sweeps(sweep_items))
    if repeat is not None:
        if "seed" in sweeps or "seed" in parse_assignments(param_items):
            fail("--repeat sweeps the seed itself (from --seed): leave out seed=...")
        sweeps["seed"] = [str((seed or 0) + i) for i in range(repeat)]
        seed = None
    spec = _guard(lambda: SweepSpec(
        strategies=[_strategy_spec(s) for s in strategies],
        sweeps=sweeps, params=parse_assignments(param_items),
        budget=budget, seed=seed, reuse_samples=reuse_samples))
    problems = _problems(set_spec, limit, span)
    cells = _guard(lambda: build_cells(spec, problems))
    _check_no_judge(cells)
    servers = _servers(engine_urls(engine_url), model, concurrency)
    if servers:
        _check_servers(servers[0], cells)
    model_name = servers[0].model_name if servers else _model_name(model)
    experiment = experiment or _default_experiment(
        set_spec, limit if span is None else span, spec, model_name)
    ledger = _ledger()
    started = time.monotonic()
    result = _sweep(cells, ledger, experiment,
                    lambda: servers or _local_engines(model, concurrency), model_name)
    rows = _ledger_call(lambda: summarize(ledger, experiment, _ladders(cells)))
    paired = _paired(rows, wanted) if wanted is not None else None
    _report(rows, result, experiment, ledger.location, time.monotonic() - started, as_json,
            paired)
    ledger.close()
    if result is not None and result.interrupted:
        why = f" ({result.reason})" if result.reason and result.reason != "cancelled" else ""
        console.print(f"interrupted{why}: run the same command again to continue where it "
                      "stopped", markup=False)
        sys.exit(EXIT_INTERRUPTED)


@click.command()
@click.argument("experiment")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="FILE.html or FILE.png (default: EXPERIMENT.html).")
@click.option("--title", default=None, help="Figure title (default: the experiment name).")
@click.option("--x", "x_axis", type=click.Choice(["generated", "decoded"]), default="generated",
              show_default=True, help="Compute on the x axis: generated tokens (model verdicts "
              "included), or all decoded tokens (prompts too).")
def plot(experiment: str, out: Path | None, title: str | None, x_axis: str) -> None:
    """Draw accuracy against mean tokens per problem, one line per strategy. FILE.html is a
    self-contained page (Plotly inlined, no network needed) with the scaling table too."""
    from lab.evaluation import FigureError, save_figure, scaling_figure, summarize

    ledger = _ledger()
    if _ledger_call(lambda: ledger.experiment_id(experiment, create=False)) is None:
        fail(f"no experiment named {experiment!r} in {ledger.location}")
    rows = _ledger_call(lambda: summarize(ledger, experiment))
    ledger.close()
    if not rows:
        fail(f"experiment {experiment!r} has no complete runs yet")
    out = out or Path(f"{_safe_name(experiment)}.html")
    x: XAxis = "decoded" if x_axis == "decoded" else "generated"
    try:
        if out.suffix.lower() == ".html":  # the curve and the table, self-contained
            from lab.evaluation.handout import experiment_report

            out.write_text(experiment_report(rows, title or experiment, x), encoding="utf-8")
        else:
            save_figure(scaling_figure(rows, title if title is not None else experiment, x), out)
    except FigureError as exc:
        fail(str(exc))
    click.echo(f"wrote {out}")


# -- arguments -----------------------------------------------------------------------------
def _strategy_spec(text: str) -> StrategySpec:
    from lab.evaluation import StrategySpec
    from lab.strategies.registry import get_strategy

    name, _, inline = text.partition(":")
    get_strategy(name.strip())
    items = [item for item in inline.split(",") if item.strip()]
    return StrategySpec(name.strip(), parse_assignments(items))


def _sweeps(items: Sequence[str]) -> dict[str, list[str]]:
    sweeps: dict[str, list[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        chosen = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not name.strip() or not chosen:
            raise ParamError(f"--sweep takes PARAM=V1,V2,... (got {item!r})")
        sweeps[name.strip()] = chosen
    return sweeps


def _problems(set_spec: str, limit: int | None, span: str | None = None) -> list[Problem]:
    from lab.tasks.datasets import load_set

    first, last = _span(span) if span else (1, limit)
    try:
        problems = load_set(set_spec, limit=last)[first - 1:]
    except (ValueError, KeyError, OSError) as exc:
        fail(f"cannot load set {set_spec!r}: {exc}")
    if not problems:
        fail(f"set {set_spec!r} has no problems" + (f" in {span}" if span else ""))
    return problems


def _span(text: str) -> tuple[int, int]:
    """FROM-TO, counted from 1 and both included."""
    from lab.tasks.slices import SliceError, parse_span

    try:
        return parse_span(text)
    except SliceError as exc:
        fail(f"--range: {exc}")


def _model_name(model: str | None) -> str:
    """The name runs are stored under (the file's stem), without loading the model. A
    registry model not downloaded has its file's stem too: a stored experiment (the
    gallery's) is reported without it, and a sweep with cells to run says to pull it."""
    from lab import config
    from lab.models import REGISTRY, ModelError, resolve_model_path

    try:
        return resolve_model_path(model).stem
    except ModelError as exc:
        known = REGISTRY.get(model or config.default_model())
        if known is None:
            fail(str(exc))
        return Path(known.filename).stem


def _default_experiment(set_spec: str, limit: int | str | None, spec: SweepSpec,
                        model: str) -> str:
    """The same arguments give the same name, so a repeated command resumes."""
    described = json.dumps([set_spec, limit, model, repr(spec)], sort_keys=True, default=str)
    digest = hashlib.sha256(described.encode()).hexdigest()[:8]
    return f"eval-{_safe_name(set_spec.split(':')[0])}-{digest}"


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)


def _check_no_judge(cells: Sequence[Cell]) -> None:
    from lab.strategies.registry import get_strategy

    judged = sorted({c.config.strategy for c in cells
                     if get_strategy(c.config.strategy).needs_judge(c.config.params)})
    if judged:
        fail(f"the judge scorer needs a second model, which lab eval does not load "
             f"({', '.join(judged)}); choose another scorer")


def _servers(urls: list[str], model: str | None, concurrency: int | None) -> list[Engine]:
    """One engine per run in flight, over the servers round-robin (none without a URL)."""
    if not urls:
        check_local_concurrency(concurrency)
        return []
    first = [open_server(url, model) for url in urls]
    names = {engine.model_name for engine in first}
    if len(names) > 1:
        fail(f"the servers serve different models ({', '.join(sorted(names))}); one sweep "
             "runs one model")
    count = concurrency or len(urls)
    return [first[i] if i < len(first) else open_server(urls[i % len(urls)], first[0].model)
            for i in range(count)]


def _local_engines(model: str | None, concurrency: int | None) -> list[Engine]:
    """The local model, as `concurrency` lanes decoded together when more than one."""
    from lab.engine.shared import shared_lanes

    return shared_lanes(open_engine(model), concurrency or 1)


def _check_servers(engine: Engine, cells: Sequence[Cell]) -> None:
    """Refuse up front a strategy the server cannot run (a scorer reading what it lacks)."""
    from lab.execution import RunRequest, cannot_start

    seen: set[tuple[str, str]] = set()
    for cell in cells:
        key = cell.config.key[:2]
        if key in seen:
            continue
        seen.add(key)
        request = RunRequest(cell.config.strategy, cell.problem, cell.config.params,
                             cell.config.budget)
        if reason := cannot_start(engine, request):
            fail(f"{cell.config.strategy}: {reason}")


def _ladders(cells: Sequence[Cell]) -> dict[str, list[int]]:
    return {c.config.strategy: list(c.config.ladder) for c in cells if c.config.ladder}


# -- running -------------------------------------------------------------------------------
def _sweep(cells: Sequence[Cell], ledger: Ledger, experiment: str,
           open_engines: Callable[[], list[Engine]], model_name: str) -> SweepResult | None:
    """Run the cells the experiment lacks; None when it had them all."""
    from lab.evaluation import pending_cells, run_sweep

    pending = _ledger_call(lambda: pending_cells(cells, ledger, experiment, model_name))
    if not pending:
        console.print(f"all {len(cells)} runs of {experiment} are stored")
        return None
    if _ledger_call(lambda: ledger.experiments().get(experiment)):
        fail(f"{experiment} is in the gallery shipped with the lab (read-only) and lacks "
             f"{len(pending)} of these runs: run them under another --experiment")
    if len(pending) < len(cells):
        console.print(f"{experiment}: {len(cells) - len(pending)} of {len(cells)} runs "
                      f"stored, {len(pending)} to go")
    engines = open_engines()
    try:
        with _progress_bar() as bar:
            task = bar.add_task(_description(engines), total=len(cells), stats="")

            def on_progress(p: SweepProgress) -> None:
                bar.update(task, completed=p.done, stats=_stats(p))

            return _in_worker(lambda cancel: run_sweep(
                cells, engines, ledger, experiment, on_progress, cancel))
    finally:
        for engine in engines:
            engine.close()


def _description(engines: Sequence[Engine]) -> str:
    if len(engines) == 1:
        return engines[0].model_name
    return f"{engines[0].model_name} ×{len(engines)} in flight"


def _progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[stats]}"), console=console)


def _stats(p: SweepProgress) -> str:
    parts = [f"problems {p.problems_done}/{p.problems}"]
    if p.accuracy is not None:
        parts.append(f"acc {p.accuracy:.2f}")
    if p.tokens_per_s is not None:
        parts.append(f"{p.tokens_per_s:.0f} tok/s")
    if p.eta_s is not None:
        parts.append(f"{_duration(p.eta_s)} left")
    return " · ".join(parts)


def _in_worker(work: Callable[[threading.Event], T]) -> T:
    """Run in a worker thread so Ctrl-C cancels cleanly: the running run ends interrupted."""
    try:
        return run_cancellable(work, lambda: console.print(
            "stopping: the current run is saved as interrupted"))
    except Exception as exc:
        fail(f"the sweep stopped: {exc}")


# -- output --------------------------------------------------------------------------------
Paired = tuple["Row", list[tuple["Row", "PairedDifference"]]]


def _paired(rows: list[Row], wanted: StrategySpec) -> Paired:
    from lab.evaluation.paired import against_baseline, find_baseline

    found = find_baseline(rows, wanted.name, wanted.params)
    if found is None:
        fail(f"--baseline {wanted.name}: no such row in the table (it needs complete runs of "
             "that strategy, with those settings, in this experiment)")
    return found, against_baseline(rows, found)


def _report(rows: list[Row], result: SweepResult | None, experiment: str, location: str,
            wall_s: float, as_json: bool, paired: Paired | None = None) -> None:
    from dataclasses import asdict

    from lab.evaluation import table_text
    from lab.evaluation.noise import rerun_text, seed_reruns
    from lab.evaluation.paired import describe_row
    from lab.evaluation.report import problems_named

    if as_json:
        data = {
            "experiment": experiment,
            "ledger": location,
            "ran": len(result.run_ids) if result else 0,
            "failed": result.failed if result else 0,
            "interrupted": bool(result and result.interrupted),
            "wall_s": round(wall_s, 1),
            "rows": [r.to_dict() for r in rows],
            "problems": problems_named(rows),
            "reruns": [{**asdict(r), "mean": r.mean, "sd": r.sd, "range": r.range}
                       for r in seed_reruns(rows)],
        }
        if paired is not None:
            base, pairs = paired
            data["paired"] = {"baseline": describe_row(base), "rows": [
                {"row": describe_row(row), **asdict(found), "shown": found.shown,
                 "words": found.words(describe_row(row), describe_row(base))}
                for row, found in pairs]}
        print_json(data)
        return
    click.echo(table_text(rows) if rows else "no complete runs yet")
    for line in problems_named(rows):
        click.echo(f"ran on {line}")
    if paired is not None:
        click.echo("\n" + _paired_text(*paired))
    if found := seed_reruns(rows):
        click.echo("\n" + rerun_text(found))
    ran = f"{len(result.run_ids)} run(s) made" if result else "nothing left to run"
    failed = f", {result.failed} failed" if result and result.failed else ""
    console.print(f"experiment {experiment} in {location}: {ran}{failed} in "
                  f"{_duration(wall_s)}; `lab plot {experiment}` draws it", markup=False)


def _paired_text(base: Row, pairs: list[tuple[Row, PairedDifference]]) -> str:
    from lab.evaluation.paired import PAIRED_COLUMNS, describe_row, paired_cells
    from lab.evaluation.report import text_table

    lines = [f"paired against {describe_row(base)}, on the problems both ran:",
             *text_table(PAIRED_COLUMNS, paired_cells(pairs))]
    problems = sorted({found.problems for _, found in pairs})
    lines.append(f"shown: yes when the 95% interval excludes 0, no when it spans 0 (no "
                 f"difference shown on these {'/'.join(map(str, problems))} problems); * rows: "
                 "'only ... right' counts the problems where one side's expected correctness "
                 "is higher")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# -- errors --------------------------------------------------------------------------------
def _guard(action: Callable[[], T]) -> T:
    """Bad parameters end the command with their one-line message."""
    try:
        return action()
    except ParamError as exc:
        fail(str(exc))


def _ledger() -> Ledger:
    from lab.store.ledger import Ledger

    return _ledger_call(Ledger)


def _ledger_call(action: Callable[[], T]) -> T:
    from lab.store.errors import LedgerError

    try:
        return action()
    except LedgerError as exc:
        fail(str(exc))
