"""`self-consistency`: N sampled chains, answers grouped by equivalence, majority vote.

Samples are drawn in batches of `batch`; between batches, `early_stop` ends the run once no
other answer can overtake the leader. `batch` 0 draws all n in one engine call without early
stop; with it, a majority's worth first (n // 2 + 1: if they all agree, nothing can catch
them) and the rest in a second call, so that early stop can fire. Up to n = 4 all are drawn
at once even so: stopping could save at most one chain there, for a second call.

`weight` other than "none" weighs each chain's vote by a token scorer's score of it (the
DeepConf weighted vote; search-and-learn's `compute_weighted_pred`): an answer's weight is the
sum of its chains' weights. A score that can be negative (a mean log-prob) is mapped to [0, 1]
by the scorer's own `probability` (log-probs through exp: a chain's geometric-mean token
probability), so every weight is positive and at most 1, and early stop's "no other answer
can win" still holds (each chain to come adds at most 1). Each chain's raw score is kept under
the scorer's name and its weight under `VOTE_WEIGHT`. A weighted run is not resampled for
smaller k (`resamplable`): the estimators read one weight per strategy, not per run.

At "none" the parameter is left out of the validated parameters, so a default run has the
parameters (and ledger `params_key`) of runs stored before `weight` existed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lab.scorers import SCORERS, Verifier, get_scorer, scorers
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
WEIGHT = "weight"  # the parameter: what a chain's vote is weighted by
NO_WEIGHT = "none"  # one chain, one vote (left out of the validated parameters)
VOTE_WEIGHT = "vote-weight"  # a chain's vote weight in [0, 1], on the node beside its score


def weight_choices() -> tuple[str, ...]:
    """"none", then the scorers that read only the chain (no model call, no verdict)."""
    return (NO_WEIGHT, *(name for name, s in scorers().items()
                         if s.needs is None and not isinstance(s, Verifier)))


def weight_param() -> Param:
    return Param(WEIGHT, "choice", NO_WEIGHT, "weigh each chain's vote by this score, mapped "
                 "to [0, 1] by the scorer's probability (log-probs through exp); an answer's "
                 "weight is the sum of its chains' (none: one chain, one vote)",
                 choices=weight_choices())


def weight_of(params: Mapping[str, Any]) -> str:
    """The scorer the run's votes are weighted by; "none" also for runs stored before."""
    return str(params.get(WEIGHT, NO_WEIGHT))


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
        weight_param(),
        cut_votes_param(),
        seed_param(),
    )

    def validate(self, raw: Mapping[str, Any] | None = None) -> dict[str, Any]:
        values = super().validate(raw)
        if values[WEIGHT] == NO_WEIGHT:  # the parameters of runs stored before `weight`
            del values[WEIGHT]
        return values

    def resamplable(self, params: dict[str, Any], budget: int | None) -> bool:
        """Not with weighted votes: lab.evaluation.resample reads one weight per strategy
        (`vote_weight`), so a k-subset would be counted one chain, one vote."""
        drawn_at_once = len(batches(params["n"], params["batch"], params["early_stop"])) == 1
        return (super().resamplable(params, budget) and weight_of(params) == NO_WEIGHT
                and (not params["early_stop"] or drawn_at_once))

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        return max(batches(params["n"], params["batch"], params["early_stop"]))

    def check(self, params: dict[str, Any]) -> None:
        if params["batch"] > params["n"]:
            raise ParamError(f"batch must be at most n ({params['n']}) (got {params['batch']})")

    def scorers_used(self, params: dict[str, Any]) -> list[str]:
        weight = weight_of(params)
        return [params["scorer"]] + ([weight] if weight != NO_WEIGHT else [])

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = ctx.solve_messages(p["prompt"])
        root = ctx.add_prompt(messages, style=p["prompt"])
        weight = weight_of(p)
        chains, note = draw_in_batches(ctx, messages, root, p["n"], p["batch"],
                                       p["early_stop"], weight)
        ctx.trace.meta["samples"] = len(chains)
        if weight == NO_WEIGHT:
            finish_vote(ctx, chains, p["scorer"], note=note)
            return
        note = f"each vote weighted by its {weight} as a probability" + (
            f"; {note}" if note else "")
        finish_vote(ctx, chains, p["scorer"], vote_weights(ctx, chains, weight), note=note)


def vote_weights(ctx: RunContext, chains: Sequence[Node], scorer: str) -> list[float]:
    """Each chain's vote weight: its `scorer` score (scored once, kept on the node) mapped
    to [0, 1] by the scorer's `probability`, kept on the node as VOTE_WEIGHT."""
    found = get_scorer(scorer)
    weights = []
    for chain in chains:
        if VOTE_WEIGHT not in chain.scores:
            value = chain.scores[scorer] if scorer in chain.scores else ctx.score(chain, scorer)
            chain.scores[VOTE_WEIGHT] = found.probability(value)
            ctx.update(chain)
        weights.append(chain.scores[VOTE_WEIGHT])
    return weights


def draw_in_batches(ctx: RunContext, messages: Any, root: Node, n: int, batch: int,
                    early_stop: bool, weight: str = NO_WEIGHT) -> tuple[list[Node], str]:
    """Sample up to `n` chains in the calls `batches` plans, each chain capped at an equal
    share of the budget; the running tally is weighted by `weight` (a scorer, or "none")."""
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
            weights = vote_weights(ctx, chains, weight) if weight != NO_WEIGHT else None
            groups = record_tally(ctx, chains, weights)
            if early_stop and len(chains) < n and decided(groups, n - len(chains)):
                return chains, (f"stopped early after {len(chains)} of {wanted} samples: "
                                "no other answer could win")
    except BudgetExhausted:
        return chains, f"token budget spent after {len(chains)} of {wanted} samples"
    if n < wanted:
        return chains, f"the token budget afforded {n} of {wanted} samples"
    return chains, ""
