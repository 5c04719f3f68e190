"""`cot`: a step-by-step (chain-of-thought) prompt, greedy or sampled."""

from __future__ import annotations

from lab.strategies.base import Strategy
from lab.strategies.context import RunContext
from lab.strategies.direct import single_chain
from lab.strategies.params import sampling_params, seed_param


class ChainOfThought(Strategy):
    name = "cot"
    summary = "One step-by-step answer (greedy at temperature 0, else sampled)."
    params = (*sampling_params(temperature=0.0, max_tokens=256), seed_param())

    def solve(self, ctx: RunContext) -> None:
        single_chain(ctx, "cot")
