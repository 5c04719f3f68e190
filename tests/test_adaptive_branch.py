"""The `adaptive-branch` strategy: one greedy chain forks only at tokens whose entropy passes
the threshold, each fork continues from the greedy chain's exact prefix with the next most
likely tokens, every chain votes, and every generated token is counted once."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from test_strategy_support import run

from lab import config
from lab.cli import main
from lab.divergence import build_trie
from lab.engine.base import Token
from lab.engine.scripted import ScriptedEngine, ScriptedReply, ScriptedRequest, tokenize
from lab.store.ledger import Ledger
from lab.strategies.adaptive_branch import (
    FORK,
    UNSURE,
    ForkedChainsView,
    token_entropy,
    with_fork_paths,
)
from lab.strategies.registry import get_strategy
from lab.trace import NodeKind
from lab.views.base import Canvas
from lab.views.blocks import Expander, Grid, Table

SURE, UNSURE_LP, HESITANT = -0.01, -1.5, -0.6  # token log-probs: entropy ~0.1, ~4.1, ~2.7
GREEDY = "6 * 7 = 41.\n\nThe answer is 41."  # tokens: 6 | * | 7 | = | 41. | \n\n | The ...


def entropy_of(logprob: float, vocab: int = 100) -> float:
    """The scripted engine's entropy for a token of this log-prob."""
    p = math.exp(logprob)
    other = math.log((1 - p) / (vocab - 1))
    return -p * logprob - (1 - p) * other


def greedy_reply(logprobs: dict[int, float]) -> ScriptedReply:
    """The greedy chain, sure of every token but those at the given positions."""
    count = len(tokenize(GREEDY))
    return ScriptedReply(GREEDY, [logprobs.get(i, SURE) for i in range(count)])


def engine_for(logprobs: dict[int, float], fork_reply: str = " 42.\n\nThe answer is 42."
               ) -> ScriptedEngine:
    def respond(request: ScriptedRequest) -> str | ScriptedReply:
        if request.prefix == "":
            return greedy_reply(logprobs)
        return ScriptedReply(fork_reply, SURE)
    return ScriptedEngine(respond)


def chains(trace) -> list:  # noqa: ANN001 - a Trace
    return [n for n in trace.nodes if n.kind == NodeKind.CHAIN]


def test_an_unsure_token_forks_and_the_forks_outvote_the_greedy_answer():
    engine = engine_for({4: UNSURE_LP})
    trace = run("adaptive-branch", engine)
    greedy, *forks = chains(trace)
    assert greedy.answer == "41" and greedy.meta["greedy"] and greedy.meta["forked_at"] == [4]
    assert len(forks) == 2  # branch=2 alternatives at the one fork
    # each fork continues the greedy chain's exact prefix before token 4, plus an alternative
    assert engine.calls[1].prefixes == ["6 * 7 =<alt1>", "6 * 7 =<alt2>"]
    assert engine.calls[0].params.top_logprobs >= 3 and engine.calls[1].params.temperature == 0
    for node, alt in zip(forks, ("<alt1>", "<alt2>"), strict=True):
        assert node.text == f"6 * 7 ={alt} 42.\n\nThe answer is 42." and node.answer == "42"
        assert node.meta[FORK]["at"] == 4 and node.meta[FORK]["token"] == alt
        assert node.meta[FORK]["replaces"] == " 41." and node.meta[FORK]["from"] == greedy.id
        assert node.meta[FORK]["entropy"] == pytest.approx(entropy_of(UNSURE_LP))
        assert node.parent == greedy.parent  # a sibling: the greedy chain is not chosen
    # the vote over the forks parts from the greedy answer
    assert trace.final_answer == "42" and trace.votes == {"42": 2.0, "41": 1.0}
    assert not greedy.chosen and forks[0].chosen
    assert trace.reason.startswith("2 of 3 votes for 42") and "greedy chain said 41" in trace.reason
    assert trace.meta["entropy_from"] == "full distribution" and trace.meta["forks"] == [4]


def test_every_generated_token_is_counted_once():
    engine = engine_for({4: UNSURE_LP})
    trace = run("adaptive-branch", engine)  # run() checks node tokens == generated tokens
    greedy, *forks = chains(trace)
    assert len(greedy.tokens) == 10 and [len(f.tokens) for f in forks] == [6, 6]
    assert trace.compute.generated_tokens == 22 == trace.compute.generated_by["chain"]
    assert trace.compute.engine_calls == 2  # the greedy chain, then every fork in one call
    assert trace.compute.verdict_tokens == 0


def test_only_tokens_above_the_threshold_fork_the_most_unsure_first():
    calm = engine_for({4: HESITANT})  # entropy ~2.7: under a threshold of 3
    trace = run("adaptive-branch", calm, threshold=3.0)
    assert len(chains(trace)) == 1 and len(calm.calls) == 1
    assert trace.final_answer == "41" and "greedy chain alone" in trace.reason
    assert trace.meta["above_threshold"] == 0
    # two unsure tokens (2 and 4), one fork allowed: the higher entropy one
    engine = engine_for({2: HESITANT, 4: UNSURE_LP})
    trace = run("adaptive-branch", engine, max_forks=1, branch=1)
    assert engine.calls[1].prefixes == ["6 * 7 =<alt1>"]
    assert trace.meta["above_threshold"] == 2 and trace.meta["forks"] == [4]
    both = engine_for({2: HESITANT, 4: UNSURE_LP})
    trace = run("adaptive-branch", both, max_forks=2, branch=1)
    assert both.calls[1].prefixes == ["6 *<alt1>", "6 * 7 =<alt1>"]  # in token order
    none = engine_for({4: UNSURE_LP})
    assert len(run("adaptive-branch", none, max_forks=0).nodes) == 3  # prompt, greedy, answer
    assert len(none.calls) == 1


def test_the_answer_token_may_fork_but_no_token_after_the_answer():
    engine = engine_for({9: UNSURE_LP})  # token 9 is the answer line's " 41."
    trace = run("adaptive-branch", engine)
    assert engine.calls[1].prefixes == ["6 * 7 = 41.\n\nThe answer is<alt1>",
                                        "6 * 7 = 41.\n\nThe answer is<alt2>"]
    assert trace.final_answer == "42"
    tail = ScriptedEngine(lambda r: ScriptedReply(GREEDY + " Done here.", [SURE] * 10 + [
        UNSURE_LP] * 2) if r.prefix == "" else "x")  # unsure only after the answer
    trace = run("adaptive-branch", tail)
    assert len(tail.calls) == 1 and trace.meta["above_threshold"] == 2
    assert trace.final_answer == "41" and "greedy chain alone" in trace.reason


def test_a_forked_chain_is_cut_where_the_whole_chain_reaches_max_tokens():
    engine = engine_for({4: UNSURE_LP})
    trace = run("adaptive-branch", engine, max_tokens=8, branch=1)
    greedy, forked = chains(trace)
    assert len(greedy.tokens) == 8 and greedy.cut
    # 4 tokens of prefix and the fork token: 3 left for the fork to generate
    assert len(forked.tokens) == 3 and forked.cut and forked.finish_reason == "length"
    assert engine.calls[1].params.max_tokens == 3


def test_the_budget_caps_the_forks_dropping_the_least_unsure():
    engine = engine_for({2: HESITANT, 4: UNSURE_LP})
    trace = run("adaptive-branch", engine, budget=11, max_forks=2, branch=1)
    assert trace.compute.generated_tokens == 11  # the greedy chain's 10 and one more
    assert engine.calls[1].prefixes == ["6 * 7 =<alt1>"]  # the higher entropy fork stays
    assert "the token budget afforded 1 of 2 forked chains" in trace.reason
    spent = ScriptedEngine(lambda r: greedy_reply({4: UNSURE_LP}))
    trace = run("adaptive-branch", spent, budget=10, cut_votes=True)
    assert len(spent.calls) == 1 and trace.final_answer == "41"  # cut at 10, but it votes
    assert "no fork could start" in trace.reason


def test_a_tie_is_broken_by_the_scorer_of_whole_paths():
    def respond(request: ScriptedRequest) -> ScriptedReply:
        if request.prefix == "":
            return greedy_reply({4: UNSURE_LP})
        return ScriptedReply(" 42.\n\nThe answer is 42.", -2.0)  # an unlikely continuation
    trace = run("adaptive-branch", ScriptedEngine(respond), branch=1)
    greedy, forked = chains(trace)
    assert trace.final_answer == "41" and "tie broken by mean-logprob" in trace.reason
    # the fork was scored on its whole path: the greedy prefix, its fork token, its tokens
    path = [*greedy.tokens[:4], Token(-1, "<alt1>", forked.meta[FORK]["logprob"]),
            *forked.tokens]
    assert forked.scores["mean-logprob"] == pytest.approx(
        sum(t.logprob for t in path) / len(path))


def test_entropy_from_the_top_log_probs_when_the_engine_gives_none():
    token = Token(0, "a", math.log(0.5), top=[("a", math.log(0.5)), ("b", math.log(0.25))])
    rest = 0.25  # lumped into one outcome: a lower bound of the full entropy
    expected = -(0.5 * math.log(0.5) + 0.25 * math.log(0.25) + rest * math.log(rest))
    assert token_entropy(token) == pytest.approx(expected)
    assert token_entropy(Token(0, "a", -0.1)) is None
    assert token_entropy(Token(0, "a", -0.1, entropy=2.5)) == 2.5


def test_the_view_draws_the_forks_and_the_tree_parts_at_them():
    trace = run("adaptive-branch", engine_for({4: UNSURE_LP}))
    drawn = with_fork_paths(trace)
    for node in chains(drawn):
        assert "".join(t.text for t in node.tokens) == node.text  # whole paths, spelled out
    trie = build_trie(drawn)
    assert [fork.end for fork in trie.forks()] == [4]  # every chain shares 4 tokens
    assert len(trie.forks()[0].children) == 3
    blocks = ForkedChainsView().describe(trace, Canvas(key="t", color_tokens=True))
    [table] = [b for b in blocks if isinstance(b, Table)]
    assert [row["fork token"] for row in table.rows] == ["'<alt1>'", "'<alt2>'"]
    assert any(isinstance(b, Expander) for b in blocks)  # where the chains part ways
    [grid] = [b for b in blocks if isinstance(b, Grid)]
    assert grid.panels[0].caption.startswith("greedy chain; forks at token 5")
    assert grid.panels[1].caption.startswith("forked at token 5: '<alt1>' instead of ' 41.'")
    assert "(6 generated after the fork)" in grid.panels[1].caption
    # a stored copy draws the same
    from lab.trace import Trace
    assert ForkedChainsView().describe(Trace.from_json(trace.to_json()),
                                       Canvas(key="t")) is not None


def test_it_describes_itself():
    strategy = get_strategy("adaptive-branch")
    assert strategy.category is UNSURE and strategy.sweep_knob == "max_forks"
    assert strategy.knobs == ("max_forks", "branch", "max_tokens") and strategy.demo
    assert strategy.views == ("votes", "forked-chains") and strategy.pick is None
    params = strategy.validate({})
    assert (params["max_forks"], params["branch"]) == (3, 2)
    assert strategy.parallel_sequences(params) == 6
    assert "self-consistency at equal tokens" in strategy.summary
    assert "self-consistency" in UNSURE.helps and "max_forks" in UNSURE.how


@pytest.mark.model
def test_on_the_real_model_it_forks_from_the_cached_prefix_and_counts_every_token():
    result = CliRunner().invoke(main, [
        "solve", "-s", "adaptive-branch", "-p", "max_tokens=24", "-p", "max_forks=2",
        "-p", "threshold=0.5", "--model", "smollm2-135m", "--set", "arith", "--index", "0",
        "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "complete" and data["meta"]["entropy_from"] == "full distribution"
    with Ledger(config.database_url()) as ledger:
        trace = ledger.load_trace(data["run_id"])
    greedy, *forks = chains(trace)
    # SmolLM2 is unsure of several of its first 24 tokens (its first word alone: ~3 nats)
    assert trace.compute.engine_calls == 2 and 1 <= len(forks) <= 4
    assert sum(len(n.tokens) for n in trace.nodes) == trace.compute.generated_tokens
    for node in forks:
        at = node.meta[FORK]["at"]
        assert greedy.tokens[at].entropy > 0.5 and node.meta[FORK]["token"] != greedy.tokens[
            at].text
        prefix = "".join(t.text for t in greedy.tokens[:at]) + node.meta[FORK]["token"]
        assert node.text.startswith(prefix) and at + 1 + len(node.tokens) <= 24
    assert trace.compute.cached_prompt_tokens > 0  # the forks reuse the cached prompt
