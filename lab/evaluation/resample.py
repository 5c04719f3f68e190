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
    from lab.tasks.answers import group_answers

    nodes = [n for n in trace.nodes if n.kind == NodeKind.CHAIN]
    voting = [votes_in_run(trace, n) for n in nodes]
    answers = [n.answer if votes else None for n, votes in zip(nodes, voting, strict=True)]
    groups = group_answers(answers, trace.problem.kind)
    group_of = {member: g for g, group in enumerate(groups) for member in group.members}
    right = [bool(grade_answer(trace.problem, group.answer)) for group in groups]
    found = find_strategy(trace.strategy)
    weight_score = found.vote_weight if found is not None else None
    scorer = trace.params.get("scorer")
    chains = []
    for i, node in enumerate(nodes):
        group = group_of.get(i)
        chains.append(Chain(
            group=group,
            correct=group is not None and right[group],
            weight=node.scores.get(weight_score, 0.0) if weight_score else 1.0,
            score=node.scores.get(scorer) if isinstance(scorer, str) else None,
        ))
    return chains


def votes_in_run(trace: Trace, chain: Node) -> bool:
    """Did the chain vote (or could it be ranked) in its run? Not when confidence-vote
    stopped it early, and not when it was cut at its token cap, unless the run let cut chains
    vote (runs stored before `cut_votes` existed did)."""
    cut_vote = bool(trace.params.get(CUT_VOTES, True))
    return chain.finish_reason != "stopped" and (cut_vote or not chain.cut)
