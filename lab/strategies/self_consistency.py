"""`self-consistency`: N sampled chains, answers grouped by equivalence, majority vote.

Samples are drawn in batches of `batch`; between batches, `early_stop` ends the run once no
other answer can overtake the leader. `batch` 0 draws all n in one engine call without early
stop; with it, a majority's worth first (n // 2 + 1: if they all agree, nothing can catch
them) and the rest in a second call, so that early stop can fire. Up to n = 4 all are drawn
at once even so: stopping could save at most one chain there, for a second call."""

from __future__ import annotations

from typing import Any

from lab.scorers import SCORERS
from lab.strategies import categories
from lab.strategies.base import Demo, Strategy, sampling
from lab.strategies.context import BudgetExhausted, RunContext
from lab.strategies.params import (
    Param,
    ParamError,
    cut_votes_param,
    n_param,
    prompt_param,
    sampling_params,
    scorer_param,
    seed_param,
)
from lab.strategies.voting import decided, finish_vote, record_tally
from lab.trace import Node, TraceView

ONE_CALL_UP_TO = 4  # batch 0 draws n <= this in one call even with early stop
AUTO_BATCH = "all at once; with early stop, a majority first"


def batch_param(what: str = "smaller batches let early stopping save samples") -> Param:
    return Param("batch", "int", 0, f"samples per engine call (0 = {AUTO_BATCH}); {what}", 0,
                 64, knob=True, zero=AUTO_BATCH)


def batches(n: int, batch: int, early_stop: bool) -> list[int]:
    """How many samples each engine call draws, for `n` samples: `batch` at a time; for 0,
    all at once, or with early stop (and n > ONE_CALL_UP_TO) a majority then the rest."""
    if batch:
        return [min(batch, n - start) for start in range(0, n, batch)]
    if not early_stop or n <= ONE_CALL_UP_TO:
        return [n] if n > 0 else []
    first = n // 2 + 1
    return [first, n - first]


class SelfConsistency(Strategy):
    name = "self-consistency"
    category = categories.VOTE
    order = 30
    views = (TraceView.VOTES, TraceView.CHAINS)
    sweep_knob = "n"
    demo = Demo({"n": 8})
    pick = "maj"
    summary = "Sample N chains and take the majority answer."
    params = (
        n_param(8),
        batch_param(),
        Param("early_stop", "bool", True, "stop sampling once no other answer can win"),
        prompt_param("cot"),
        *sampling_params(temperature=0.7),
        scorer_param("mean-logprob", SCORERS, "breaks ties between answers"),
        cut_votes_param(),
        seed_param(),
    )

    def resamplable(self, params: dict[str, Any], budget: int | None) -> bool:
        drawn_at_once = len(batches(params["n"], params["batch"], params["early_stop"])) == 1
        return super().resamplable(params, budget) and (not params["early_stop"] or drawn_at_once)

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        return max(batches(params["n"], params["batch"], params["early_stop"]))

    def check(self, params: dict[str, Any]) -> None:
        if params["batch"] > params["n"]:
            raise ParamError(f"batch must be at most n ({params['n']}) (got {params['batch']})")

    def scorers_used(self, params: dict[str, Any]) -> list[str]:
        return [params["scorer"]]

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = ctx.solve_messages(p["prompt"])
        root = ctx.add_prompt(messages, style=p["prompt"])
        chains, note = draw_in_batches(ctx, messages, root, p["n"], p["batch"],
                                       p["early_stop"])
        ctx.trace.meta["samples"] = len(chains)
        finish_vote(ctx, chains, p["scorer"], note=note)


def draw_in_batches(ctx: RunContext, messages: Any, root: Node, n: int, batch: int,
                    early_stop: bool) -> tuple[list[Node], str]:
    """Sample up to `n` chains in the calls `batches` plans, each chain capped at an equal
    share of the budget."""
    chains: list[Node] = []
    verdicts = ctx.verdict_cost(ctx.params["scorer"])  # a tie may score any chain
    wanted, n = n, ctx.affordable(n, verdicts)  # a budget under n tokens affords fewer chains
    try:
        if n < 1:
            raise BudgetExhausted()
        per_chain = ctx.token_cap(ctx.params["max_tokens"], n, verdicts=verdicts)
        for round_no, count in enumerate(batches(n, batch, early_stop), start=1):
            cap = ctx.token_cap(per_chain, count, verdicts=verdicts)
            chains += ctx.sample(messages, [root] * count, sampling(ctx.params, cap),
                                 meta={"round": round_no})
            groups = record_tally(ctx, chains)
            if early_stop and len(chains) < n and decided(groups, n - len(chains)):
                return chains, (f"stopped early after {len(chains)} of {wanted} samples: "
                                "no other answer could win")
    except BudgetExhausted:
        return chains, f"token budget spent after {len(chains)} of {wanted} samples"
    if n < wanted:
        return chains, f"the token budget afforded {n} of {wanted} samples"
    return chains, ""
