"""`beam-search`: step-level search keeping the best `width` partial solutions.

Each round expands every live partial solution by `branch` sampled next steps (continuing
from its cached prefix, up to a blank line), scores each new path with the scorer, and keeps
the best `width` of the new paths and the already finished ones; the rest are pruned. It ends
at `depth` steps, when every kept path is finished, or when the budget is spent."""

from __future__ import annotations

from typing import Any

from lab.prompts import PromptStyle
from lab.scorers import SCORERS
from lab.strategies import categories
from lab.strategies.base import Demo, Strategy
from lab.strategies.context import BudgetExhausted, RunContext
from lab.strategies.params import (
    branch_param,
    depth_param,
    max_tokens_param,
    scorer_param,
    seed_param,
    temperature_param,
    top_p_param,
    width_param,
)
from lab.strategies.steps import expand, is_done, score_path
from lab.trace import Node, NodeStatus, TraceView


class BeamSearch(Strategy):
    name = "beam-search"
    category = categories.SEARCH
    order = 70
    views = (TraceView.TREE, TraceView.CHAINS)
    sweep_knob = "width"
    demo = Demo({})  # at its defaults, on arith (game24: see best-of-n's demo)
    summary = "Step-by-step search keeping the best `width` partial solutions."
    params = (
        width_param(3),
        branch_param(2),
        depth_param(6),
        scorer_param("mean-logprob", SCORERS, "ranks partial solutions"),
        temperature_param(0.7),
        top_p_param(),
        max_tokens_param(96, "tokens per step"),
        seed_param(),
    )

    def prompt_style(self, params: dict[str, Any]) -> PromptStyle:
        return "steps"

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        return int(params["width"]) * int(params["branch"])

    def sequence_tokens(self, params: dict[str, Any]) -> int:
        return int(params["max_tokens"]) * int(params["depth"])

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = ctx.solve_messages("steps")
        root = ctx.add_prompt(messages, style="steps")
        beams: list[Node] = []
        note = f"{p['depth']} steps"
        for depth in range(1, p["depth"] + 1):
            live = [b for b in beams if not is_done(b)] if beams else [root]
            if not live:
                note = f"every kept path finished by step {depth - 1}"
                break
            # the first expansion fills the beam: `width * branch` samples from the prompt
            parents = [b for b in live for _ in range(p["branch"])]
            if not beams:
                parents = parents * p["width"]
            try:
                beams = self._step(ctx, messages, beams, parents, depth)
            except BudgetExhausted:
                note = f"token budget spent at step {depth}"
                break
        self._finish(ctx, beams, note)

    def _step(self, ctx: RunContext, messages: Any, beams: list[Node], parents: list[Node],
              depth: int) -> list[Node]:
        p = ctx.params
        verdicts = ctx.verdict_cost(p["scorer"])  # each new path is scored
        count = ctx.affordable(len(parents), verdicts)
        if count < 1:
            raise BudgetExhausted()
        parents = parents[:count]
        cap = ctx.token_cap(p["max_tokens"], count, p["depth"] - depth + 1, verdicts)
        children = expand(ctx, messages, parents, cap, p["depth"])
        for child in children:
            score_path(ctx, child, p["scorer"])
        pool = children + [b for b in beams if is_done(b)]
        ranked = sorted(pool, key=lambda n: -n.scores[p["scorer"]])
        for rank, node in enumerate(ranked):
            status = NodeStatus.KEPT if rank < p["width"] else NodeStatus.PRUNED
            if node.status != status:
                ctx.update(node, status=status)
        return ranked[: p["width"]]

    def _finish(self, ctx: RunContext, beams: list[Node], note: str) -> None:
        scorer = ctx.params["scorer"]
        if not beams:
            ctx.finish(None, f"no step generated; {note}")
            return
        answered = [b for b in beams if b.answer is not None]
        best = max(answered or beams, key=lambda n: n.scores[scorer])
        what = "best finished path" if is_done(best) else "best partial path"
        ctx.finish(best.answer, f"{what} by {scorer}: {best.scores[scorer]:.3f}; {note}", best)
