"""`confidence-vote` (DeepConf, online): self-consistency where each chain's vote is weighted
by its confidence, and chains whose confidence drops below a learned threshold stop early.

1. Warm-up: `warmup` chains in one batch; each chain's confidence is its lowest sliding-window
   mean token confidence (DeepConf's "lowest group confidence").
2. The threshold is the `percentile`-th percentile of the warm-up confidences.
3. The remaining chains run in one batch; a chain whose current window mean falls below the
   threshold is stopped at once (the engine's on_token hook returns True) and does not vote.
4. The surviving chains vote, weighted by their confidence. The trace reports an estimate of
   the tokens the stopped chains would have cost under plain voting (the finished chains'
   mean length, less what each stopped chain generated): an estimate, not a measurement. To
   measure it, compare with `early_stop` off (no chain stops) on the same seeds in `lab eval`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lab.engine.base import Token
from lab.scorers import SlidingWindow, lowest_window_mean, token_confidence
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
    seed_param,
)
from lab.strategies.voting import finish_vote, record_tally
from lab.trace import Node, TraceView

TOP_K = 5  # alternatives per token for DeepConf's token confidence
CONFIDENCE = "confidence"  # the score name on each chain


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation, like numpy's default."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class ConfidenceVote(Strategy):
    name = "confidence-vote"
    category = categories.CONFIDENCE
    order = 90
    views = (TraceView.VOTES, TraceView.CHAINS)
    sweep_knob = "n"
    demo = Demo({"n": 8, "warmup": 3})
    pick = "maj"
    vote_weight = CONFIDENCE
    summary = "DeepConf: confidence-weighted voting; low-confidence chains stop early."
    params = (
        n_param(8),
        Param("warmup", "int", 3, "chains drawn first to learn the stopping threshold", 1, 32,
              knob=True),
        Param("percentile", "float", 10.0, "threshold = this percentile of the warm-up "
              "confidences (higher stops more chains)", 0.0, 100.0),
        Param("window", "int", 16, "tokens in the sliding confidence window", 2, 2048),
        Param("early_stop", "bool", True, "stop chains whose confidence falls below the "
              "threshold (off: every chain finishes and votes, to measure what stopping saves)"),
        prompt_param("cot"),
        *sampling_params(temperature=0.7),
        cut_votes_param(),
        seed_param(),
    )

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        return max(int(params["warmup"]), int(params["n"]) - int(params["warmup"]))

    def with_n(self, params: dict[str, Any], n: int) -> dict[str, Any]:
        return {**params, "n": n, "warmup": min(params["warmup"], n)}

    def check(self, params: dict[str, Any]) -> None:
        if params["warmup"] > params["n"]:
            raise ParamError(f"warmup must be at most n ({params['n']}) (got {params['warmup']})")

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = ctx.solve_messages(p["prompt"])
        root = ctx.add_prompt(messages, style=p["prompt"])
        chains: list[Node] = []
        note = ""
        try:
            per_chain = ctx.token_cap(p["max_tokens"], ctx.affordable(p["n"]))
            chains += self._warmup(ctx, messages, root, per_chain)
            threshold = percentile([c.scores[CONFIDENCE] for c in chains], p["percentile"])
            ctx.trace.meta["threshold"] = threshold
            rest = ctx.affordable(p["n"] - len(chains))
            if rest > 0:
                cap = ctx.token_cap(per_chain, rest)
                chains += self._final(ctx, messages, root, rest, cap, threshold)
        except BudgetExhausted:
            note = "token budget spent"
        voters = [c for c in chains if c.finish_reason != "stopped"]
        note = "; ".join(x for x in (self._savings(ctx, chains, voters), note) if x)
        finish_vote(ctx, voters, CONFIDENCE, [c.scores[CONFIDENCE] for c in voters], note)

    def _warmup(self, ctx: RunContext, messages: Any, root: Node, cap: int) -> list[Node]:
        count = min(ctx.params["warmup"], ctx.affordable(ctx.params["n"]))
        chains = ctx.sample(messages, [root] * count,
                            sampling(ctx.params, cap, top_logprobs=TOP_K), meta={"phase": "warmup"})
        for chain in chains:
            self._score(ctx, chain)
        record_tally(ctx, chains, [c.scores[CONFIDENCE] for c in chains])
        return chains

    def _final(self, ctx: RunContext, messages: Any, root: Node, count: int, cap: int,
               threshold: float) -> list[Node]:
        windows: dict[int, SlidingWindow] = {}

        def stop_when_unsure(node: Node, token: Token) -> bool:
            window = windows.setdefault(node.id, SlidingWindow(ctx.params["window"]))
            window.push(token_confidence(token))
            return window.full and window.mean < threshold

        chains = ctx.sample(messages, [root] * count,
                            sampling(ctx.params, cap, top_logprobs=TOP_K),
                            on_token=stop_when_unsure if ctx.params["early_stop"] else None,
                            meta={"phase": "final"})
        for chain in chains:
            self._score(ctx, chain)
        return chains

    def _score(self, ctx: RunContext, chain: Node) -> None:
        values = [token_confidence(t) for t in chain.tokens]
        chain.scores[CONFIDENCE] = lowest_window_mean(values, ctx.params["window"])
        ctx.update(chain)

    def _savings(self, ctx: RunContext, chains: list[Node], voters: list[Node]) -> str:
        stopped = [c for c in chains if c.finish_reason == "stopped"]
        finished = [len(c.tokens) for c in voters]
        typical = sum(finished) / len(finished) if finished else float(ctx.params["max_tokens"])
        saved = int(sum(max(0.0, typical - len(c.tokens)) for c in stopped))
        ctx.trace.meta.update(stopped=len(stopped), tokens_saved_estimate=saved,
                              tokens_saved_measured=False,
                              warmup=sum(c.meta.get("phase") == "warmup" for c in chains))
        if not stopped:
            return "no chain stopped early"
        return (f"{len(stopped)} chains stopped early, saving an estimated {saved} tokens "
                "(from the finished chains' mean length, not measured)")
