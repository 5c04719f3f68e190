"""Equal spend: a budget is what a strategy may spend in total; a sampling strategy spends
it on more chains at its usual length, not on shorter chains (`Strategy.spend`)."""

from __future__ import annotations

import pytest
from test_strategy_support import run, solution

from lab.engine.scripted import ScriptedEngine
from lab.strategies.registry import STRATEGIES, get_strategy


@pytest.mark.parametrize(("name", "params", "budget", "n", "how"), [
    ("self-consistency", {}, 2048, 4, "4 chains of up to 512 tokens each"),
    ("self-consistency", {"max_tokens": 128}, 1024, 8, "8 chains of up to 128 tokens each"),
    # a self-verify verdict costs one more token a chain
    ("best-of-n", {"scorer": "self-verify", "max_tokens": 127}, 1024, 8,
     "8 chains of up to 128 tokens each"),
    # a refined chain also pays for a critique, a revision and their verdicts
    ("best-of-n", {"refine_rounds": 1, "scorer": "self-verify", "max_tokens": 100}, 1024, 3,
     "3 chains of up to 302 tokens each"),
    ("rejection", {}, 1100, 2, "2 chains of up to 513 tokens each"),
    ("confidence-vote", {}, 1024, 2, "2 chains of up to 512 tokens each"),
    ("self-consistency", {}, 100, 1, "1 chain, cut to the 100-token budget"),
    ("self-consistency", {"max_tokens": 1}, 10_000, 64, "64 chains of up to 1 tokens each "
     "(n at its most, 64)"),
])
def test_sampling_strategies_spend_a_budget_on_chains(name: str, params: dict, budget: int,
                                                      n: int, how: str):
    strategy = get_strategy(name)
    spend = strategy.spend(strategy.validate(params), budget)
    assert spend.params["n"] == n and spend.how == how
    assert strategy.validate(spend.params) == spend.params


def test_confidence_vote_keeps_its_warmup_within_n():
    strategy = get_strategy("confidence-vote")
    spend = strategy.spend(strategy.validate({"warmup": 3}), 1024)
    assert (spend.params["n"], spend.params["warmup"]) == (2, 2)


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - {"self-consistency", "best-of-n",
                                                             "rejection", "confidence-vote",
                                                             "program", "hybrid", "genselect"}))
def test_other_strategies_keep_their_settings_under_the_cap(name: str):
    strategy = get_strategy(name)
    params = strategy.validate({})
    spend = strategy.spend(params, 1024)
    assert spend.params == params and spend.how == "its own settings, capped at 1,024 tokens"
    assert strategy.spend(params, None).how == "its own settings"


def test_a_run_at_its_spend_draws_full_length_chains_within_the_budget():
    strategy = get_strategy("self-consistency")
    spend = strategy.spend(strategy.validate({"max_tokens": 16, "early_stop": False}), 64)
    engine = ScriptedEngine(solution("42"))
    trace = run("self-consistency", engine, budget=64, **spend.params)
    assert [c.params.max_tokens for c in engine.calls] == [16]  # not cut shorter
    assert len(engine.calls[0].seeds) == 4 and trace.compute.all_generated <= 64
