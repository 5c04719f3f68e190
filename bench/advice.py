"""How well `lab advise` did on problems it had not seen: its advised choice against always
greedy (the sweep's greedy chain of thought) and always the vote of the sweep's largest n.

    python bench/advice.py --experiment advice-arith --set arith --start 30 --count 10

Held apart: runs the stored sweep's greedy and voter configurations on problems the sweep
does not have (stored in EXPERIMENT-holdout, resumable) and reads them like the sweep: each
problem's probe is the first 4 chains of its voter run (sample i depends only on the prompt,
the settings and seed + i, so these are the chains the probe draws; tests/test_advice_cli.py
checks it on the real engine), and each option's outcome is the held-apart runs' own (a vote
of k < n: the expectation over k-subsets of the n chains; the probe's vote: the majority of
its 4 chains, ties uniform). `--leave-one-out` also advises each stored problem from the
sweep's other problems, `--halves` each half of the sweep from the other half. Cost:
generated tokens per problem, the probe's included.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.commands.common import open_engine  # noqa: E402
from lab.evaluation import run_sweep  # noqa: E402
from lab.evaluation.advice import (  # noqa: E402
    TOLERANCE,
    Advice,
    StoredProblem,
    StoredSweep,
    load_sweep,
    predict,
    vote_option_key,
)
from lab.evaluation.sweep import Cell, Config  # noqa: E402
from lab.models import resolve_model_path  # noqa: E402
from lab.store.ledger import Ledger  # noqa: E402
from lab.tasks.datasets import load_set  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", required=True, help="the stored sweep to advise from")
    parser.add_argument("--set", dest="problem_set", default="arith")
    parser.add_argument("--start", type=int, default=30, help="first held-apart problem")
    parser.add_argument("--count", type=int, default=10, help="held-apart problems (0: none)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--leave-one-out", action="store_true")
    parser.add_argument("--halves", action="store_true",
                        help="advise each half of the sweep from the other (no problem's own "
                             "outcome moves the predictions it is advised from, unlike "
                             "leave-one-out, where leaving a problem out tilts a near-tie "
                             "against the option that was right on it)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help="advise the cheapest option this close to the best prediction")
    args = parser.parse_args()

    model = resolve_model_path(args.model).stem  # the name its runs are stored under
    ledger = Ledger()
    sweep = load_sweep(ledger, args.experiment, model)
    greedy = next(o for o in sweep.options if o.strategy and o.strategy != sweep.voter)
    full_n = vote_option_key(sweep.voter, int(sweep.voter_params["n"]))  # the voter's own runs
    vote = next(o for o in sweep.options if o.key == full_n)
    print(f"# {model}, advice from {args.experiment} ({len(sweep.problems)} "
          f"problems of {sweep.problem_set}), tolerance {args.tolerance}, {cpu()}")
    if args.leave_one_out:
        rows = [outcome(p, _without(sweep, p), greedy.key, vote.key, args.tolerance)
                for p in sweep.problems]
        report("leave-one-out over the sweep", rows, greedy.label, vote.label)
    if args.halves:
        half = len(sweep.problems) // 2
        first, second = sweep.problems[:half], sweep.problems[half:]
        rows = [outcome(p, _only(sweep, other), greedy.key, vote.key, args.tolerance)
                for part, other in ((first, second), (second, first)) for p in part]
        report("each half of the sweep advised from the other half", rows, greedy.label,
               vote.label)
    if args.count:
        held = held_apart(args, open_engine(args.model), ledger, sweep)
        rows = [outcome(p, sweep, greedy.key, vote.key, args.tolerance) for p in held.problems]
        report(f"held apart: {args.problem_set} problems {args.start}..."
               f"{args.start + args.count - 1}", rows, greedy.label, vote.label)


def cpu() -> str:
    """The CPU's name and core count, as the benches name it."""
    try:
        names = [line.split(":", 1)[1].strip() for line in
                 Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0]} x{len(names)}" if names else platform.processor() or platform.machine()


def held_apart(args: argparse.Namespace, engine, ledger: Ledger,
               sweep: StoredSweep) -> StoredSweep:
    """The sweep's greedy and voter configurations on problems it does not have, read alike."""
    stored = {p.problem_id for p in sweep.problems}
    problems = load_set(args.problem_set, limit=args.start + args.count)[args.start:]
    if stored & {p.id for p in problems}:
        sys.exit("the held-apart problems overlap the sweep's: choose another --start")
    ladder = tuple(int(o.params["n"]) for o in sweep.options if o.strategy == sweep.voter)
    configs = [Config(o.strategy or "", o.params) for o in sweep.options
               if o.strategy and o.strategy != sweep.voter]
    configs.append(Config(sweep.voter, sweep.voter_params, None, ladder))
    holdout = f"{args.experiment}-holdout"
    run_sweep([Cell(p, c) for p in problems for c in configs], engine, ledger, holdout,
              on_progress=lambda pr: print(f"\r{pr.done}/{pr.total} runs", end="",
                                           file=sys.stderr))
    print(file=sys.stderr)
    return load_sweep(ledger, holdout, engine.model_name, sweep.probe_n)


def _only(sweep: StoredSweep, problems: list[StoredProblem]) -> StoredSweep:
    return dataclasses.replace(sweep, problems=problems)


def _without(sweep: StoredSweep, left_out: StoredProblem) -> StoredSweep:
    return dataclasses.replace(sweep, problems=[p for p in sweep.problems if p is not left_out])


def outcome(problem: StoredProblem, sweep: StoredSweep, greedy: str, vote: str,
            tolerance: float = TOLERANCE) -> dict:
    """The advice for a stored problem, chosen among the options measured on it (so that its
    outcome is known), against always greedy and always the vote."""
    measured = [o for o in sweep.options if o.key in problem.chance]
    advice = predict(Advice(problem.difficulty, problem.probe_tokens, 0, 0.0, None),
                     dataclasses.replace(sweep, options=measured), tolerance)
    assert advice.chosen is not None
    key = advice.chosen.option.key
    return {
        "problem": problem.problem_id, "level": problem.difficulty.level,
        "agreement": f"{problem.difficulty.top}/{problem.difficulty.samples}",
        "advised": advice.chosen.option.label.replace(", already paid", ""),
        "advised_right": problem.chance[key],
        "advised_tokens": problem.probe_tokens + problem.tokens[key],
        "greedy_right": problem.chance[greedy], "greedy_tokens": problem.tokens[greedy],
        "vote_right": problem.chance[vote], "vote_tokens": problem.tokens[vote],
    }


def report(title: str, rows: list[dict], greedy: str, vote: str) -> None:
    count = len(rows)
    print(f"\n## {title} ({count} problems)")
    print(f"{'problem':<12} {'probe':<6} {'level':<10} {'advised':<30} {'right':>5} "
          f"{'tokens':>6} {'greedy':>6} {'vote':>5}")
    for r in rows:
        print(f"{r['problem']:<12} {r['agreement']:<6} {r['level']:<10} {r['advised']:<30} "
              f"{r['advised_right']:5.2f} {r['advised_tokens']:6.0f} {r['greedy_right']:6.0f} "
              f"{r['vote_right']:5.0f}")
    for name, prefix in (("advised (probe included)", "advised"), (f"always {greedy}", "greedy"),
                         (f"always {vote}", "vote")):
        right = sum(r[f"{prefix}_right"] for r in rows)
        tokens = sum(r[f"{prefix}_tokens"] for r in rows) / count
        print(f"{name:<28} right {right:5.2f} of {count} ({right / count:.2f}), "
              f"{tokens:6,.0f} tokens/problem")


if __name__ == "__main__":
    main()
