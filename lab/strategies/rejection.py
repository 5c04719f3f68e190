"""`rejection`: sample one at a time (or in small batches) until a verifier accepts.

The answer is the first accepted sample's; if none is accepted within `n` samples or the
token budget, the best-scored sample's. A sample cut at its token cap is not verified and
never chosen, unless `cut_votes`."""

from __future__ import annotations

from lab.scorers import VERIFIERS
from lab.strategies import categories
from lab.strategies.base import Strategy, sampling
from lab.strategies.context import BudgetExhausted, RunContext
from lab.strategies.params import (
    Param,
    cut_votes_param,
    n_param,
    prompt_param,
    sampling_params,
    seed_param,
    threshold_param,
    verifier_param,
)
from lab.strategies.voting import cut_note, cut_votes
from lab.trace import Node, NodeStatus, TraceView


class Rejection(Strategy):
    name = "rejection"
    category = categories.VERIFY
    order = 50
    views = (TraceView.CANDIDATES, TraceView.CHAINS)
    sweep_knob = "n"
    summary = "Sample until a verifier accepts; else keep the best-scored sample."
    params = (
        n_param(8, maximum=64),
        Param("batch", "int", 1, "samples per engine call", 1, 16, knob=True),
        verifier_param("self-verify", VERIFIERS),
        threshold_param(0.5),
        prompt_param("cot"),
        *sampling_params(temperature=0.7),
        cut_votes_param("be verified and chosen"),
        seed_param(),
    )

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = ctx.solve_messages(p["prompt"])
        root = ctx.add_prompt(messages, style=p["prompt"])
        samples: list[Node] = []
        note = ""
        while len(samples) < p["n"]:
            verdicts = ctx.verdict_cost(p["verifier"])  # each sample is verified
            count = min(p["batch"], p["n"] - len(samples), ctx.affordable(p["batch"], verdicts))
            try:
                cap = ctx.token_cap(p["max_tokens"], count, verdicts=verdicts)
            except BudgetExhausted:
                note = "; token budget spent"
                break
            for node in ctx.sample(messages, [root] * count, sampling(p, cap)):
                samples.append(node)
                if not _eligible(ctx, node):
                    continue
                if ctx.verify(node, p["verifier"], p["threshold"]).accepted:
                    ctx.finish(node.answer, f"sample {len(samples)} accepted by {p['verifier']}",
                               node)
                    return
        self._fallback(ctx, samples, note)

    def _fallback(self, ctx: RunContext, samples: list[Node], note: str) -> None:
        verifier = ctx.params["verifier"]
        if not samples:
            ctx.finish(None, f"no samples drawn{note}")
            return
        cut = cut_note(samples, cut_votes(ctx))
        note += f"; {cut}" if cut else ""
        eligible = [n for n in samples if _eligible(ctx, n)]
        if not eligible:
            ctx.finish(None, f"all {len(samples)} samples were cut at the token cap{note}")
            return
        best = max(eligible, key=lambda n: (n.answer is not None, n.scores.get(verifier, 0.0)))
        ctx.update(best, status=NodeStatus.KEPT)
        ctx.finish(best.answer, f"none of {len(samples)} samples accepted; best {verifier} score "
                   f"{best.scores.get(verifier, 0.0):.3f}{note}", best)


def _eligible(ctx: RunContext, node: Node) -> bool:
    """May the sample be verified and chosen? Not when cut at its token cap (unless
    `cut_votes`)."""
    return cut_votes(ctx) or not node.cut
