"""cot-decoding (Wang & Zhou 2024): branches from the k most likely first tokens, each decoded
greedily, the answer with the highest margin kept. On the scripted engine, whose tokens report
a fake distribution (the chosen token at p = exp(logprob), the other `vocab_size - 1` sharing
what is left), so a branch's margin is p - (1 - p) / 99; plus one run on the real model."""

from __future__ import annotations

import json
import math
import threading

import pytest
from click.testing import CliRunner

from lab.cli import main
from lab.divergence import build_trie
from lab.engine.base import Token
from lab.engine.scripted import ScriptedEngine, ScriptedReply, ScriptedRequest
from lab.execution import RunRequest, cannot_start
from lab.strategies.cot_decoding import (
    BRANCH,
    FIRST_RANK,
    FIRST_TOKEN,
    MARGIN,
    MARGIN_SUMS,
    NO_MARGIN,
    RUNNER_UP,
    SPARE,
    answer_margin,
    answer_tokens,
    token_margin,
    with_first_tokens,
)
from lab.strategies.registry import categories, get_strategy, run_strategy
from lab.strategies.voting import tally
from lab.tasks.problem import AnswerKind, Problem
from lab.trace import EventKind, Node, NodeKind, NodeStatus, Trace, TraceEvent, TraceStatus
from lab.views.base import Canvas
from lab.views.blocks import Expander, Table
from lab.views.chains import DIVERGENCE_TITLE
from lab.views.registry import get_view

NAME = "cot-decoding"
PROBLEM = Problem(id="t1", question="What is 9 + 8?", gold="17", kind=AnswerKind.NUMBER,
                  source="test")
FIRSTS = ["Let", "<alt1>", "<alt2>", "<alt3>", "<alt4>"]  # the probe's token, then the fakes


def margin_of(p: float) -> float:
    """The scripted engine's margin for a token at probability p (vocab_size 100)."""
    return p - (1 - p) / 99


def branches_answering(answers: dict[str, tuple[str, float]]):  # noqa: ANN201
    """A responder: the probe gets "Let ..." (first token "Let"); a branch continuing first
    token t answers answers[t] = (answer, p of every token)."""
    def respond(request: ScriptedRequest) -> str | ScriptedReply:
        if request.prefix == "":
            return "Let us think."
        answer, p = answers.get(request.prefix, ("0", 0.5))
        return ScriptedReply(f" 9 + 8 = {answer}\n\nThe answer is {answer}.", math.log(p))
    return respond


# 3 branches answer 17 unsurely, 2 answer 18 surely
SPLIT = {"Let": ("17", 0.3), "<alt1>": ("17", 0.3), "<alt2>": ("17", 0.3),
         "<alt3>": ("18", 0.95), "<alt4>": ("18", 0.95)}


def run(engine: ScriptedEngine, budget: int | None = None, **params: object) -> Trace:
    trace = run_strategy(NAME, PROBLEM, engine, params, budget)
    assert trace.status == TraceStatus.COMPLETE, trace.error
    assert Trace.from_json(trace.to_json()) == trace
    # every generated token is on exactly one node (the first tokens are prefixes, not output)
    assert sum(len(n.tokens) for n in trace.nodes) == trace.compute.generated_tokens
    if budget is not None:
        assert trace.compute.all_generated <= budget
    return trace


def branches(trace: Trace) -> list[Node]:
    return [n for n in trace.nodes if n.kind == NodeKind.CHAIN]


# -- the pick -------------------------------------------------------------------------------
def test_the_highest_margin_wins_where_a_majority_vote_would_not():
    engine = ScriptedEngine(branches_answering(SPLIT))
    trace = run(engine, k=5)
    found = branches(trace)
    assert [b.meta[FIRST_TOKEN] for b in found] == FIRSTS
    assert [b.meta[FIRST_RANK] for b in found] == [1, 2, 3, 4, 5]
    assert [b.answer for b in found] == ["17", "17", "17", "18", "18"]
    for branch in found:
        p = 0.3 if branch.answer == "17" else 0.95
        assert branch.scores[MARGIN] == pytest.approx(margin_of(p))
        assert branch.text.startswith(branch.meta[FIRST_TOKEN] + " 9 + 8 = ")
    # a plain majority vote over the same branches picks 17, 3 votes to 2
    assert tally(found, PROBLEM.kind)[0].key == "17"
    assert trace.final_answer == "18"
    chosen = [b for b in found if b.chosen]
    assert [b.meta[FIRST_TOKEN] for b in chosen] == ["<alt3>"]  # ties: the likelier first token
    assert chosen[0].status == NodeStatus.KEPT
    assert f"highest margin {margin_of(0.95):.3f}" in trace.reason
    assert "'<alt3>' (#4)" in trace.reason and "5 of 5 branches had a margin" in trace.reason
    assert trace.nodes[-1].kind == NodeKind.ANSWER and trace.nodes[-1].answer == "18"


def test_sum_adds_the_margins_of_equivalent_answers():
    answers = {"Let": ("17", 0.7), "<alt1>": ("17.0", 0.7), "<alt2>": ("17", 0.7),
               "<alt3>": ("18", 0.9), "<alt4>": ("18", 0.9)}
    by_max = run(ScriptedEngine(branches_answering(answers)), k=5)
    assert by_max.final_answer == "18"  # one sure branch beats each of the three
    by_sum = run(ScriptedEngine(branches_answering(answers)), k=5, aggregate="sum")
    assert by_sum.final_answer == "17"  # 3 x 0.697 = 2.09 beats 2 x 0.899 = 1.80
    sums = by_sum.meta[MARGIN_SUMS]
    assert sums["17"] == pytest.approx(3 * margin_of(0.7))  # "17.0" grouped with "17"
    assert sums["18"] == pytest.approx(2 * margin_of(0.9))
    kept = [b.meta[FIRST_TOKEN] for b in branches(by_sum) if b.status == NodeStatus.KEPT]
    assert kept == ["Let", "<alt1>", "<alt2>"]
    assert "margins sum to 2.091 for 17 over 3 branches" in by_sum.reason


def test_a_branch_without_an_answer_has_no_margin():
    def respond(request: ScriptedRequest) -> str | ScriptedReply:
        if request.prefix == "":
            return "Let us think."
        if request.prefix == "<alt1>":
            return ScriptedReply(" I do not know.", math.log(0.99))
        return ScriptedReply(" So the answer is 17.", math.log(0.4))
    trace = run(ScriptedEngine(respond), k=2)
    silent = branches(trace)[1]
    assert silent.answer is None and MARGIN not in silent.scores
    assert silent.meta[NO_MARGIN] == "no answer"
    assert trace.final_answer == "17" and "1 of 2 branches had a margin" in trace.reason


# -- the margin -----------------------------------------------------------------------------
def test_margin_by_hand_over_the_answer_tokens():
    ln = math.log
    tokens = [
        Token(1, "The", ln(0.9), [("The", ln(0.9)), ("So", ln(0.05))]),
        Token(2, " answer is", ln(0.8), [(" answer is", ln(0.8)), (" result", ln(0.1))]),
        Token(3, " 1", ln(0.6), [(" 1", ln(0.6)), (" 2", ln(0.3))]),  # 0.6 - 0.3 = 0.3
        Token(4, "7", ln(0.5), [("7", ln(0.5)), ("6", ln(0.4))]),  # 0.5 - 0.4 = 0.1
        Token(5, ".", ln(0.99), [(".", ln(0.99)), ("!", ln(0.001))]),
    ]
    text = "".join(t.text for t in tokens)
    span = (text.index("17"), text.index("17") + 2)
    assert [t.text for t in answer_tokens(tokens, span)] == [" 1", "7"]
    margin, used = answer_margin(tokens, span)
    assert used == 2 and margin == pytest.approx((0.3 + 0.1) / 2)
    assert answer_margin(tokens, None) == (None, 0)


def test_a_forced_token_is_measured_by_its_positions_two_likeliest():
    ln = math.log
    # a first token forced as a prefix: third at its position; the margin is top1 - top2
    forced = Token(-1, "Hmm", ln(0.1), [("Well", ln(0.5)), ("So", ln(0.3)), ("Hmm", ln(0.1))])
    assert token_margin(forced) == pytest.approx(0.2)
    # its own log-prob counts when the alternatives leave it out
    assert token_margin(Token(7, "x", ln(0.7), [("y", ln(0.2))])) == pytest.approx(0.5)
    # no runner-up (an engine that reports no alternatives): no margin
    assert token_margin(Token(7, "x", ln(0.7), [])) is None
    assert token_margin(Token(7, "x", ln(0.7), [("x", ln(0.7))])) is None
    assert answer_margin([Token(7, "42", ln(0.7))], (0, 2)) == (None, 0)


# -- the engine calls, compute and budget ---------------------------------------------------
def test_two_calls_the_probe_then_every_branch_at_once_all_counted():
    engine = ScriptedEngine(branches_answering(SPLIT))
    events: list[TraceEvent] = []
    trace = run_strategy(NAME, PROBLEM, engine, {"k": 5, "max_tokens": 40},
                         on_event=events.append)
    probe_call, branch_call = engine.calls
    assert probe_call.prefixes == [""] and probe_call.params.max_tokens == 1
    assert probe_call.params.temperature == 0 and probe_call.params.top_logprobs == 5 + SPARE
    assert branch_call.prefixes == FIRSTS and branch_call.params.temperature == 0
    assert branch_call.params.top_logprobs == RUNNER_UP >= 2
    assert branch_call.params.max_tokens == 40
    c = trace.compute
    assert c.engine_calls == 2 == len(engine.calls)
    generations = [call.generation for call in engine.calls]
    assert all(g is not None for g in generations)
    assert c.generated_tokens == sum(g.completion_tokens for g in generations if g)
    assert c.prompt_tokens == sum(g.prompt_tokens_decoded for g in generations if g)
    assert c.cached_prompt_tokens == sum(g.prompt_tokens_cached for g in generations if g)
    assert c.generated_by == {"step": 1, "chain": c.generated_tokens - 1}
    assert sum(e.kind == EventKind.TOKEN for e in events) == c.generated_tokens
    probe = trace.nodes[1]
    assert probe.kind == NodeKind.STEP and probe.text == "Let" and len(probe.tokens) == 1
    assert all(b.parent == probe.id for b in branches(trace))


def test_the_budget_shares_out_among_branches_and_cut_branches_get_no_margin():
    engine = ScriptedEngine(branches_answering(SPLIT))
    trace = run(engine, budget=16, k=5, max_tokens=48)
    assert engine.calls[1].params.max_tokens == 3  # (16 - 1 for the probe) // 5
    assert all(b.cut and MARGIN not in b.scores for b in branches(trace))
    assert all(b.meta[NO_MARGIN].startswith("cut at the token cap") for b in branches(trace)
               if b.answer is not None)
    assert trace.final_answer is None and "no branch of 5 had a margin" in trace.reason


def test_cut_votes_lets_cut_branches_have_a_margin():
    engine = ScriptedEngine(branches_answering(SPLIT))
    trace = run(engine, k=5, max_tokens=5, cut_votes=True)  # " 9 + 8 = 17": cut after 17
    assert all(b.cut for b in branches(trace))
    assert trace.final_answer == "18" and all(MARGIN in b.scores for b in branches(trace))


def test_a_small_budget_starts_fewer_branches_or_none():
    trace = run(ScriptedEngine(branches_answering(SPLIT)), budget=3, k=5)
    assert len(branches(trace)) == 2 and trace.compute.generated_tokens == 3
    assert "the token budget afforded 2 of 5 branches" in trace.reason
    engine = ScriptedEngine(branches_answering(SPLIT))
    spent = run(engine, budget=1, k=5)
    assert len(engine.calls) == 1 and not branches(spent) and spent.final_answer is None
    assert "spent on the first token" in spent.reason


def test_cancelling_keeps_the_partial_branches_with_their_first_tokens():
    cancel = threading.Event()
    engine = ScriptedEngine(branches_answering(SPLIT))

    def on_event(event: TraceEvent) -> None:
        if event.kind == EventKind.TOKEN and event.token and event.token.text == " +":
            cancel.set()

    trace = run_strategy(NAME, PROBLEM, engine, {"k": 3}, on_event=on_event, cancel=cancel)
    assert trace.status == TraceStatus.INTERRUPTED
    assert [b.text for b in branches(trace)] == ["Let 9 +", "<alt1> 9 +", "<alt2> 9 +"]
    assert all(b.status == NodeStatus.STOPPED for b in branches(trace))
    assert sum(len(n.tokens) for n in trace.nodes) == trace.compute.generated_tokens == 7
    assert Trace.from_json(trace.to_json()) == trace


# -- what it says of itself, and its views --------------------------------------------------
def test_it_describes_itself():
    strategy = get_strategy(NAME)
    assert strategy.category is BRANCH and BRANCH.how and BRANCH.what and BRANCH.cost
    assert any(category is BRANCH and [s.name for s in found] == [NAME]
               for category, found in categories())
    assert strategy.sweep_knob == "k" and {"k", "max_tokens"} <= set(strategy.knobs)
    params = strategy.validate({"k": 4, "max_tokens": 64})
    assert strategy.parallel_sequences(params) == 4
    assert strategy.sequence_tokens(params) == 65  # the first token, then the branch
    assert strategy.prompt_style(strategy.validate({})) == "cot"
    assert strategy.demo is not None and strategy.validate(strategy.demo.params)["k"] <= 3
    assert all(get_view(name) for name in strategy.views)
    engine = ScriptedEngine("x", n_ctx=4096)
    assert cannot_start(engine, RunRequest(NAME, PROBLEM, {"k": 4})) is None
    assert "context" in (cannot_start(engine, RunRequest(NAME, PROBLEM, {"k": 10})) or "")


def test_the_views_show_first_tokens_margins_and_the_fork_at_the_first_token():
    trace = run(ScriptedEngine(branches_answering(SPLIT)), k=5)
    canvas = Canvas(key="t", color_tokens=True)
    table = next(b for b in get_view("cot-branches").describe(trace, canvas)
                 if isinstance(b, Table))
    assert [row["first token"] for row in table.rows] == [repr(t) for t in FIRSTS]
    assert [row["margin"] for row in table.rows] == [round(margin_of(0.3), 3)] * 3 + [
        round(margin_of(0.95), 3)] * 2
    assert table.rows[3]["decision"] == "★ chosen"
    assert list(table.rows[0])[:4] == ["candidate", "first token", "p(first)", "answer"]
    # drawn with their first tokens, the branches part at the first token
    drawn = with_first_tokens(trace)
    assert [b.tokens[0].text for b in branches(drawn)] == FIRSTS
    assert all("".join(t.text for t in b.tokens) == b.text for b in branches(drawn))
    trie = build_trie(drawn)
    assert trie.first_fork() == 0 and len(trie.root.children) == 5
    assert branches(trace)[0].tokens[0].text != "Let"  # the stored trace is left as it was
    blocks = get_view("cot-chains").describe(trace, canvas)
    assert any(isinstance(b, Expander) and b.title == DIVERGENCE_TITLE for b in blocks)


# -- the real model -------------------------------------------------------------------------
@pytest.mark.model
def test_lab_solve_runs_it_on_the_real_model():
    result = CliRunner().invoke(main, ["solve", "-s", NAME, "-p", "k=2", "-p", "max_tokens=24",
                                       "--model", "smollm2-135m", "--set", "arith", "--index",
                                       "0", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["strategy"] == NAME and data["status"] == "complete", data["error"]
    assert data["reason"] and isinstance(data["run_id"], int)
    assert data["correct"] in (True, False, None)
    compute = data["compute"]
    assert compute["engine_calls"] == 2 and compute["prompt_tokens"] > 0
    assert 2 <= compute["generated_tokens"] <= 1 + 2 * 24
    assert compute["generated_by"]["step"] == 1
