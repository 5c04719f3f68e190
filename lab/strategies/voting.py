"""Voting over sampled chains: group answers by equivalence, weigh votes, break ties."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lab.strategies.context import RunContext
from lab.tasks.problem import AnswerKind
from lab.trace import CUT_VOTES, Node, NodeStatus

TIE_EPSILON = 1e-9


@dataclass
class VoteGroup:
    key: str  # the answer the group stands for
    members: list[Node]
    weight: float


def votes(chain: Node, cut_votes: bool = False) -> bool:
    """Does the chain vote (and may it be ranked)? Not without an answer, and not when it was
    cut at its token cap, unless `cut_votes`: its "answer" is the last number it happened to
    write."""
    return chain.answer is not None and (cut_votes or not chain.cut)


def cut_votes(ctx: RunContext) -> bool:
    """The run's `cut_votes` parameter (False where the strategy has none)."""
    return bool(ctx.params.get(CUT_VOTES, False))


def cut_note(chains: Sequence[Node], cut_vote: bool) -> str:
    """What the reason says about cut chains left out: "2 chains cut at the token cap did
    not vote" (empty when none was left out)."""
    left_out = sum(c.cut and c.answer is not None for c in chains) if not cut_vote else 0
    if not left_out:
        return ""
    chains_word = "chain" if left_out == 1 else "chains"
    verb = "was" if left_out == 1 else "were"
    return f"{left_out} {chains_word} cut at the token cap {verb} left out"


def tally(chains: Sequence[Node], kind: AnswerKind | str,
          weights: Sequence[float] | None = None, cut_vote: bool = False) -> list[VoteGroup]:
    """Groups of equivalent answers, heaviest first; chains without an answer, and chains cut
    at their token cap unless `cut_vote`, do not vote."""
    from lab.tasks.answers import group_answers

    voters = [(i, c) for i, c in enumerate(chains) if votes(c, cut_vote)]
    groups = group_answers([c.answer for _, c in voters], kind)
    result = []
    for group in groups:
        members = [voters[m][1] for m in group.members]
        weight = sum(weights[voters[m][0]] if weights is not None else 1.0 for m in group.members)
        result.append(VoteGroup(group.key, members, weight))
    result.sort(key=lambda g: -g.weight)
    return result


def decided(groups: Sequence[VoteGroup], votes_left: float) -> bool:
    """True when no other answer can catch the leader with the votes still to come."""
    if not groups:
        return False
    runner_up = groups[1].weight if len(groups) > 1 else 0.0
    return groups[0].weight > runner_up + votes_left


def pick_winner(ctx: RunContext, groups: Sequence[VoteGroup], tie_scorer: str
                ) -> tuple[VoteGroup, Node, bool]:
    """The heaviest group (ties broken by the mean `tie_scorer` score of each group's chains),
    its best-scored chain, and whether a tie had to be broken."""
    top = [g for g in groups if groups[0].weight - g.weight <= TIE_EPSILON]
    scored = len(top) > 1
    if scored:
        means = [sum(_score(ctx, n, tie_scorer) for n in g.members) / len(g.members) for g in top]
        winner = top[max(range(len(top)), key=lambda i: means[i])]
    else:
        winner = top[0]
    representative = (max(winner.members, key=lambda n: n.scores.get(tie_scorer, 0.0))
                      if scored else winner.members[0])
    return winner, representative, scored


def finish_vote(ctx: RunContext, chains: Sequence[Node], tie_scorer: str,
                weights: Sequence[float] | None = None, note: str = "") -> None:
    """Vote over `chains`, record the votes, mark the winners and finish the trace."""
    groups = record_tally(ctx, chains, weights)
    note = _join(cut_note(chains, cut_votes(ctx)), note)
    if not groups:
        ctx.finish(None, _join("no chain gave an answer", note))
        return
    winner, representative, tie_broken = pick_winner(ctx, groups, tie_scorer)
    for node in winner.members:
        ctx.update(node, status=NodeStatus.KEPT)
    total = sum(g.weight for g in groups)
    what = "weighted votes" if weights is not None else "votes"
    reason = f"{_num(winner.weight)} of {_num(total)} {what} for {winner.key}"
    if tie_broken:
        reason += f" (tie broken by {tie_scorer})"
    ctx.finish(representative.answer, _join(reason, note), representative)


def record_tally(ctx: RunContext, chains: Sequence[Node],
                 weights: Sequence[float] | None = None) -> list[VoteGroup]:
    """Tally the chains so far, note each chain's group, and publish the running votes."""
    groups = tally(chains, ctx.problem.kind, weights, cut_votes(ctx))
    for group in groups:
        for node in group.members:
            if node.meta.get("group") != group.key:  # an event, so live mirrors see it too
                ctx.update(node, meta={**node.meta, "group": group.key})
    ctx.set_votes({g.key: g.weight for g in groups})
    return groups


def _score(ctx: RunContext, node: Node, scorer: str) -> float:
    """The node's score, computed only if not recorded yet."""
    return node.scores[scorer] if scorer in node.scores else ctx.score(node, scorer)


def _join(reason: str, note: str) -> str:
    return f"{reason}; {note}" if note and reason else reason or note


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
