"""The `genselect` strategy: N sampled candidates, then one model call reads them, numbered,
and names the best; the answer is that candidate's even against the vote, an unparsable
reply falls back to the vote (and the reason says so), the selection call's tokens count,
and a selection prompt that cannot fit the context is refused."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_strategy_support import PROBLEM, run

from lab import config
from lab.cli import main
from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.execution import RunRequest, cannot_start
from lab.store.ledger import Ledger
from lab.strategies import categories
from lab.strategies.genselect import (
    CUE,
    NUMBER,
    SELECTION,
    SelectedCandidatesView,
    parse_pick,
    selection_messages,
)
from lab.strategies.registry import get_strategy, run_strategy
from lab.trace import NodeKind, NodeStatus, TraceStatus
from lab.views.base import Canvas
from lab.views.blocks import Code, Note, Table

ANSWERS = {0: "41", 1: "42", 2: "41", 3: "40"}  # by seed: the vote picks 41


def engine_for(selector: str, answers: dict[int, str] = ANSWERS) -> ScriptedEngine:
    def respond(request: ScriptedRequest) -> str:
        if "Solution #1:" in request.prompt:
            return selector
        if request.seed not in answers:
            return "I am not sure."
        return f"6 * 7 = {answers[request.seed]}\n\nThe answer is {answers[request.seed]}."
    return ScriptedEngine(respond)


def chains(trace) -> list:  # noqa: ANN001 - a Trace
    return [n for n in trace.nodes if n.kind == NodeKind.CHAIN]


def selection(trace):  # noqa: ANN001, ANN201
    [node] = [n for n in trace.nodes if n.kind == NodeKind.VERIFICATION]
    return node


def test_the_selector_picks_candidate_2_against_the_vote():
    engine = engine_for("Solution 2 checks 6 * 7. The best solution is #2.")
    trace = run("genselect", engine)
    candidates = chains(trace)
    assert [c.answer for c in candidates] == ["41", "42", "41", "40"]
    assert trace.votes == {"41": 2.0, "42": 1.0, "40": 1.0}  # a vote would pick 41
    assert trace.final_answer == "42" and candidates[1].chosen
    assert candidates[1].status == NodeStatus.KEPT and not candidates[0].chosen
    assert [c.meta[NUMBER] for c in candidates] == [1, 2, 3, 4]
    assert trace.reason.startswith("the selector named #2 of 4")
    assert "a majority vote would have picked 41 (2 of 4 votes)" in trace.reason
    reply = selection(trace)
    assert reply.meta[SELECTION] == {"numbered": [c.id for c in candidates], "picked": 2,
                                     "why": ""}
    assert reply.status == NodeStatus.ACCEPTED and reply.parent == trace.nodes[0].id
    # one call read every candidate, numbered, greedily
    asked = engine.calls[1]
    assert len(engine.calls) == 2 and asked.params.temperature == 0
    for k, candidate in enumerate(candidates, start=1):
        assert f"Solution #{k}:\n{candidate.text}" in asked.prompt
    assert '"The best solution is #k."' in asked.prompt and asked.prefixes == [""]


def test_the_selection_calls_tokens_are_counted():
    engine = engine_for("The best solution is #2.")
    trace = run("genselect", engine)  # run() checks node tokens == generated tokens
    reply = selection(trace)
    compute = trace.compute
    sampled = sum(len(c.tokens) for c in chains(trace))
    assert compute.generated_tokens == sampled + len(reply.tokens) == sampled + 5
    assert compute.generated_by == {"chain": sampled, "verification": 5}
    assert compute.engine_calls == 2 and compute.verdict_tokens == 0
    # the selection prompt was decoded (the part after the shared system prompt at least)
    assert compute.prompt_tokens > engine.count_tokens(engine.calls[0].prompt)


def test_an_unparsable_reply_falls_back_to_the_vote_and_says_so():
    trace = run("genselect", engine_for("They all look fine to me."))
    assert trace.final_answer == "41"
    assert trace.reason.startswith("2 of 4 votes for 41")
    assert ("the selector named no solution (its reply did not say \"The best solution is "
            "#k\"): the majority vote instead") in trace.reason
    reply = selection(trace)
    assert reply.status == NodeStatus.REJECTED and reply.meta[SELECTION]["picked"] is None
    out_of_range = run("genselect", engine_for("The best solution is #7."))
    assert out_of_range.final_answer == "41"
    assert "named #7, but there were 4 solutions" in out_of_range.reason


def test_parse_pick_reads_the_last_naming():
    assert parse_pick("The best solution is #3.", 4) == (3, "")
    assert parse_pick("best solution is 2", 4) == (2, "")
    assert parse_pick("The best solution is #1... no, the best solution is #4.", 4)[0] == 4
    assert parse_pick("Solution #2 is best.", 4)[0] is None
    assert parse_pick("The best solution is #0.", 4)[0] is None


def test_without_reasoning_first_the_reply_starts_with_the_cue():
    engine = engine_for("3.")
    trace = run("genselect", engine, reason_first=False)
    assert engine.calls[1].prefixes == [CUE] and "Reply with one line" in engine.calls[1].prompt
    reply = selection(trace)
    assert reply.text == CUE + "3." and len(reply.tokens) == 1  # the cue was not generated
    assert trace.final_answer == "41" and chains(trace)[2].chosen
    assert "the majority answer too" in trace.reason


def test_no_selection_call_when_there_is_nothing_to_select():
    agree = engine_for("The best solution is #2.", {s: "42" for s in range(4)})
    trace = run("genselect", agree)
    assert len(agree.calls) == 1 and trace.final_answer == "42"
    assert "all 4 candidates agree: no selection call" in trace.reason
    one = engine_for("unused", {0: "42"})  # the others give no answer
    one_trace = run("genselect", one)
    assert len(one.calls) == 1 and "one candidate to select from" in one_trace.reason
    single = engine_for("unused")
    assert len(single.calls) == 0 and run("genselect", single, n=1).final_answer == "41"


def test_cut_candidates_are_not_shown_to_the_selector():
    def respond(request: ScriptedRequest) -> str:
        if "Solution #1:" in request.prompt:
            return "The best solution is #2."
        if request.seed == 0:
            return "6 * 7 = 40, then " + "more " * 40  # cut at the cap
        return f"The answer is {ANSWERS[request.seed]}."
    engine = ScriptedEngine(respond)
    trace = run("genselect", engine, max_tokens=12)
    first, *rest = chains(trace)
    assert first.cut and NUMBER not in first.meta
    assert [c.meta[NUMBER] for c in rest] == [1, 2, 3]
    assert "Solution #4" not in engine.calls[1].prompt
    assert trace.final_answer == "41" and rest[1].chosen  # #2 is the second shown


def test_the_budget_keeps_room_for_the_selection():
    def respond(request: ScriptedRequest) -> str:
        if "Solution #1:" in request.prompt:
            return "The best solution is #2. " + "More words. " * 10
        return f"The answer is {ANSWERS[request.seed]}."
    engine = ScriptedEngine(respond)
    trace = run("genselect", engine, budget=40, select_tokens=16)
    assert engine.calls[0].params.max_tokens == 6  # 40 / 4 chains, less 4 each for the reply
    assert engine.calls[1].params.max_tokens == 16  # the chains took 16: 24 are left
    assert trace.compute.generated_tokens == 32 and trace.final_answer == "42"


def test_a_selection_prompt_that_cannot_fit_the_context_is_refused():
    engine = engine_for("The best solution is #2.")
    small = ScriptedEngine(engine._respond, n_ctx=1024)  # noqa: SLF001 - the same script
    params = {"n": 4, "max_tokens": 256}
    trace = run_strategy("genselect", PROBLEM, small, params)
    assert trace.status == TraceStatus.FAILED and not small.calls  # nothing sampled
    assert "selection prompt holds all 4 candidates" in trace.error
    assert "context holds 1,024" in trace.error and "Lower n or max_tokens" in trace.error
    reason = cannot_start(small, RunRequest("genselect", PROBLEM, params))
    assert reason is not None and reason.startswith("Too large for the model's context")
    assert cannot_start(small, RunRequest("genselect", PROBLEM, {"n": 3, "max_tokens": 200,
                                                                 "select_tokens": 64})) is None
    strategy = get_strategy("genselect")
    assert strategy.sequence_tokens(strategy.validate(params)) >= 4 * 256
    capped = run_strategy("genselect", PROBLEM, small, params, budget=400)  # 100 a chain
    assert capped.status == TraceStatus.COMPLETE, capped.error


def test_the_view_shows_the_numbering_the_pick_and_the_reply():
    trace = run("genselect", engine_for("Hmm. The best solution is #2."))
    blocks = SelectedCandidatesView().describe(trace, Canvas(key="t"))
    [table] = [b for b in blocks if isinstance(b, Table)]
    assert [row["#"] for row in table.rows] == ["#1", "#2", "#3", "#4"]
    assert table.rows[1]["decision"] == "★ chosen"
    assert table.rows[1]["why"].startswith("shown to the selector as #2; named by the selector")
    assert "the selector named #2" in table.rows[0]["why"]
    assert [b.text for b in blocks if isinstance(b, Code)] == ["Hmm. The best solution is #2."]
    fallback = run("genselect", engine_for("No idea."))
    notes = [b for b in SelectedCandidatesView().describe(fallback, Canvas(key="t"))
             if isinstance(b, Note)]
    assert notes and "majority vote decided instead" in notes[0].text


def test_selection_messages_number_the_solutions():
    [_, user] = selection_messages(PROBLEM, ["a", "b"], reason_first=True)
    assert "Solution #1:\na\n\nSolution #2:\nb" in user["content"]
    assert "Which of these 2 solutions is correct? Compare them briefly" in user["content"]


def test_it_describes_itself():
    strategy = get_strategy("genselect")
    assert strategy.category is categories.VERIFY and strategy.sweep_knob == "n"
    assert strategy.param("n").max == 4 and "2k-token context" in strategy.param("n").help
    assert strategy.views[0] == "selected-candidates" and strategy.pick is None
    params = strategy.validate({})
    assert params["n"] == 4 and strategy.parallel_sequences(params) == 1
    spent = strategy.spend(params, 1200)  # 512 a chain and the 128-token reply
    assert spent.params["n"] == 1200 // (512 + 128)


@pytest.mark.model
def test_on_the_real_model_the_selection_call_reads_the_candidates_and_is_counted():
    # a direct prompt keeps SmolLM2's answers short enough to finish within 24 tokens; at
    # temperature 0.7 its 4 answers disagree, so the selector is asked (SmolLM2 tends to
    # copy "#k" from the instruction: then the vote decides, and the reason says so)
    result = CliRunner().invoke(main, [
        "solve", "-s", "genselect", "-p", "n=4", "-p", "prompt=direct", "-p", "max_tokens=24",
        "-p", "select_tokens=8", "-p", "reason_first=false", "--model", "smollm2-135m",
        "--set", "arith", "--index", "0", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "complete"
    with Ledger(config.database_url()) as ledger:
        trace = ledger.load_trace(data["run_id"])
    assert sum(len(n.tokens) for n in trace.nodes) == trace.compute.generated_tokens
    [reply] = [n for n in trace.nodes if n.kind == NodeKind.VERIFICATION]
    assert trace.compute.engine_calls == 2 and reply.text.startswith(CUE)
    assert trace.compute.generated_by["verification"] == len(reply.tokens) <= 8
    assert trace.compute.generated_tokens <= 4 * 24 + 8
    shown = [c for c in chains(trace) if NUMBER in c.meta]
    assert len(shown) >= 2 and all(f"Solution #{c.meta[NUMBER]}:" in reply.meta["prompt"]
                                   for c in shown)
    assert ("the selector named #" in trace.reason
            or "the majority vote instead" in trace.reason)
