"""The `budget-forcing` strategy: an early answer line or end of turn becomes "Wait," until the
minimum, the answer cue comes at the maximum, each continuation extends the written prefix
(reused from the cache on the real model), and a sweep over the minimum runs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_strategy_support import PROBLEM, run

from lab.cli import main
from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.prompts import solve_messages
from lab.strategies.budget_forcing import LONGER, kept_text
from lab.strategies.registry import get_strategy, list_strategies, run_strategy
from lab.tasks.datasets import load_set
from lab.trace import EventKind, Node, NodeKind, TraceStatus

TEN = "one two three four five six seven eight nine ten"


def by_waits(*replies: str, answer: str = " 42.") -> ScriptedEngine:
    """Reply i after the i-th forced "Wait," (the last repeating); `answer` after the cue."""
    def respond(request: ScriptedRequest) -> str:
        if request.prefix.endswith("The answer is"):
            return answer
        return replies[min(request.prefix.count("Wait,"), len(replies) - 1)]
    return ScriptedEngine(respond)


def segments(trace) -> list[Node]:  # noqa: ANN001 - a Trace
    return [n for n in trace.nodes if n.kind == NodeKind.CHAIN]


def test_an_early_answer_line_becomes_wait_and_the_chain_goes_on():
    engine = by_waits("6 * 7 = 41.\n\nThe answer is 41.", " no: 6 * 7 = 42.\n\nThe answer is 42.")
    trace = run("budget-forcing", engine, min_tokens=10, max_tokens=40)
    assert trace.final_answer == "42" and trace.meta["waits"] == 1
    first, second = segments(trace)
    assert first.text == "6 * 7 = 41.\n\nWait,"  # cut before the answer line, Wait appended
    assert first.meta["suppressed"] == "The answer is" and first.meta["forced"] == "Wait,"
    assert first.finish_reason == "stopped" and "".join(t.text for t in first.tokens) == (
        "6 * 7 = 41.\n\nThe answer is")  # the suppressed tokens stay on their node
    assert second.parent == first.id and second.answer == "42" and second.chosen
    # the second call continues the prompt plus what was written, within what is left
    assert engine.calls[1].prefixes == ["6 * 7 = 41.\n\nWait,"]
    assert engine.calls[1].params.max_tokens == 40 - len(first.tokens)
    assert trace.reason.startswith("answered on its own") and "1 Wait forced" in trace.reason


def test_an_early_end_of_turn_becomes_wait_up_to_max_waits_then_the_cue():
    engine = by_waits("Let me think.")
    trace = run("budget-forcing", engine, min_tokens=100, max_tokens=200, max_waits=2)
    assert trace.meta["waits"] == 2 and len(engine.calls) == 4  # 3 segments and the answer
    assert [s.meta.get("forced") for s in segments(trace)] == [
        "\nWait,", "\nWait,", "\nThe answer is", None]
    assert [s.meta.get("suppressed") for s in segments(trace)][:2] == ["end of turn"] * 2
    assert engine.calls[-1].prefixes[0].endswith("Let me think.\nThe answer is")
    assert trace.final_answer == "42" and segments(trace)[-1].meta["answer"]
    assert "after it ended without an answer line" in trace.reason


def test_at_the_maximum_the_cue_is_appended_and_the_model_answers():
    engine = by_waits(" ".join([TEN] * 5), answer=" 42.\n\nMore words.")
    trace = run("budget-forcing", engine, min_tokens=5, max_tokens=20, answer_tokens=8)
    think, answer = segments(trace)
    assert engine.calls[0].params.max_tokens == 20 and len(think.tokens) == 20
    assert think.meta["ended"] == "maximum" and think.text.endswith("\nThe answer is")
    assert engine.calls[1].params.max_tokens == 8
    assert answer.text == " 42.\n\n" and answer.finish_reason == "stopped"  # one line
    assert answer.text[slice(*answer.answer_span)] == "42"
    assert trace.final_answer == "42" and trace.meta["thinking_tokens"] == 20
    assert "at the cue at the maximum" in trace.reason


def test_a_chain_that_reaches_the_maximum_inside_its_answer_line_finishes_it():
    engine = by_waits(f"{TEN} The answer is", answer="\n\n(8 - 4) * (7 - 1)\nmore")
    trace = run("budget-forcing", engine, min_tokens=1, max_tokens=13)
    think, answer = segments(trace)
    assert think.text.endswith("ten The answer is") and "forced" not in think.meta
    assert trace.final_answer == "(8 - 4) * (7 - 1)" and answer.answer_span == (2, 19)


def test_without_an_answer_at_the_cue_the_last_stated_answer_counts():
    engine = by_waits(f"{TEN}. The answer is 42. {TEN} {TEN}", answer="\n\n")
    trace = run("budget-forcing", engine, min_tokens=1, max_tokens=30)
    assert trace.final_answer == "42" and "the one it last stated" in trace.reason
    silent = run("budget-forcing", by_waits(TEN * 3, answer=":\n\n"), min_tokens=1,
                 max_tokens=20)
    assert silent.final_answer is None and silent.reason.startswith("no answer at the cue")


def test_past_the_minimum_an_answer_line_is_let_through():
    engine = by_waits(f"{TEN}.\n\nThe answer is 42.")
    trace = run("budget-forcing", engine, min_tokens=5, max_tokens=100)
    assert len(engine.calls) == 1 and trace.meta["waits"] == 0 and trace.final_answer == "42"


def test_minimum_zero_is_a_plain_chain_and_the_minimum_is_capped_by_the_maximum():
    plain = run("budget-forcing", by_waits("The answer is 42."), min_tokens=0)
    assert plain.meta["waits"] == 0 and plain.final_answer == "42"
    capped = run("budget-forcing", by_waits(" ".join([TEN] * 5)), min_tokens=100, max_tokens=20)
    assert capped.meta["min_tokens"] == 20 and capped.meta["waits"] == 0


def test_the_run_budget_keeps_room_for_the_answer():
    engine = by_waits(" ".join([TEN] * 10))
    trace = run("budget-forcing", engine, budget=30, min_tokens=10, answer_tokens=8)
    assert engine.calls[0].params.max_tokens == 22 and trace.meta["max_tokens"] == 22
    assert trace.final_answer == "42" and trace.compute.generated_tokens <= 30


def test_kept_text_cuts_at_the_token_where_the_answer_line_starts():
    engine = ScriptedEngine("So it is 42. The answer is")
    trace = run_strategy("direct", PROBLEM, engine)
    assert kept_text(segments(trace)[0]) == "So it is 42."


def test_it_describes_itself():
    strategy = get_strategy("budget-forcing")
    assert strategy.category is LONGER and strategy.order > 100 and strategy.demo
    assert strategy.sweep_knob == "min_tokens" and strategy.knobs == ("min_tokens", "max_tokens")
    assert strategy.views == ("forced-chains",) and strategy.pick is None
    params = strategy.validate({})
    assert strategy.parallel_sequences(params) == 1 and strategy.sequence_tokens(params) > 512
    assert strategy.spend(params, 1024).params == params
    recursive = get_strategy("recursive")
    assert list_strategies().index(strategy) > list_strategies().index(recursive)


def test_lab_eval_sweeps_the_minimum(monkeypatch: pytest.MonkeyPatch):
    engine = by_waits("Some work.\n\nThe answer is 18.", " checked.\n\nThe answer is 18.")
    monkeypatch.setattr("lab.commands.evaluate.open_engine", lambda name: engine)
    monkeypatch.setattr("lab.commands.evaluate._model_name", lambda name: "scripted")
    result = CliRunner().invoke(main, [
        "eval", "--set", "arith", "--limit", "1", "-s", "budget-forcing", "--sweep",
        "min_tokens=1,8", "-p", "max_tokens=64", "--experiment", "s1", "--json"])
    assert result.exit_code == 0, result.stderr
    assert len(engine.calls) == 1 + 2  # min 1: one call; min 8: a Wait was forced
    assert len(json.loads(result.stdout)["rows"]) == 2


@pytest.mark.model
def test_on_the_real_model_the_continuation_reuses_the_cache(smollm_engine):
    problem = load_set("arith", limit=1)[0]
    events = []
    # SmolLM2 answers this one in about 120 tokens: below the minimum a Wait is forced; any
    # chain ends in at least two calls (a Wait, or the cue at the maximum)
    params = {"min_tokens": 160, "max_tokens": 192, "answer_tokens": 8, "max_waits": 1}
    trace = run_strategy("budget-forcing", problem, smollm_engine, params,
                         on_event=events.append)
    assert trace.status == TraceStatus.COMPLETE, trace.error
    compute, parts = trace.compute, segments(trace)
    assert compute.engine_calls == len(parts) >= 2
    assert sum(len(n.tokens) for n in parts) == compute.generated_tokens <= 192 + 8
    assert sum(e.kind == EventKind.TOKEN for e in events) == compute.generated_tokens
    prompt = smollm_engine.count_tokens(smollm_engine.format_prompt(solve_messages(problem)))
    # what was written is served from the cache: only the forced words are decoded again
    assert compute.cached_prompt_tokens >= len(parts[0].tokens)
    assert compute.prompt_tokens <= prompt + 8 * len(parts)


def test_the_playground_draws_each_segment_ending_in_its_forced_wait():
    from test_app_support import finish, open_app, set_param, texts

    from lab.ui import state

    state.use_engine(by_waits("Add them: 18.\n\nThe answer is 18.", " yes.\n\nThe answer is 18."))
    try:
        at = open_app()
        at.selectbox(key="pg.strategy").set_value("budget-forcing").run()
        set_param(at, "budget-forcing", "min_tokens", 8)
        at.button(key="pg.run").click().run()
        assert not at.error, texts(at.error)
        batch = finish(at, "pg.batch")
    finally:
        state.use_engine(None)
    assert batch.runs[0].trace.final_answer == "18" and batch.runs[0].trace.meta["waits"] == 1
    titles = [m for m in texts(at.markdown) if m.startswith(("**Segment ", "**Answer", "**Chain"))]
    assert [t.split("**")[1] for t in titles] == ["Segment 1", "Segment 2"]  # one chain
    panels = " ".join(str(e.proto) for e in at.get("html"))
    assert "Add them:" in panels and "Wait," in panels and "The answer is" in panels
    assert any("then forced: Wait," in c for c in texts(at.caption))
