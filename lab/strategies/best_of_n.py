"""`best-of-n`: N chains ranked by a scorer; the best one's answer wins.

With `refine_rounds` > 0 each chain is first self-refined (critique and revision), and the
refined solutions are ranked: self-refinement inside best-of-n. A solution cut at its token
cap is neither scored nor ranked, unless `cut_votes`."""

from __future__ import annotations

from typing import Any

from lab.scorers import SCORERS
from lab.strategies import categories
from lab.strategies.base import Demo, Strategy, sampling
from lab.strategies.context import RunContext
from lab.strategies.params import (
    Param,
    cut_votes_param,
    n_param,
    prompt_param,
    sampling_params,
    scorer_param,
    seed_param,
)
from lab.strategies.self_refine import refine
from lab.strategies.voting import cut_note, cut_votes
from lab.trace import Node, NodeStatus, Trace, TraceView
from lab.views.candidates import CandidatesView

REFINED = "refined"  # a chosen solution's meta key: what refining did (RefinedCandidatesView)


class BestOfN(Strategy):
    name = "best-of-n"
    category = categories.VERIFY
    order = 40
    views = ("refined-candidates", TraceView.CHAINS)
    sweep_knob = "n"
    # arith, not game24: the default 0.5B model wrote a valid Game-of-24 expression on none
    # of 20 problems (docs/results.md, Learn's demonstrations), so there was nothing to pick
    demo = Demo({"n": 8, "scorer": "programmatic"})
    pick = "best"
    summary = "Sample N chains and keep the one a scorer ranks best."
    params = (
        n_param(4, maximum=32),
        scorer_param("mean-logprob", SCORERS),
        Param("refine_rounds", "int", 0, "self-refine each chain this many rounds first", 0, 4,
              knob=True),
        prompt_param("cot"),
        *sampling_params(temperature=0.7),
        cut_votes_param("be ranked"),
        seed_param(),
    )

    def chain_tokens(self, params: dict[str, Any]) -> int:
        """A chain, and with refinement its critiques, revisions and their verdicts."""
        rounds = params["refine_rounds"]
        verdict = super().chain_tokens(params) - params["max_tokens"]
        return params["max_tokens"] * (1 + 2 * rounds) + verdict * (1 + rounds)

    def resamplable(self, params: dict[str, Any], budget: int | None) -> bool:
        return super().resamplable(params, budget) and params["refine_rounds"] == 0

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = ctx.solve_messages(p["prompt"])
        root = ctx.add_prompt(messages, style=p["prompt"])
        verdicts = ctx.verdict_cost(p["scorer"]) * (1 + p["refine_rounds"])  # draft, revisions
        n = ctx.affordable(p["n"], verdicts)
        calls = 1 + 2 * p["refine_rounds"]  # the budget is shared with refinement calls
        cap = ctx.token_cap(p["max_tokens"], n, calls, verdicts)
        chains = ctx.sample(messages, [root] * n, sampling(p, cap))
        finalists = [self._finalist(ctx, chain) for chain in chains]
        self._rank(ctx, finalists, n)

    def _finalist(self, ctx: RunContext, chain: Node) -> Node:
        p = ctx.params
        if p["refine_rounds"] == 0:
            if _rankable(ctx, chain):
                ctx.score(chain, p["scorer"])
            return chain
        final, why = refine(ctx, chain, p["refine_rounds"], p["scorer"], p["max_tokens"])
        ctx.update(final, meta={**final.meta, REFINED: why})
        return final

    def _rank(self, ctx: RunContext, finalists: list[Node], n: int) -> None:
        scorer = ctx.params["scorer"]
        eligible = [node for node in finalists if _rankable(ctx, node)]
        note = cut_note(finalists, cut_votes(ctx))
        if not eligible:
            ctx.finish(None, f"every one of the {n} chains was cut at the token cap")
            return
        ranked = sorted(eligible, key=lambda node: -node.scores.get(scorer, float("-inf")))
        for rank, node in enumerate(ranked, start=1):
            ctx.update(node, meta={**node.meta, "rank": rank})
        answered = [node for node in ranked if node.answer is not None]
        best = answered[0] if answered else ranked[0]
        ctx.update(best, status=NodeStatus.KEPT)
        skipped = "" if best is ranked[0] else " (better-ranked chains gave no answer)"
        reason = f"best of {n} by {scorer}: {best.scores[scorer]:.3f}{skipped}"
        ctx.finish(best.answer, f"{reason}; {note}" if note else reason, best)


def _rankable(ctx: RunContext, node: Node) -> bool:
    """May the solution be scored and ranked? Not when it was cut at its token cap (unless
    the run's `cut_votes` says so)."""
    return cut_votes(ctx) or not node.cut


class RefinedCandidatesView(CandidatesView):
    """The candidates view for best-of-n: a refined solution also says what refining did."""

    name = "refined-candidates"
    summary = "Each candidate's scores and the decision, with what refining it did."

    def applies(self, trace: Trace) -> bool:
        return super().applies(trace) and any(REFINED in n.meta for n in trace.solutions())

    def why_parts(self, node: Node, trace: Trace) -> list[str]:
        parts = super().why_parts(node, trace)
        if node.meta.get(REFINED):
            parts.append(str(node.meta[REFINED]))
        return parts

