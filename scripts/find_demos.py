"""Find, by measurement, the problems on which each Learn section's strategy shows its effect.

For every section (a strategy with a `demo` setting) it runs the section's baseline (greedy
step by step; for chain of thought, the greedy direct answer) on candidate problems of the
demo's built-in set (the first 60, the ones the Playground offers), and where the baseline is
wrong, runs the strategy with its demo settings over several seeds. A problem is kept when the
strategy is right in at least `--need` of the seeds. Greedy runs (every baseline, and a
strategy at temperature 0, where seeds change nothing) are run twice, with the prompt decoded
afresh and then served from the KV cache, because llama.cpp's greedy text can differ between
the two: a baseline must be wrong both times, a greedy strategy right both times. Self-refine
and budget forcing count only when their own step made the answer (a kept revision, a forced
"Wait"): a right draft is not the strategy's effect. What was tried, kept or not, is written
to data/demos.json under the model's name, so Learn can say what to expect and its presets
open a problem that shows it.

    nice -n 10 .venv/bin/python scripts/find_demos.py                      # the default model
    nice -n 10 .venv/bin/python scripts/find_demos.py --model qwen2.5-coder-1.5b --minutes 90
    .venv/bin/python scripts/find_demos.py --sections program,self-consistency --tries 4
    .venv/bin/python scripts/find_demos.py --prefer readme-arith50   # stored runs first

`--prefer EXP` tries first the problems on which the ledger's experiment EXP (same model)
already shows the effect (the baseline strategy wrong, the section's strategy right), then
those it says nothing about, then those where it shows no effect: the stored runs only order
the candidates, every kept problem is measured again here. `--first IDS` tries the named
problems before all others (for best-of-n, `scripts/rerank.py EXP --scorer programmatic
--wins` lists the problems where the verifier's pick of stored chains was right and the vote
of the same chains wrong).

The time limit is checked between runs: a section that starts after it is written as not
measured, unless the file holds an earlier measurement of it, which is kept. The file keeps
the other models' entries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from lab.engine.base import Engine
from lab.engine.llamacpp import LlamaCppEngine
from lab.evaluation.estimators import majority_correct
from lab.evaluation.resample import chains_of
from lab.execution import RunRequest, execute
from lab.models import resolve_model_path
from lab.store.ledger import Ledger
from lab.store.queries import RunSummary
from lab.strategies.registry import get_strategy
from lab.tasks.datasets import load_set
from lab.tasks.problem import Problem
from lab.trace import NodeKind, NodeStatus, Trace, TraceStatus

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "data" / "demos.json"
OFFERED = 60  # problems of a built-in set the Playground offers (lab.ui.problems.SET_SIZE)
SEED_STRIDE = 1000  # seeds 0, 1000, ...: sequence i uses seed + i, so no two runs share a chain
GREEDY_COT = ("cot", {})  # at its defaults: greedy, the lab's token cap
GREEDY_DIRECT = ("direct", {})
OUT_OF_TIME = "not measured: out of time"
# Greedy text can differ between a prompt decoded afresh and one served from the KV cache
# (llama.cpp's numerics, issue 15), so a greedy run is measured in both states, in this order.
STATES = ("fresh", "cached")


class Effect(NamedTuple):
    """What must be in a right run's trace for it to show the section's effect, not the
    draft's or the first segment's luck."""

    shown: Callable[[Trace], bool]
    words: str


def revised(trace: Trace) -> bool:
    return any(n.kind == NodeKind.REVISION and n.status == NodeStatus.KEPT for n in trace.nodes)


def waited(trace: Trace) -> bool:
    return int(trace.meta.get("waits", 0)) > 0


EFFECTS = {
    "self-refine": Effect(revised, "the answer came from a kept revision"),
    "budget-forcing": Effect(waited, "at least one Wait was forced"),
}


@dataclass(frozen=True)
class Plan:
    """What a section measures: its strategy (demo settings) against a baseline, and in which
    order its candidates are tried (hardest or easiest first)."""

    strategy: str
    baseline: tuple[str, dict[str, Any]] = GREEDY_COT
    order: str = "middle"  # candidates: from the "middle" difficulty out, "hardest", "easiest"
    expect: str = ""  # the effect looked for, in words


PLANS = (  # cheapest and likeliest first: the time limit cuts the tail
    Plan("program", order="hardest",
         expect="greedy step-by-step prose is wrong, the vote over programs is right"),
    Plan("self-consistency",
         expect="greedy step-by-step is wrong, the majority of the sampled chains is right"),
    Plan("cot", baseline=GREEDY_DIRECT,
         expect="the greedy direct answer is wrong, greedy step-by-step is right"),
    Plan("best-of-n", order="easiest",
         expect="greedy step-by-step is wrong, the verifier picks a right candidate"),
    Plan("self-refine",
         expect="greedy step-by-step is wrong, the revised answer is right"),
    Plan("budget-forcing",
         expect="greedy step-by-step is wrong, thinking longer ('Wait,') gets it right"),
    Plan("beam-search", order="easiest",
         expect="greedy step-by-step is wrong, the search over steps finds a right answer"),
    Plan("confidence-vote",
         expect="greedy step-by-step is wrong, the confidence-weighted vote is right"),
)


@dataclass
class Trial:
    """One problem tried for a section: the baseline's answer and the strategy's per seed."""

    problem: str
    gold: str | None
    baseline_answer: str | None  # with the prompt decoded afresh
    baseline_answers: list[str | None] = field(default_factory=list)  # fresh, then cached
    seeds: list[int] = field(default_factory=list)
    answers: list[str | None] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    # per seed, for strategies that sample several chains: was a plain majority of the same
    # chains right? (None: fewer than two answered) A pick that is right where it is not shows
    # what a verifier adds over the vote
    vote_right: list[bool | None] = field(default_factory=list)
    # runs with the right answer that did not show the effect (EFFECTS), counted as misses
    right_without_effect: int = 0
    reasons: list[str] = field(default_factory=list)  # each run's own why (the trace's reason)

    @property
    def held(self) -> int:
        return sum(self.correct)

    @property
    def minority_picks(self) -> int:
        """Seeds where the strategy was right and the majority of its chains was not."""
        return sum(ok and vote is False
                   for ok, vote in zip(self.correct, self.vote_right, strict=False))

    def summary(self) -> dict[str, Any]:
        right = [a for a, ok in zip(self.answers, self.correct, strict=True) if ok]
        wrong = [a for a, ok in zip(self.answers, self.correct, strict=True) if not ok]
        return asdict(self) | {
            "held": self.held,
            "minority_picks": self.minority_picks,
            "runs": len(self.seeds),
            "answer": Counter(right).most_common(1)[0][0] if right else None,
            "wrong_answers": sorted({str(a) for a in wrong}),
            "seed": next((s for s, ok in zip(self.seeds, self.correct, strict=True) if ok),
                         None),
            "mean_tokens": round(sum(self.tokens) / len(self.tokens)) if self.tokens else 0,
        }


class Runner:
    """Runs strategies on one engine, caching the deterministic baselines, within a deadline."""

    def __init__(self, engine: Engine, deadline: float, cpu_limit_s: float = float("inf")):
        self.engine = engine
        self.deadline = deadline  # monotonic wall time
        self.cpu_limit_s = cpu_limit_s  # CPU seconds of this process, every thread's
        self.baselines: dict[tuple[str, str], tuple[list[str | None], bool]] = {}
        self.runs = 0

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline or time.process_time() > self.cpu_limit_s

    def run(self, strategy: str, problem: Problem, params: dict[str, Any],
            fresh: bool = False) -> Trace:
        """One run; `fresh`: with the engine's KV cache emptied first."""
        if fresh:
            self.engine.forget_cache()
        trace = execute(RunRequest(strategy, problem, params), self.engine, None).trace
        self.runs += 1
        if trace.error:
            print(f"    {strategy} on {problem.id}: {trace.status}: {trace.error}", flush=True)
        return trace

    def baseline(self, plan: Plan, problem: Problem) -> tuple[list[str | None], bool]:
        """The greedy baseline's answers in each of STATES, and whether any was right."""
        name, params = plan.baseline
        key = (name, problem.id)
        if key not in self.baselines:
            traces = [self.run(name, problem, params, fresh=state == "fresh") for state in STATES]
            self.baselines[key] = ([t.final_answer for t in traces],
                                   any(t.correct for t in traces))
        return self.baselines[key]


def vote_right(trace: Trace) -> bool | None:
    """Would a plain (unweighted) majority of the chains that voted in the run have been right?
    None when fewer than two voted; a tie for the most votes is not right."""
    chains = [replace(chain, weight=1.0) for chain in chains_of(trace)]
    if sum(chain.group is not None for chain in chains) < 2:
        return None
    return majority_correct(chains, range(len(chains))) == 1.0


def deterministic(strategy: str, params: dict[str, Any]) -> bool:
    """Temperature 0 everywhere it samples: every seed gives the same run."""
    spec = get_strategy(strategy)
    values = spec.validate(params)
    return "temperature" in values and float(values["temperature"]) == 0.0


SEEN, UNSEEN, NOT_SEEN = 0, 1, 2  # what stored runs say of a problem: effect, nothing, none
NAMED = -1  # a problem named with --first: tried before every hint


def stored_hints(runs: list[RunSummary], plan: Plan, model: str) -> dict[str, int]:
    """Per problem id: SEEN when a stored greedy baseline run was wrong and a stored run of the
    section's strategy right; NOT_SEEN when the stored baseline was right, or wrong with the
    strategy never right; absent (UNSEEN) when the runs say nothing of it."""
    baseline: dict[str, list[bool]] = {}
    strategy: dict[str, list[bool]] = {}
    for run in runs:
        if run.model != model or run.status != TraceStatus.COMPLETE or run.correct is None:
            continue
        if run.strategy == plan.baseline[0] and float(run.params.get("temperature", 0)) == 0:
            baseline.setdefault(run.problem_id, []).append(run.correct)
        elif run.strategy == plan.strategy:
            strategy.setdefault(run.problem_id, []).append(run.correct)
    hints = {}
    for problem, right in baseline.items():
        if all(right):
            hints[problem] = NOT_SEEN
        elif problem in strategy:
            hints[problem] = SEEN if any(strategy[problem]) else NOT_SEEN
    return hints


def candidates(problem_set: str, order: str, hints: dict[str, int] | None = None
               ) -> list[Problem]:
    """The problems the Playground offers, from the middle of the difficulty range out
    (easy ones are rarely wrong, the hardest rarely right), hardest or easiest first; with
    hints from stored runs, the problems they show the effect on come first."""
    problems = load_set(problem_set, limit=OFFERED)
    if order in ("hardest", "easiest"):
        sign = -1 if order == "hardest" else 1
        ordered = sorted(problems, key=lambda p: (sign * (p.difficulty or 0), p.id))
    else:
        levels = sorted({p.difficulty or 0 for p in problems})
        middle = levels[len(levels) // 2]
        ordered = sorted(problems, key=lambda p: (abs((p.difficulty or 0) - middle), p.id))
    hints = hints or {}
    return sorted(ordered, key=lambda p: hints.get(p.id, UNSEEN))  # stable: order within


def measure(plan: Plan, runner: Runner, args: argparse.Namespace,
            hints: dict[str, int] | None = None) -> dict[str, Any]:
    """Try the plan's candidates (stored hints first) until `keep` problems hold or `tries`
    were tried."""
    strategy = get_strategy(plan.strategy)
    demo = strategy.demo
    if demo is None:
        return {"note": f"{plan.strategy} has no demo setting", "found": [], "tried": []}
    params = dict(demo.params) | dict(args.param)
    once = deterministic(plan.strategy, params)
    # a greedy strategy: seed 0 in each cache state, right in both
    seeds = [0] * len(STATES) if once else [i * SEED_STRIDE for i in range(args.seeds)]
    need = len(STATES) if once else args.need
    effect = EFFECTS.get(plan.strategy)
    found: list[Trial] = []
    tried: list[Trial] = []
    baseline_right = 0
    problem_set = args.problem_set or demo.problem_set
    for problem in candidates(problem_set, plan.order, hints):
        if len(found) >= args.keep or len(tried) >= args.tries or runner.out_of_time():
            break
        base_answers, base_ok = runner.baseline(plan, problem)
        if base_ok:
            baseline_right += 1
            print(f"  {problem.id}: {plan.baseline[0]} is right already ({base_answers})",
                  flush=True)
            continue
        trial = Trial(problem.id, problem.gold, base_answers[0], base_answers)
        for index, seed in enumerate(_seeds_while_possible(seeds, need, trial)):
            trace = runner.run(plan.strategy, problem, params | {"seed": seed},
                               fresh=once and STATES[index] == "fresh")
            shown = effect is None or effect.shown(trace)
            trial.seeds.append(seed)
            trial.answers.append(trace.final_answer)
            trial.correct.append(bool(trace.correct) and shown)
            trial.right_without_effect += bool(trace.correct) and not shown
            trial.tokens.append(trace.compute.all_generated)
            trial.vote_right.append(vote_right(trace))
            trial.reasons.append(trace.reason)
        print(f"  {plan.strategy} {problem.id}: baseline {base_answers}, gold {problem.gold!r}, "
              f"answers {trial.answers} ({trial.held}/{len(trial.seeds)}"
              f"{f', {trial.right_without_effect} right without the effect' if effect else ''})",
              flush=True)
        (found if trial.held >= need else tried).append(trial)
    return {
        "strategy": plan.strategy, "params": params, "problem_set": problem_set,
        "budget": demo.budget, "baseline": {"strategy": plan.baseline[0],
                                            "params": plan.baseline[1]},
        "expect": plan.expect, "seeds": seeds, "need": need, "deterministic": once,
        "states": list(STATES) if once else [], "effect": effect.words if effect else "",
        "baseline_right_skipped": baseline_right,
        "found": [t.summary() for t in found], "tried": [t.summary() for t in tried],
    }


def _seeds_while_possible(seeds: list[int], need: int, trial: Trial) -> Iterator[int]:
    """The seeds to run, stopping once `need` right answers can no longer be reached; a miss
    on the first seed ends it too (a cheap screen: most problems fail there)."""
    for index, seed in enumerate(seeds):
        misses = index - trial.held
        if misses > len(seeds) - need or (index == 1 and trial.held == 0):
            return
        yield seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--sections", default="",
                        help="comma-separated strategies, measured in this order (default: every "
                             "section's, cheapest and likeliest first)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per sampled strategy")
    parser.add_argument("--need", type=int, default=3, help="seeds that must show the effect")
    parser.add_argument("--keep", type=int, default=1, help="problems kept per section")
    parser.add_argument("--tries", type=int, default=4,
                        help="problems (baseline wrong) tried per section before giving up")
    parser.add_argument("--minutes", type=float, default=45.0, help="time limit in all")
    parser.add_argument("--cpu-minutes", type=float, default=None,
                        help="CPU time limit (all threads); on a machine whose engine lock is "
                             "shared, waiting for a turn costs no CPU")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--prefer", action="append", default=[], metavar="EXPERIMENT",
                        help="try first the problems this stored experiment shows the effect "
                             "on (repeatable)")
    parser.add_argument("--problem-set", default=None, metavar="SET",
                        help="a built-in set to search instead of each section's demo set "
                             "(Learn's button opens the set the record names)")
    parser.add_argument("--param", action="append", default=[], type=_param,
                        metavar="NAME=VALUE",
                        help="a strategy parameter on top of the demo settings (repeatable; "
                             "the record keeps the settings, Learn's button opens them)")
    parser.add_argument("--first", default="", metavar="IDS",
                        help="comma-separated problem ids to try before all others (found, "
                             "e.g., by re-scoring stored chains: scripts/rerank.py --wins)")
    args = parser.parse_args()
    stored = _stored_runs(args.prefer)

    wanted = [s for s in args.sections.split(",") if s]
    by_name = {p.strategy: p for p in PLANS}
    if unknown := [name for name in wanted if name not in by_name]:
        parser.error(f"no section for {', '.join(unknown)}; sections: {', '.join(by_name)}")
    plans = [by_name[name] for name in wanted] if wanted else list(PLANS)
    started = time.monotonic()
    cpu_limit_s = args.cpu_minutes * 60 if args.cpu_minutes is not None else float("inf")
    runner = Runner(LlamaCppEngine(resolve_model_path(args.model)), started + args.minutes * 60,
                    cpu_limit_s)
    command = " ".join(["scripts/find_demos.py", *sys.argv[1:]])
    for plan in plans:
        if runner.out_of_time():
            record: dict[str, Any] = {"note": OUT_OF_TIME, "found": [], "tried": []}
        else:
            print(f"{plan.strategy}: {plan.expect}", flush=True)
            hints = stored_hints(stored, plan, runner.engine.model_name)
            hints |= {problem: NAMED for problem in args.first.split(",") if problem}
            record = measure(plan, runner, args, hints)
        record |= {"measured": date.today().isoformat(), "command": command,
                   "prompt_format": runner.engine.prompt_format}
        # after every section: a cut run keeps what it measured
        _write(args.out, args.model, {plan.strategy: record},
               {"command": command, "seconds": round(time.monotonic() - started),
                "cpu_seconds": round(time.process_time()), "runs": runner.runs,
                "cpu": _cpu()})
    runner.engine.close()
    print(f"wrote {args.out} ({round(time.monotonic() - started)} s, {runner.runs} runs)")


def _param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)  # numbers, true/false
    except ValueError:
        return name, value


def _stored_runs(experiments: list[str]) -> list[RunSummary]:
    if not experiments:
        return []
    with Ledger(recover=False) as ledger:
        return [run for name in experiments for run in ledger.runs_in_experiment(name)]


def _write(out: Path, model: str, sections: dict[str, Any], session: dict[str, Any]) -> None:
    """Merge the sections into the model's entry (other sections and models are kept; a
    section the deadline cut does not replace an earlier measurement of it) and record this
    invocation's cost (replacing its own earlier record)."""
    data = json.loads(out.read_text()) if out.exists() else {}
    entry = data.setdefault("models", {}).setdefault(model, {})
    measured = entry.setdefault("sections", {})
    for name, record in sections.items():
        if record.get("note") == OUT_OF_TIME and "baseline" in measured.get(name, {}):
            continue  # a run cut short keeps the section's earlier measurement
        measured[name] = record
    sessions = [s for s in entry.get("sessions", []) if s.get("command") != session["command"]]
    entry["sessions"] = [*sessions, session]
    out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def _cpu() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} x{os.cpu_count()}"


if __name__ == "__main__":
    main()
