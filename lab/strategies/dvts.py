"""`dvts`: diverse verifier tree search (Beeching, Tunstall & Rush 2024, "Scaling test-time
compute with open models"; search-and-learn's `search/diverse_verifier_tree_search.py`).

The budget is split into `subtrees` independent subtrees. Each is a step-level beam search of
width 1: at every step it samples `branch` next steps from its own current path (continuing
its cached prefix, up to a blank line: lab.strategies.steps), scores each extended path with
the scorer and keeps the best one, for at most `depth` steps or until its path is done (an
answer stated, the model ended it, or the depth limit). Where one beam of `subtrees` paths
tends to collapse onto the few highest-scored first steps, the subtrees cannot crowd each
other out: each keeps its own line of reasoning to the end.

All live subtrees' candidates of one depth are drawn in one engine call (live subtrees x
`branch` sequences, each with its own seed), so the engine batches them and serves the shared
prompt from its cache.

The subtrees' final leaves are complete solutions, and their answers are voted: at
`vote=weighted` (search-and-learn's weighted best-of-N over the leaves) each leaf's vote
weighs its path's score mapped to [0, 1] by the scorer's `probability` (kept on the node as
self-consistency's `vote-weight`); at `plain` each leaf is one vote. A leaf votes when it has
an answer, unless its last step was cut at the step cap without stating one explicitly (its
"answer" would be the last number it happened to write). The chosen leaf is the best-scored
one of the winning answer.

Trace: PROMPT -> STEP (meta: subtree, depth, done; KEPT for the step a subtree kept, PRUNED
for its siblings; `leaf` on each subtree's last kept step) -> ... -> ANSWER under the chosen
leaf; trace.votes holds the leaves' votes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lab.prompts import PromptStyle
from lab.scorers import SCORERS
from lab.strategies import categories
from lab.strategies.base import Demo, Strategy
from lab.strategies.context import BudgetExhausted, RunContext
from lab.strategies.params import (
    Param,
    ParamError,
    branch_param,
    depth_param,
    max_tokens_param,
    scorer_param,
    seed_param,
    temperature_param,
    top_p_param,
)
from lab.strategies.self_consistency import vote_weights
from lab.strategies.steps import EXPLICIT_RULES, expand, is_done, score_path
from lab.strategies.voting import pick_winner, tally
from lab.trace import Node, NodeStatus, TraceView

SUBTREE = "subtree"  # node.meta: the index of the subtree a step belongs to
LEAF = "leaf"  # node.meta: True on each subtree's final kept step
WEIGHTED, PLAIN = "weighted", "plain"


class DiverseVerifierTreeSearch(Strategy):
    name = "dvts"
    category = categories.SEARCH
    order = 93  # after the lab's first strategies (beam-search 70, tree-search 80, ...)
    views = (TraceView.TREE, TraceView.VOTES)
    sweep_knob = "subtrees"
    # arith, like beam search's demo; 3 subtrees x 2 branches draw as many sequences per step
    # as beam search's demo (width 3 x branch 2), so the two compare at the same step cost
    demo = Demo({"subtrees": 3, "branch": 2})
    summary = "Independent greedy step searches (one per subtree), their answers voted."
    params = (
        Param("subtrees", "int", 4, "independent subtrees, each a step search keeping its "
              "one best path", 1, 16, knob=True),
        branch_param(2),
        depth_param(6),
        scorer_param("mean-logprob", SCORERS, "picks each subtree's next step and weighs "
                     "the leaves' votes"),
        Param("vote", "choice", WEIGHTED, "how the leaves' answers are voted: weighted by "
              "each leaf's score as a probability, or one leaf one vote",
              choices=(WEIGHTED, PLAIN)),
        temperature_param(0.7),
        top_p_param(),
        max_tokens_param(96, "tokens per step"),
        seed_param(),
    )

    def prompt_style(self, params: dict[str, Any]) -> PromptStyle:
        return "steps"

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        return int(params["subtrees"]) * int(params["branch"])

    def sequence_tokens(self, params: dict[str, Any]) -> int:
        return int(params["max_tokens"]) * int(params["depth"])

    def check(self, params: dict[str, Any]) -> None:
        if params["temperature"] <= 0:
            raise ParamError("temperature must be above 0 for dvts (at 0 a subtree's "
                             f"branches are the same step) (got {params['temperature']:g})")

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = ctx.solve_messages("steps")
        root = ctx.add_prompt(messages, style="steps")
        paths: list[Node | None] = [None] * p["subtrees"]  # each subtree's kept path so far
        note = f"{p['depth']} steps"
        for depth in range(1, p["depth"] + 1):
            live = [i for i, node in enumerate(paths) if node is None or not is_done(node)]
            if not live:
                note = f"every subtree finished by step {depth - 1}"
                break
            try:
                self._step(ctx, messages, root, paths, live, depth)
            except BudgetExhausted:
                note = (f"the token budget could not pay for step {depth} of the "
                        f"{len(live)} live subtree{'s' if len(live) > 1 else ''}")
                break
        leaves = [node for node in paths if node is not None]
        for leaf in leaves:
            ctx.update(leaf, meta={**leaf.meta, LEAF: True})
        self._finish(ctx, leaves, note)

    def _step(self, ctx: RunContext, messages: Any, root: Node, paths: list[Node | None],
              live: Sequence[int], depth: int) -> None:
        """One engine call: `branch` next steps for every live subtree; each keeps its best."""
        p = ctx.params
        branch, scorer = p["branch"], p["scorer"]
        parents = [paths[i] or root for i in live for _ in range(branch)]
        verdicts = ctx.verdict_cost(scorer)  # each new path is scored
        if ctx.affordable(len(parents), verdicts) < len(parents):
            raise BudgetExhausted()  # not a whole step: every live subtree or none
        cap = ctx.token_cap(p["max_tokens"], len(parents), p["depth"] - depth + 1, verdicts)
        children = expand(ctx, messages, parents, cap, p["depth"])
        for k, child in enumerate(children):
            child.meta[SUBTREE] = live[k // branch]
            score_path(ctx, child, scorer)
        for j, subtree in enumerate(live):
            siblings = children[j * branch:(j + 1) * branch]
            best = max(siblings, key=lambda n: n.scores[scorer])  # the first of equals
            for node in siblings:
                ctx.update(node, status=NodeStatus.KEPT if node is best else NodeStatus.PRUNED)
            paths[subtree] = best

    def _finish(self, ctx: RunContext, leaves: list[Node], note: str) -> None:
        p = ctx.params
        scorer = p["scorer"]
        voters = [leaf for leaf in leaves if leaf_votes(leaf)]
        weights = vote_weights(ctx, voters, scorer) if p["vote"] == WEIGHTED else None
        groups = tally(voters, ctx.problem.kind, weights, cut_vote=True)
        for group in groups:
            for node in group.members:
                ctx.update(node, meta={**node.meta, "group": group.key})
        ctx.set_votes({g.key: g.weight for g in groups})
        notes = [_voted(leaves, voters, p["subtrees"]), note]
        if not groups:
            ctx.finish(None, _join("no subtree's leaf reached an answer", *notes))
            return
        winner, _, tie_broken = pick_winner(ctx, groups, scorer)
        leaf = max(winner.members, key=lambda n: n.scores[scorer])  # the first of equals
        total = sum(g.weight for g in groups)
        what = f"votes weighted by {scorer}" if weights is not None else "votes"
        reason = f"{_num(winner.weight)} of {_num(total)} {what} for {winner.key}"
        if tie_broken:
            reason += f" (tie broken by {scorer})"
        ctx.finish(leaf.answer, _join(reason, *notes), leaf)


def leaf_votes(leaf: Node) -> bool:
    """Does a subtree's leaf vote? When its path has an answer (only a done path has one),
    unless its last step was cut at the step cap and the answer is not stated explicitly."""
    explicit = leaf.meta.get("extract_rule") in EXPLICIT_RULES
    return leaf.answer is not None and (explicit or not leaf.cut)


def _voted(leaves: Sequence[Node], voters: Sequence[Node], subtrees: int) -> str:
    """Which leaves voted, in words ("3 of 4 subtrees' leaves voted; 1 cut at the step cap was
    left out"), or empty when all of them did."""
    if len(voters) == subtrees:
        return ""
    cut = sum(leaf.answer is not None and not leaf_votes(leaf) for leaf in leaves)
    said = f"{len(voters)} of {subtrees} subtrees' leaves voted"
    return said + (f" ({cut} cut at the step cap without a stated answer)" if cut else "")


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
