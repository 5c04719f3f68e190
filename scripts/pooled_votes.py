"""Votes pooled or weighted after the fact, from the chains an experiment already stored (not a
test: prints a table). What would a vote over the prose chains and the programs together
give, or a vote weighted by each chain's confidence, on the same problems, without running
anything again? Estimates from stored chains, not runs of `hybrid` or `weight=...`: a run
draws its own chains (and ties are broken here by first appearance, not by a scorer).

    python scripts/pooled_votes.py ladder-gsm8k50     # the gallery's GSM8K experiment
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

from lab.store.ledger import Ledger
from lab.tasks.answers import group_answers
from lab.tasks.grading import grade_answer
from lab.trace import Node, Trace

Weigh = Callable[[Node], float]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--n", type=int, default=8, help="the n of the stored runs to pool")
    args = parser.parse_args()
    with Ledger() as ledger:
        pairs = _pairs(ledger, args.experiment, args.n)
        counts: dict[str, int] = {}
        for prose_trace, program_trace in pairs:
            for name, right in _outcomes(prose_trace, program_trace).items():
                counts[name] = counts.get(name, 0) + right
    print(f"# {args.experiment}: {len(pairs)} problems with both a self-consistency n={args.n} "
          f"run and a program n={args.n} run; estimates from their stored chains")
    for name, right in counts.items():
        print(f"{name:<44} {right:>3} / {len(pairs)} = {right / max(1, len(pairs)):.2f}")


def _pairs(ledger: Ledger, experiment: str, n: int) -> list[tuple[Trace, Trace]]:
    runs = [r for r in ledger.list_runs(experiment=experiment)
            if r.status == "complete" and r.params.get("n") == n]
    prose = {r.problem_id: r.id for r in runs if r.strategy == "self-consistency"}
    programs = {r.problem_id: r.id for r in runs if r.strategy == "program"}
    return [(ledger.load_trace(prose[p]), ledger.load_trace(programs[p]))
            for p in sorted(prose) if p in programs]


def _outcomes(prose_trace: Trace, program_trace: Trace) -> dict[str, int]:
    prose, programs = _voters(prose_trace), _voters(program_trace)
    half = len(prose) // 2

    def right(nodes: Sequence[Node], weigh: Weigh | None = None) -> int:
        answer = _vote(nodes, prose_trace, weigh)
        return int(answer is not None and bool(grade_answer(prose_trace.problem, answer)))

    return {
        "prose chains, plain vote": right(prose),
        "prose chains, weighted by mean token p": right(prose, _mean_p),
        "programs, plain vote": right(programs),
        "pooled: prose + programs, plain vote": right(prose + programs),
        "pooled: half of each, plain vote": right(prose[:half] + programs[:half]),
        "pooled, weighted by mean token p": right(prose + programs, _mean_p),
        "any chain or program right (pass@2n)": int(any(
            grade_answer(prose_trace.problem, n.answer) for n in prose + programs)),
    }


def _voters(trace: Trace) -> list[Node]:
    """The chains that vote by default: an answer, and not cut at the token cap."""
    return [n for n in trace.solutions() if n.answer is not None and not n.cut]


def _vote(nodes: Sequence[Node], trace: Trace, weigh: Weigh | None) -> str | None:
    if not nodes:
        return None
    groups = group_answers([n.answer for n in nodes], trace.problem.kind)
    weights = [weigh(n) if weigh else 1.0 for n in nodes]
    best = max(groups, key=lambda g: (sum(weights[i] for i in g.members), -g.members[0]))
    return nodes[best.members[0]].answer


def _mean_p(node: Node) -> float:
    return math.exp(sum(t.logprob for t in node.tokens) / max(1, len(node.tokens)))


if __name__ == "__main__":
    main()
