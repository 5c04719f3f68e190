"""`lab advise`: probe a problem with a few cheap samples and say which strategy and budget
the lab's own stored sweeps suggest for problems of that difficulty."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from lab.commands.common import fail, open_engine, print_json, run_cancellable
from lab.tasks.datasets import set_help
from lab.tasks.kinds import kind_names
from lab.tasks.problem import Problem, parse_kind

if TYPE_CHECKING:
    from lab.evaluation.advice import Advice, StoredSweep
    from lab.execution import RunRequest
    from lab.trace import Trace

console = Console(stderr=True)


@click.command()
@click.option("--set", "set_spec", default=None,
              help=set_help())
@click.option("--index", type=int, default=None, help="Problem of --set by position.")
@click.option("--id", "problem_id", default=None, help="Problem of --set by id.")
@click.option("--problem", "problem_text", default=None, help="Your own question.")
@click.option("--kind", type=click.Choice(kind_names()), default="number", show_default=True,
              help="The answer kind of --problem.")
@click.option("--gold", default=None, help="The right answer of --problem (grades the probe).")
@click.option("--model", default=None, help="Registry name or .gguf path (default: the lab's).")
@click.option("--experiment", default=None,
              help="The stored sweep to advise from (default: the largest usable one of the "
                   "problem's set, else of any set).")
@click.option("--tolerance", type=click.FloatRange(0, 1), default=None,
              help="Advise the cheapest option this close to the best prediction "
                   "(default 0.05).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def advise(set_spec: str | None, index: int | None, problem_id: str | None,
           problem_text: str | None, kind: str, gold: str | None, model: str | None,
           experiment: str | None, tolerance: float | None, as_json: bool) -> None:
    """Probe a problem (4 samples in one batched call), read its difficulty from their
    agreement, and predict each strategy's accuracy and cost on the stored problems that
    read alike; advise the cheapest one close to the best."""
    from lab.evaluation import advice as advice_module
    from lab.evaluation.advice import AdviceError
    from lab.store.ledger import Ledger

    problem = _problem(problem_text, kind, gold, set_spec, index, problem_id)
    engine = open_engine(model)
    ledger = Ledger()
    try:
        name = advice_module.choose_sweep(ledger, engine.model_name, problem, experiment)
        sweep = advice_module.load_sweep(ledger, name, engine.model_name) if name else None
        request = sweep.probe_request(problem) if sweep else advice_module.default_probe(problem)
        trace, run_id = _probe(request, engine, ledger)
        hint_set = problem.source if problem.source != "custom" else None
        options = {} if tolerance is None else {"tolerance": tolerance}
        result = advice_module.advise(trace, sweep, hint_set, model, **options)
    except AdviceError as exc:
        fail(str(exc))
    finally:
        ledger.close()
    if as_json:
        print_json({"problem": problem.to_dict(), "probe_run_id": run_id,
                    "probe": {"strategy": trace.strategy, "params": trace.params},
                    **result.to_dict()})
    else:
        _print(problem, trace, run_id, result, sweep)


def _problem(text: str | None, kind: str, gold: str | None, set_spec: str | None,
             index: int | None, problem_id: str | None) -> Problem:
    if (text is None) == (set_spec is None):
        fail("give either --problem TEXT or --set SET with --index I or --id ID")
    if text is not None:
        if index is not None or problem_id is not None:
            fail("--index and --id choose a problem of --set, not of --problem")
        return Problem(id="custom", question=text, gold=gold, kind=parse_kind(kind))
    if index is not None and problem_id is not None:
        fail("give --index or --id, not both")
    from lab.tasks.datasets import load_set

    position = index if index is not None else 0
    limit = position + 1 if problem_id is None and position >= 0 else None
    try:
        problems = load_set(set_spec or "", limit=limit)
    except (ValueError, KeyError, OSError) as exc:
        fail(f"cannot load set {set_spec!r}: {exc}")
    if problem_id is not None:
        found = [p for p in problems if p.id == problem_id]
        if not found:
            fail(f"no problem with id {problem_id!r} in {set_spec} "
                 f"(ids run {problems[0].id} .. {problems[-1].id})" if problems else
                 f"{set_spec} has no problems")
        return found[0]
    if not 0 <= position < len(problems):
        fail(f"--index must be between 0 and {len(problems) - 1} for {set_spec} "
             f"(got {position})")
    return problems[position]


def _probe(request: RunRequest, engine: Any, ledger: Any) -> tuple[Trace, int | None]:
    """Run the probe (stored in the ledger like any run); Ctrl-C stops it cleanly."""
    from lab.execution import execute

    n = request.params.get("n")
    with console.status(f"{engine.model_name}: probing with {n} samples", spinner="dots"):
        try:
            outcome = run_cancellable(lambda cancel: execute(request, engine, ledger, None,
                                                             cancel))
        except Exception as exc:  # the strategy's own errors end the trace as failed instead
            fail(f"the probe stopped: {exc}")
    if outcome.save_error:
        console.print(f"[yellow]The probe could not be stored: {outcome.save_error}[/]")
    return outcome.trace, outcome.run_id


def _print(problem: Problem, trace: Trace, run_id: int | None, result: Advice,
           sweep: StoredSweep | None) -> None:
    from lab.evaluation.advice import LEVEL_WORDS

    d = result.difficulty
    click.echo(f"problem   {problem.source}/{problem.id}: {_short(problem.question, 90)}")
    settings = ", ".join(f"{k}={v}" for k, v in trace.params.items()
                         if k in ("n", "temperature", "max_tokens", "seed"))
    click.echo(f"probe     {trace.strategy} ({settings}), run #{run_id}")
    click.echo("          answers " + ", ".join(a if a is not None else "-" for a in d.answers)
               + f"; its vote: {result.probe_answer}")
    click.echo(f"          agreement {d.top}/{d.samples}, {d.distinct} distinct answer"
               f"{'s' * (d.distinct != 1)}, {d.unanswered} without an answer, {d.cut} cut "
               f"at the token cap: {d.level} ({LEVEL_WORDS[d.level]})")
    click.echo(f"          cost {result.probe_tokens:,} tokens generated, "
               f"{result.probe_prompt_tokens:,} prompt tokens decoded, "
               f"{result.probe_wall_s:.1f} s")
    for note in result.notes:
        click.echo(f"note      {note}")
    if result.missing:
        click.echo(f"advice    none: {result.missing}")
        return
    if sweep is not None:
        click.echo(f"sweep     {result.experiment} ({result.stored} problems of "
                   f"{result.problem_set}, {sweep.model}); {result.similar} read '{d.level}'")
    chosen = result.chosen
    if chosen is not None:
        click.echo(f"advice    {chosen.option.label}: predicted {_interval(chosen)} at "
                   f"~{chosen.tokens:,.0f} more tokens")
        click.echo(f"          {result.why}")
    click.echo("")
    for line in _table(result):
        click.echo(line)


def _table(result: Advice) -> list[str]:
    header = ["option", "predicted [95% CI]", "tokens after probe", "problems"]
    body = [[("> " if p is result.chosen else "  ") + p.option.label, _interval(p),
             f"{p.tokens:,.0f}", str(p.problems)] for p in result.predictions]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in [header, *body]]


def _interval(prediction: Any) -> str:
    return f"{prediction.accuracy:.2f} [{prediction.low:.2f}, {prediction.high:.2f}]"


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
