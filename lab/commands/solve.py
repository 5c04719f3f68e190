"""`lab solve`: run one strategy on one problem, store the run, and say what it bought."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from lab.commands.common import (
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
from lab.tasks.kinds import kind_names
from lab.tasks.problem import Problem, parse_kind
from lab.trace import EventKind, Trace, TraceEvent, TraceStatus

console = Console(stderr=True)
MAX_SCORE_LINES = 12


@click.command()
@click.option("--strategy", "-s", "strategy_name", metavar="NAME",
              help="The strategy to run (`lab solve --list` shows them all).")
@click.option("--param", "-p", "param_items", multiple=True, metavar="NAME=VALUE",
              help="A strategy parameter (repeatable); see --list.")
@click.option("--budget", type=int, default=None,
              help=f"Most tokens to generate, model verdicts included ({BUDGET_MIN}.."
                   f"{BUDGET_MAX}; default: no limit).")
@click.option("--model", default=None, help="Registry name or .gguf path (default: the lab's).")
@engine_url_option
@click.option("--judge-model", default=None, help="A second model for the `judge` scorer "
              "(registry name, .gguf path, or a server's http:// address).")
@click.option("--problem", "problem_text", default=None, help="Your own question.")
@click.option("--kind", type=click.Choice(kind_names()), default="number",
              show_default=True, help="The answer kind of --problem.")
@click.option("--gold", default=None, help="The right answer of --problem, to grade the run.")
@click.option("--set", "set_spec", default=None, help=set_help())
@click.option("--index", type=int, default=0, show_default=True, help="Problem of --set.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--list", "list_only", is_flag=True, help="List strategies and their parameters.")
def solve(strategy_name: str | None, param_items: tuple[str, ...], budget: int | None,
          model: str | None, engine_url: tuple[str, ...], judge_model: str | None,
          problem_text: str | None, kind: str, gold: str | None, set_spec: str | None,
          index: int, as_json: bool, list_only: bool) -> None:
    """Run one strategy on one problem: the answer, votes or scores, compute and grade."""
    from lab.strategies.params import check_budget
    from lab.strategies.registry import get_strategy

    if list_only:
        _list_strategies(as_json)
        return
    if not strategy_name:
        fail("give --strategy NAME (see `lab solve --list`)")
    try:
        strategy = get_strategy(strategy_name)
        params = strategy.validate(parse_assignments(param_items))
        check_budget(budget)
    except ParamError as exc:
        fail(str(exc))
    if strategy.needs_judge(params) and not judge_model:
        fail("the judge scorer needs a second model: --judge-model NAME")
    problem = _problem(problem_text, kind, gold, set_spec, index)
    urls = engine_urls(engine_url)
    if len(urls) > 1:
        fail("lab solve runs against one server: give one --engine-url")
    engine = open_server(urls[0], model) if urls else open_engine(model)
    _check_engine(engine, strategy.name, params, budget, problem)
    judge = open_engine(judge_model) if judge_model else None
    trace, run_id = _run(strategy.name, problem, engine, params, budget, judge)
    if as_json:
        print_json(_summary(trace, run_id))
    else:
        _print(trace, run_id)
    if trace.status == TraceStatus.FAILED:
        fail(f"the run failed: {trace.error}")


def _check_engine(engine: Any, strategy: str, params: dict[str, Any], budget: int | None,
                  problem: Problem) -> None:
    """Refuse what this engine cannot run (a scorer reading statistics a server lacks)
    before anything is stored; the judge is checked above."""
    from lab.execution import RunRequest, cannot_start

    reason = cannot_start(engine, RunRequest(strategy, problem, params, budget), has_judge=True)
    if reason:
        fail(reason)


def _problem(text: str | None, kind: str, gold: str | None, set_spec: str | None,
             index: int) -> Problem:
    if text is not None and set_spec is None:
        return Problem(id="custom", question=text, gold=gold, kind=parse_kind(kind))
    if text is not None or set_spec is None:  # both given, or neither
        fail("give either --problem TEXT or --set SET --index I")
    from lab.tasks.datasets import load_set

    try:
        problems = load_set(set_spec, limit=index + 1 if index >= 0 else None)
    except (ValueError, KeyError, OSError) as exc:
        fail(f"cannot load set {set_spec!r}: {exc}")
    if not 0 <= index < len(problems):
        fail(f"--index must be between 0 and {len(problems) - 1} for {set_spec} (got {index})")
    return problems[index]


def _run(strategy: str, problem: Problem, engine: Any, params: dict[str, Any],
         budget: int | None, judge: Any) -> tuple[Trace, int | None]:
    """Run in a worker thread so Ctrl-C cancels cleanly: the stored run ends interrupted."""
    from lab.execution import RunRequest, execute
    from lab.store.ledger import Ledger

    ledger = Ledger()
    progress = _Progress()
    request = RunRequest(strategy, problem, params, budget)
    with console.status(f"{engine.model_name}: running", spinner="dots") as status:
        progress.status = status
        try:
            outcome = run_cancellable(
                lambda cancel: execute(request, engine, ledger, progress, cancel, judge))
        except Exception as exc:  # the strategy's own errors end the trace as failed instead
            fail(f"the run stopped: {exc}")
        finally:
            ledger.close()
    if outcome.save_error:
        console.print(f"[yellow]The run could not be stored: {outcome.save_error}[/]")
    return outcome.trace, outcome.run_id


class _Progress:
    """Shows the tokens generated so far."""

    def __init__(self) -> None:
        self.status: Any = None
        self.tokens = 0

    def __call__(self, event: TraceEvent) -> None:
        if event.kind == EventKind.TOKEN:
            self.tokens += 1
            if self.status is not None and self.tokens % 16 == 0:
                self.status.update(f"{event.trace.model}: {self.tokens} tokens generated")


def _summary(trace: Trace, run_id: int | None) -> dict[str, Any]:
    return {
        "answer": trace.final_answer,
        "correct": trace.correct,
        "strategy": trace.strategy,
        "params": trace.params,
        "budget": trace.budget,
        "model": trace.model,
        "problem": {"id": trace.problem.id, "source": trace.problem.source,
                    "question": trace.problem.question, "gold": trace.problem.gold},
        "status": str(trace.status),
        "error": trace.error,
        "reason": trace.reason,
        "votes": trace.votes,
        "scores": _scores(trace),
        "compute": trace.compute.to_dict(),
        "meta": trace.meta,
        "run_id": run_id,
    }


def _scores(trace: Trace) -> list[dict[str, Any]]:
    return [{"node": n.id, "kind": str(n.kind), "answer": n.answer, "scores": n.scores,
             "status": str(n.status), "chosen": n.chosen}
            for n in trace.nodes if n.scores]


def _print(trace: Trace, run_id: int | None) -> None:
    problem = trace.problem
    click.echo(f"problem   {problem.source}/{problem.id}: {_short(problem.question, 90)}")
    click.echo(f"strategy  {trace.strategy} "
               f"({', '.join(f'{k}={v}' for k, v in trace.params.items())})")
    grade = {True: "correct", False: f"wrong (gold {problem.gold})", None: "no gold answer"}
    click.echo(f"answer    {trace.final_answer}  [{grade[trace.correct]}]")
    click.echo(f"reason    {trace.reason}")
    if trace.votes:
        votes = sorted(trace.votes.items(), key=lambda kv: -kv[1])
        click.echo("votes     " + ", ".join(f"{k}: {_num(v)}" for k, v in votes))
    for line in _score_lines(trace):
        click.echo(line)
    for line in compute_lines(trace):
        click.echo(line)
    from lab.execution import ENGINE_NOTES

    for note in trace.meta.get(ENGINE_NOTES, []):
        click.echo(f"note      {note}")
    status = "" if trace.status == TraceStatus.COMPLETE else f" ({trace.status})"
    click.echo(f"run       #{run_id}{status}")


def compute_lines(trace: Trace) -> list[str]:
    """What the run cost: all generated tokens (sampled and verdicts, by kind of call) against
    the budget, prompt tokens decoded and served from the cache, calls and time."""
    c = trace.compute
    budget = f" of {trace.budget} budget" if trace.budget is not None else ""
    by_kind = ", ".join(f"{kind} {count}" for kind, count in c.generated_by.items())
    return [
        f"compute   {c.all_generated} tokens generated{budget} ({c.generated_tokens} sampled + "
        f"{c.verdict_tokens} by verdicts{'; ' + by_kind if by_kind else ''})",
        f"          {c.prompt_tokens} prompt tokens decoded + {c.cached_prompt_tokens} from the "
        f"cache, {c.engine_calls} engine calls, {c.wall_s:.1f} s",
    ]


def _score_lines(trace: Trace) -> list[str]:
    scored = [n for n in trace.nodes if n.scores]
    lines = []
    for n in scored[:MAX_SCORE_LINES]:
        values = ", ".join(f"{k} {v:.3f}" for k, v in n.scores.items())
        mark = " *" if n.chosen else ""
        lines.append(f"  #{n.id:<4} {n.kind:<12} {values}  -> {n.answer}{mark}")
    if len(scored) > MAX_SCORE_LINES:
        lines.append(f"  ... {len(scored) - MAX_SCORE_LINES} more scored nodes")
    return (["scores"] + lines) if lines else []


def _list_strategies(as_json: bool) -> None:
    from lab.strategies.registry import list_strategies

    strategies = list_strategies()
    if as_json:
        print_json([{"name": s.name, "summary": s.summary,
                     "params": [p.to_dict() for p in s.params]} for s in strategies])
        return
    for s in strategies:
        click.echo(f"{s.name}: {s.summary}")
        for p in s.params:
            allowed = ("|".join(p.choices) if p.choices else
                       f"{_num(p.min)}..{_num(p.max)}" if p.min is not None else p.kind)
            click.echo(f"    {p.name}={p.default}  ({allowed}) {p.help}")


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
