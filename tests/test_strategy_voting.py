"""Self-consistency and confidence-weighted voting on a scripted engine."""

from __future__ import annotations

from test_strategy_support import by_seed, chains, run, solution

from lab.engine.scripted import ScriptedEngine, ScriptedReply
from lab.strategies.confidence_vote import percentile
from lab.trace import NodeStatus


def test_majority_wins_in_one_batched_call():
    replies = {0: solution("42"), 1: solution("41"), 2: solution("42"), 3: "no idea"}
    engine = ScriptedEngine(by_seed(replies))
    trace = run("self-consistency", engine, n=4)
    assert len(engine.calls) == 1 and engine.calls[0].seeds == [0, 1, 2, 3]
    assert trace.final_answer == "42"
    assert trace.votes == {"42": 2.0, "41": 1.0}
    assert "2 of 3 votes for 42" in trace.reason
    kept = [n.meta["seed"] for n in chains(trace) if n.status == NodeStatus.KEPT]
    assert kept == [0, 2]
    assert [n.meta["seed"] for n in chains(trace) if n.chosen] == [0]


def test_tie_is_broken_by_the_scorer():
    replies = {0: ScriptedReply(solution("41"), -1.0), 1: ScriptedReply(solution("42"), -0.2)}
    trace = run("self-consistency", ScriptedEngine(by_seed(replies)), n=2)
    assert trace.final_answer == "42"
    assert "tie broken by mean-logprob" in trace.reason
    assert all("mean-logprob" in n.scores for n in chains(trace))


def test_early_stop_once_no_other_answer_can_win():
    engine = ScriptedEngine(solution("42"))
    trace = run("self-consistency", engine, n=8, batch=2)
    # after 6 samples: 6 votes against at most 2 more -> stop
    assert [len(c.seeds) for c in engine.calls] == [2, 2, 2]
    assert len(chains(trace)) == 6
    assert "stopped early after 6 of 8" in trace.reason


def test_early_stop_can_be_turned_off():
    engine = ScriptedEngine(solution("42"))
    run("self-consistency", engine, n=4, batch=1, early_stop=False)
    assert len(engine.calls) == 4


def test_budget_spreads_evenly_and_stops_drawing():
    engine = ScriptedEngine("a b c d e f g h i j")
    trace = run("self-consistency", engine, budget=10, n=20, max_tokens=50)
    assert trace.compute.generated_tokens <= 10
    assert "afforded 10 of 20" in trace.reason
    assert trace.final_answer is None and "no chain gave an answer" in trace.reason


def test_direct_prompt_combination():
    engine = ScriptedEngine("The answer is 42.")
    trace = run("self-consistency", engine, n=2, prompt="direct")
    assert "Give only the final answer" in trace.nodes[0].text
    assert trace.final_answer == "42"


def test_percentile_interpolates():
    assert percentile([4.0, 1.0, 3.0, 2.0], 0) == 1.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 100) == 4.0
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([7.0], 90) == 7.0


def _confident(answer: str) -> ScriptedReply:
    return ScriptedReply(solution(answer, "six times seven is forty two so"), -0.05)


def _unsure(answer: str) -> ScriptedReply:
    return ScriptedReply(solution(answer, "maybe it could be something like this or"), -3.0)


def test_confidence_vote_stops_unsure_chains_and_weighs_votes():
    replies = {0: _confident("42"), 1: _confident("42"), 2: _unsure("13"), 3: _unsure("13"),
               4: _unsure("13"), 5: _confident("41")}
    engine = ScriptedEngine(by_seed(replies))
    trace = run("confidence-vote", engine, n=6, warmup=2, window=4, percentile=10)
    warmup, final = engine.calls
    assert len(warmup.seeds) == 2 and len(final.seeds) == 4
    assert warmup.params.top_logprobs == 5
    stopped = [n for n in chains(trace) if n.finish_reason == "stopped"]
    assert [n.meta["seed"] for n in stopped] == [2, 3, 4]
    assert all(len(n.tokens) == 4 and n.status == NodeStatus.STOPPED for n in stopped)
    assert trace.final_answer == "42"
    assert set(trace.votes) == {"42", "41"}  # stopped chains do not vote
    assert trace.votes["42"] > trace.votes["41"] > 0
    assert trace.meta["stopped"] == 3 and trace.meta["tokens_saved_estimate"] > 0
    assert "3 chains stopped early" in trace.reason
    assert trace.meta["threshold"] > 0


def test_confidence_weights_decide_between_single_votes():
    replies = {0: ScriptedReply(solution("13"), -1.2), 1: _confident("42")}
    engine = ScriptedEngine(by_seed(replies))
    trace = run("confidence-vote", engine, n=2, warmup=2, window=2)
    assert trace.final_answer == "42"  # a plain vote would be a tie
    assert "weighted votes" in trace.reason and "tie" not in trace.reason
    assert trace.votes["42"] > trace.votes["13"] and trace.meta["stopped"] == 0


def test_confidence_vote_within_budget():
    engine = ScriptedEngine(_confident("42"))
    trace = run("confidence-vote", engine, budget=30, n=6, warmup=2, max_tokens=64)
    assert trace.compute.generated_tokens <= 30
    assert all(c.params.max_tokens <= 5 for c in engine.calls)
