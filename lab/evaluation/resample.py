"""A run's chains as estimator input, for strategies whose runs can be resampled for smaller k.

Which ones can is the strategy's to say (`Strategy.pick`, `Strategy.resamplable`, and
`Strategy.vote_weight` for weighted votes). A self-consistency, best-of-n or confidence-vote
run that drew all its N chains in one go
holds a fair sample for every k <= N: a k-sample run would have drawn the chains with seeds
seed..seed+k-1, and any k of the N are exchangeable with those. That holds only when every
chain was drawn regardless of the others: no early stopping between batches, no budget cut,
no refinement. confidence-vote is resampled as an approximation: its stopping threshold
stays the one the full run learned from its warm-up chains, and stopped chains do not vote.
Chains cut at their token cap do not vote (nor are ranked) when they did not in the run:
unless its `cut_votes` was on, or it was stored before that parameter existed.
"""

from __future__ import annotations

from collections.abc import Sequence

from lab.evaluation.estimators import Chain
from lab.strategies.base import Pick
from lab.strategies.registry import find_strategy
from lab.tasks.grading import grade_answer
from lab.trace import CUT_VOTES, Node, NodeKind, Trace


def pick_of(strategy: str) -> Pick | None:
    """How the strategy picks among its chains ("maj" or "best"); None: not resampled."""
    found = find_strategy(strategy)
    return found.pick if found is not None else None


def chains_of(trace: Trace) -> list[Chain]:
    """The run's sampled chains: answer groups (as the strategy groups them), correctness,
    vote weights and scores."""
    nodes = [n for n in trace.nodes if n.kind == NodeKind.CHAIN]
    found = find_strategy(trace.strategy)
    weight_score = found.vote_weight if found is not None else None
    scorer = trace.params.get("scorer")
    return estimator_chains(
        trace, nodes, [votes_in_run(trace, n) for n in nodes],
        weights=[n.scores.get(weight_score, 0.0) for n in nodes] if weight_score else None,
        scores=[n.scores.get(scorer) for n in nodes] if isinstance(scorer, str) else None)


def estimator_chains(trace: Trace, nodes: Sequence[Node], voting: Sequence[bool],
                     weights: Sequence[float] | None = None,
                     scores: Sequence[float | None] | None = None) -> list[Chain]:
    """Any of the run's nodes as estimator chains, grouped by answer as the run groups them;
    a node that did not vote has no group. Weights default to 1, scores to none."""
    from lab.tasks.answers import group_answers

    answers = [n.answer if votes else None for n, votes in zip(nodes, voting, strict=True)]
    groups = group_answers(answers, trace.problem.kind)
    group_of = {member: g for g, group in enumerate(groups) for member in group.members}
    right = [bool(grade_answer(trace.problem, group.answer)) for group in groups]
    return [Chain(group=group_of.get(i), correct=i in group_of and right[group_of[i]],
                  weight=weights[i] if weights is not None else 1.0,
                  score=scores[i] if scores is not None else None)
            for i in range(len(nodes))]


def votes_in_run(trace: Trace, chain: Node) -> bool:
    """Did the chain vote (or could it be ranked) in its run? Not when confidence-vote
    stopped it early, and not when it was cut at its token cap, unless the run let cut chains
    vote (runs stored before `cut_votes` existed did)."""
    cut_vote = bool(trace.params.get(CUT_VOTES, True))
    return chain.finish_reason != "stopped" and (cut_vote or not chain.cut)
