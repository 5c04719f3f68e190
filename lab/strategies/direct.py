"""`direct`: one greedy answer, no reasoning asked for."""

from __future__ import annotations

from typing import Any

from lab.prompts import PromptStyle
from lab.strategies import categories
from lab.strategies.base import Strategy, sampling
from lab.strategies.context import RunContext
from lab.strategies.params import max_tokens_param, seed_param
from lab.trace import TraceView


def single_chain(ctx: RunContext, style: PromptStyle) -> None:
    """Ask once with the given prompt style; the chain's answer is the final answer."""
    messages = ctx.solve_messages(style)
    root = ctx.add_prompt(messages, style=style)
    cap = ctx.token_cap(ctx.params["max_tokens"])
    [chain] = ctx.sample(messages, [root], sampling(ctx.params, cap))
    how = "greedy" if ctx.params.get("temperature", 0.0) == 0 else "sampled"
    cut = "; the chain was cut at the token cap" if chain.cut else ""
    if chain.answer is None:
        ctx.finish(None, f"the {how} chain gave no answer{cut}", chain)
    else:
        ctx.finish(chain.answer,
                   f"the {how} answer ({chain.meta.get('extract_rule', '')}){cut}", chain)


class Direct(Strategy):
    name = "direct"
    category = categories.THINK
    order = 10
    views = (TraceView.CHAINS,)
    summary = "One greedy answer, asked for with no reasoning."
    params = (max_tokens_param(64), seed_param())

    def prompt_style(self, params: dict[str, Any]) -> PromptStyle:
        return "direct"

    def solve(self, ctx: RunContext) -> None:
        single_chain(ctx, "direct")
