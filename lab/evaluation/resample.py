"""Which strategies' runs can be resampled for smaller k, and their chains as estimator input.

A self-consistency, best-of-n or confidence-vote run that drew all its N chains in one go
holds a fair sample for every k <= N: a k-sample run would have drawn the chains with seeds
seed..seed+k-1, and any k of the N are exchangeable with those. That holds only when every
chain was drawn regardless of the others: no early stopping between batches, no budget cut,
no refinement. confidence-vote is resampled as an approximation: its stopping threshold
stays the one the full run learned from its warm-up chains, and stopped chains do not vote.
"""

from __future__ import annotations

from typing import Any, Literal

from lab.evaluation.estimators import Chain
from lab.trace import NodeKind, Trace
from lab.tasks.problem import Problem

Pick = Literal["maj", "best"]
PICK: dict[str, Pick] = {
    "self-consistency": "maj",
    "confidence-vote": "maj",
    "best-of-n": "best",
}
CONFIDENCE = "confidence"  # the vote weight confidence-vote records on each chain


def pick_of(strategy: str) -> Pick | None:
    """How the strategy picks among its chains ("maj" or "best"); None: not resampled."""
    return PICK.get(strategy)


def resamplable(strategy: str, params: dict[str, Any], budget: int | None) -> bool:
    """Does one run with these (validated) parameters give every k <= n?"""
    if strategy not in PICK or budget is not None:
        return False
    if strategy == "self-consistency":
        return not params["early_stop"] or params["batch"] in (0, params["n"])
    if strategy == "best-of-n":
        return params["refine_rounds"] == 0
    return True


def grade_answer(problem: Problem, answer: str | None) -> bool | None:
    """Is `answer` right? None when the problem has no gold answer."""
    if problem.gold is None:
        return None
    if answer is None:
        return False
    from lab.tasks.grading import grade

    return bool(grade(problem, answer))


def chains_of(trace: Trace) -> list[Chain]:
    """The run's sampled chains: answer groups (as the strategy groups them), correctness,
    vote weights and scores."""
    from lab.tasks.answers import group_answers

    nodes = [n for n in trace.nodes if n.kind == NodeKind.CHAIN]
    voting = [n.finish_reason != "stopped" for n in nodes]  # confidence-vote's early stops
    answers = [n.answer if votes else None for n, votes in zip(nodes, voting, strict=True)]
    groups = group_answers(answers, trace.problem.kind)
    group_of = {member: g for g, group in enumerate(groups) for member in group.members}
    right = [bool(grade_answer(trace.problem, group.answer)) for group in groups]
    weighted = trace.strategy == "confidence-vote"
    scorer = trace.params.get("scorer")
    chains = []
    for i, node in enumerate(nodes):
        group = group_of.get(i)
        chains.append(Chain(
            group=group,
            correct=group is not None and right[group],
            weight=node.scores.get(CONFIDENCE, 0.0) if weighted else 1.0,
            score=node.scores.get(scorer) if isinstance(scorer, str) else None,
        ))
    return chains
