"""Shared helpers for the strategy tests, and tests of the shared machinery: parameters,
the registry, budgets, events, cancellation, failures and the JSON round trip."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from lab.engine.scripted import ScriptedEngine, ScriptedReply, ScriptedRequest
from lab.strategies.params import Param, ParamError, parse_assignments
from lab.strategies.registry import STRATEGIES, get_strategy, run_strategy
from lab.tasks.problem import AnswerKind, Problem
from lab.trace import EventKind, NodeKind, NodeStatus, Trace, TraceEvent, TraceStatus

PROBLEM = Problem(id="t1", question="What is 6 * 7?", gold="42", kind=AnswerKind.NUMBER,
                  source="test")
ALL = ["direct", "cot", "self-consistency", "best-of-n", "rejection", "self-refine",
       "beam-search", "tree-search", "confidence-vote"]


def solution(answer: str, work: str = "6 * 7 = 42") -> str:
    return f"{work}\n\nThe answer is {answer}."


def by_seed(replies: dict[int, str | ScriptedReply], default: str = "I am not sure."
            ) -> Callable[[ScriptedRequest], str | ScriptedReply]:
    """A responder that answers by the sequence's seed (strategies give each sequence its own)."""
    return lambda request: replies.get(request.seed, default)


class Events:
    def __init__(self) -> None:
        self.events: list[TraceEvent] = []

    def __call__(self, event: TraceEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[EventKind]:
        return [e.kind for e in self.events]


def run(name: str, engine: Any, budget: int | None = None, problem: Problem = PROBLEM,
        events: Events | None = None, **params: Any) -> Trace:
    trace = run_strategy(name, problem, engine, params, budget, on_event=events)
    assert trace.status == TraceStatus.COMPLETE, trace.error
    assert Trace.from_json(trace.to_json()) == trace
    assert sum(len(n.tokens) for n in trace.nodes) == trace.compute.generated_tokens
    if budget is not None:
        assert trace.compute.generated_tokens <= budget
    return trace


def chains(trace: Trace) -> list:
    return [n for n in trace.nodes if n.kind == NodeKind.CHAIN]


# -- parameters and registry -----------------------------------------------------------------
def test_registry_holds_the_strategies_of_every_category():
    assert list(STRATEGIES)[: len(ALL)] == ALL
    for strategy in STRATEGIES.values():
        assert strategy.summary and strategy.params
        names = [p.name for p in strategy.params]
        assert len(names) == len(set(names))
        assert strategy.validate({})  # the defaults are valid


def test_unknown_strategy_names_the_valid_ones():
    with pytest.raises(ParamError, match="unknown strategy 'magic'; valid: direct, cot"):
        get_strategy("magic")


def test_params_parse_strings_and_check_ranges():
    strategy = get_strategy("self-consistency")
    values = strategy.validate({"n": "4", "temperature": "0.3", "early_stop": "no"})
    assert (values["n"], values["temperature"], values["early_stop"]) == (4, 0.3, False)
    with pytest.raises(ParamError, match="n must be between 1 and 64 .got 0."):
        strategy.validate({"n": "0"})
    with pytest.raises(ParamError, match="unknown parameter 'width' for self-consistency; valid:"):
        strategy.validate({"width": "2"})
    with pytest.raises(ParamError, match="scorer must be one of mean-logprob"):
        strategy.validate({"scorer": "vibes"})
    with pytest.raises(ParamError, match="n must be an integer"):
        strategy.validate({"n": "2.5"})
    with pytest.raises(ParamError, match="batch must be at most n"):
        strategy.validate({"n": "2", "batch": "3"})


def test_param_description_for_ui_and_assignments():
    param = Param("width", "int", 3, "kept", 1, 16)
    assert param.to_dict() == {"name": "width", "kind": "int", "default": 3, "help": "kept",
                               "min": 1, "max": 16, "choices": [], "knob": False, "zero": ""}
    assert parse_assignments(["n=8", "prompt = cot"]) == {"n": "8", "prompt": "cot"}
    with pytest.raises(ParamError, match="NAME=VALUE"):
        parse_assignments(["n"])


def test_shared_knobs_share_names():
    for strategy in STRATEGIES.values():
        for p in strategy.params:
            if p.name in ("temperature", "top_p", "n", "width", "depth", "rounds", "seed"):
                assert p.kind in ("int", "float")


def test_budget_out_of_range_is_rejected():
    with pytest.raises(ParamError, match="budget must be between 1 and"):
        run_strategy("direct", PROBLEM, ScriptedEngine("x"), budget=0)


# -- the run machinery -----------------------------------------------------------------------
def test_direct_is_one_greedy_call_with_events_and_compute():
    engine = ScriptedEngine("The answer is 42.")
    events = Events()
    trace = run("direct", engine, events=events)
    assert trace.final_answer == "42"
    assert engine.calls[0].params.temperature == 0
    assert [n.kind for n in trace.nodes] == [NodeKind.PROMPT, NodeKind.CHAIN, NodeKind.ANSWER]
    assert all(n.chosen for n in trace.nodes)
    assert trace.compute.generated_tokens == 4 and trace.compute.engine_calls == 1
    assert trace.compute.prompt_tokens > 0 and trace.compute.wall_s > 0
    kinds = events.kinds()
    assert kinds[0] == EventKind.STARTED and kinds[-1] == EventKind.FINISHED
    assert kinds.count(EventKind.TOKEN) == 4
    assert "Give only the final answer" in trace.nodes[0].text


def test_cot_samples_when_asked():
    engine = ScriptedEngine(solution("42"))
    trace = run("cot", engine, temperature=0.8, seed=5)
    assert engine.calls[0].params.temperature == 0.8 and engine.calls[0].seeds == [5]
    assert "Think step by step" in trace.nodes[0].text
    assert trace.final_answer == "42" and "sampled" in trace.reason


def test_token_budget_caps_every_call():
    engine = ScriptedEngine("one two three four five six seven eight nine ten")
    trace = run("self-consistency", engine, budget=12, n=4, max_tokens=100)
    assert engine.calls[0].params.max_tokens == 3
    assert trace.compute.generated_tokens == 12


def test_cancel_mid_generation_keeps_the_partial_trace():
    cancel = threading.Event()
    engine = ScriptedEngine("a b c d e f g")

    def on_event(event: TraceEvent) -> None:
        if event.kind == EventKind.TOKEN and event.token and event.token.text.strip() == "c":
            cancel.set()

    trace = run_strategy("self-consistency", PROBLEM, engine, {"n": 2}, on_event=on_event,
                         cancel=cancel)
    assert trace.status == TraceStatus.INTERRUPTED
    assert [n.text for n in chains(trace)] == ["a b c", "a b c"]
    assert all(n.status == NodeStatus.STOPPED for n in chains(trace))
    assert trace.compute.generated_tokens == 6
    assert Trace.from_json(trace.to_json()) == trace


def test_cancel_before_start_interrupts_without_engine_calls():
    cancel = threading.Event()
    cancel.set()
    engine = ScriptedEngine("x")
    trace = run_strategy("cot", PROBLEM, engine, cancel=cancel)
    assert trace.status == TraceStatus.INTERRUPTED and not engine.calls


def test_engine_failure_marks_the_trace_failed():
    def broken(request: ScriptedRequest) -> str:
        raise RuntimeError("boom")

    trace = run_strategy("cot", PROBLEM, ScriptedEngine(broken))
    assert trace.status == TraceStatus.FAILED and "boom" in (trace.error or "")
    assert trace.nodes[0].kind == NodeKind.PROMPT  # what it had is kept


def test_judge_without_a_judge_model_fails_clearly():
    trace = run_strategy("best-of-n", PROBLEM, ScriptedEngine("x"), {"scorer": "judge"})
    assert trace.status == TraceStatus.FAILED
    assert "judge model" in (trace.error or "")


def test_the_context_clamps_any_call_to_the_budget():
    from lab.engine.base import SamplingParams
    from lab.strategies.context import BudgetExhausted, RunContext

    engine = ScriptedEngine("a b c d e f g h")
    ctx = RunContext(Trace("test", PROBLEM, budget=5), engine)
    root = ctx.add_prompt("Q")
    ctx.sample("Q", [root, root], SamplingParams(max_tokens=100))
    assert engine.calls[0].params.max_tokens == 2 and ctx.remaining == 1
    with pytest.raises(BudgetExhausted):
        ctx.sample("Q", [root, root], SamplingParams(max_tokens=100))
