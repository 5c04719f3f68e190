"""`cot`: a step-by-step (chain-of-thought) prompt, greedy or sampled."""

from __future__ import annotations

from lab.strategies import categories
from lab.strategies.base import Demo, Strategy
from lab.strategies.context import RunContext
from lab.strategies.direct import single_chain
from lab.strategies.params import sampling_params, seed_param
from lab.trace import TraceView


class ChainOfThought(Strategy):
    name = "cot"
    category = categories.THINK
    order = 20
    views = (TraceView.CHAINS,)
    demo = Demo({})
    summary = "One step-by-step answer (greedy at temperature 0, else sampled)."
    params = (*sampling_params(temperature=0.0), seed_param())

    def solve(self, ctx: RunContext) -> None:
        single_chain(ctx, "cot")
