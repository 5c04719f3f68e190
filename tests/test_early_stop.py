"""Early stop that fires: self-consistency draws a majority first when early stop is on, and
what confidence-vote saves is called an estimate, with a switch to measure it (scripted)."""

from __future__ import annotations

import pytest
from test_strategy_support import by_seed, chains, run, solution
from test_strategy_voting import _confident, _unsure

from lab.engine.scripted import ScriptedEngine
from lab.strategies.registry import get_strategy
from lab.strategies.self_consistency import batches


@pytest.mark.parametrize(("n", "batch", "early_stop", "plan"), [
    (8, 0, True, [5, 3]),  # a majority first: 5 that agree cannot be caught by 3
    (9, 0, True, [5, 4]),
    (8, 0, False, [8]),
    (4, 0, True, [4]),  # small n: one call (stopping could save one chain at most)
    (2, 0, True, [2]),
    (8, 3, True, [3, 3, 2]),
    (8, 3, False, [3, 3, 2]),
])
def test_batch_plan(n: int, batch: int, early_stop: bool, plan: list[int]):
    assert batches(n, batch, early_stop) == plan


def test_default_self_consistency_stops_when_a_majority_agrees():
    engine = ScriptedEngine(solution("42"))
    trace = run("self-consistency", engine, n=8)
    assert [len(c.seeds) for c in engine.calls] == [5]
    assert len(chains(trace)) == 5 and trace.meta["samples"] == 5
    assert "5 of 5 votes for 42; stopped early after 5 of 8 samples" in trace.reason


def test_default_self_consistency_draws_the_rest_when_the_majority_is_split():
    engine = ScriptedEngine(by_seed({1: solution("41")}, default=solution("42")))
    trace = run("self-consistency", engine, n=8)
    assert [c.seeds for c in engine.calls] == [[0, 1, 2, 3, 4], [5, 6, 7]]
    assert [n.meta["round"] for n in chains(trace)] == [1] * 5 + [2] * 3
    assert trace.reason == "7 of 8 votes for 42"


def test_early_stop_off_draws_all_in_one_call_on_the_same_seeds():
    stopped_engine, full_engine = ScriptedEngine(solution("42")), ScriptedEngine(solution("42"))
    stopped = run("self-consistency", stopped_engine, n=8)
    full = run("self-consistency", full_engine, n=8, early_stop=False)
    assert [c.seeds for c in full_engine.calls] == [list(range(8))]
    assert [n.text for n in chains(stopped)] == [n.text for n in chains(full)][:5]
    # the tokens early stop saved, measured: 3 chains of 10 tokens
    assert full.compute.generated_tokens - stopped.compute.generated_tokens == 30


@pytest.mark.parametrize(("params", "resamplable"), [
    ({"n": 8}, False),  # drawn in two calls, the second only if the first did not decide
    ({"n": 8, "early_stop": False}, True),
    ({"n": 4}, True),
    ({"n": 8, "batch": 8}, True),
    ({"n": 8, "batch": 2, "early_stop": False}, True),
])
def test_resamplable_only_when_no_call_depends_on_the_votes(params: dict, resamplable: bool):
    strategy = get_strategy("self-consistency")
    assert strategy.resamplable(strategy.validate(params), None) is resamplable


def test_the_parallel_sequences_follow_the_plan():
    strategy = get_strategy("self-consistency")
    assert strategy.parallel_sequences(strategy.validate({"n": 8})) == 5
    assert strategy.parallel_sequences(strategy.validate({"n": 8, "early_stop": False})) == 8
    assert strategy.parallel_sequences(strategy.validate({"n": 8, "batch": 2})) == 2


REPLIES = {0: _confident("42"), 1: _confident("42"), 2: _unsure("13"), 3: _unsure("13"),
           4: _unsure("13"), 5: _confident("41")}


def test_confidence_vote_calls_its_savings_an_estimate():
    trace = run("confidence-vote", ScriptedEngine(by_seed(REPLIES)), n=6, warmup=2, window=4)
    assert trace.meta["stopped"] == 3 and trace.meta["tokens_saved_measured"] is False
    saved = trace.meta["tokens_saved_estimate"]
    assert (f"3 chains stopped early, saving an estimated {saved} tokens (from the finished "
            "chains' mean length, not measured)") in trace.reason


def test_confidence_vote_without_early_stop_measures_what_stopping_saved():
    stopping = run("confidence-vote", ScriptedEngine(by_seed(REPLIES)), n=6, warmup=2, window=4)
    full = run("confidence-vote", ScriptedEngine(by_seed(REPLIES)), n=6, warmup=2, window=4,
               early_stop=False)
    assert full.meta["stopped"] == 0 and "no chain stopped early" in full.reason
    assert not any(n.finish_reason == "stopped" for n in chains(full))
    assert set(full.votes) == {"42", "41", "13"}  # every chain votes
    saved = full.compute.generated_tokens - stopping.compute.generated_tokens
    assert saved > 0 and [n.text for n in chains(full)][:2] == [n.text for n in
                                                                chains(stopping)][:2]
