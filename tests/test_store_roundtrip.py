"""A stored run reads back as the very Trace that was saved, whatever its strategy.

Hand-built traces cover every node kind and status, tokens with and without top alternatives,
entropy and self-certainty, votes, meta and -inf scores. Real strategy traces are added to
`STRATEGY_TRACES`; every registered strategy is also run on a scripted engine and streamed
through the recorder.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_store_support import (
    BACKENDS,
    backend_url,
    replay,
    sample_problem,
    sample_tokens,
    sample_trace,
)

from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.store import Ledger
from lab.store.tokens import pack_tokens, unpack_tokens
from lab.strategies.registry import STRATEGIES, run_strategy
from lab.tasks.problem import AnswerKind, Problem
from lab.trace import NodeKind, NodeStatus, Trace, TraceStatus


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    for url in backend_url(request.param, tmp_path):
        with Ledger(url) as opened:
            yield opened


def empty_trace() -> Trace:
    return Trace(strategy="cot", problem=Problem(id="q", question="Why?", gold=None,
                                                 kind=AnswerKind.TEXT))


def failed_trace() -> Trace:
    trace = sample_trace(3, chains=1)
    trace.status, trace.error, trace.final_answer = TraceStatus.FAILED, "engine died", None
    trace.correct, trace.budget, trace.model = None, None, ""
    return trace


# name -> builder; strategy developers: add a builder that runs your strategy on a fake engine
STRATEGY_TRACES: dict[str, Callable[[], Trace]] = {
    "every-kind-and-status": sample_trace,
    "empty": empty_trace,
    "failed-without-model": failed_trace,
}


@pytest.mark.parametrize("name", sorted(STRATEGY_TRACES))
def test_saved_trace_loads_back_equal(ledger: Ledger, name: str) -> None:
    trace = STRATEGY_TRACES[name]()
    run_id = ledger.start_run(trace)
    loaded = ledger.load_trace(run_id)
    assert loaded == trace
    assert loaded.to_dict() == trace.to_dict()


def test_sample_covers_every_kind_and_status() -> None:
    trace = sample_trace()
    assert {n.kind for n in trace.nodes} == set(NodeKind)
    assert {n.status for n in trace.nodes} == set(NodeStatus)
    assert any(t.top for n in trace.nodes for t in n.tokens)


def test_streamed_run_loads_back_equal(ledger: Ledger) -> None:
    final = sample_trace(4)
    recorder = ledger.recorder()
    live = replay(final, recorder)
    ledger.finish_run(recorder.run_id, live)  # after grading
    assert recorder.error is None
    assert ledger.load_trace(recorder.run_id) == final


def test_finish_run_overwrites_with_the_graded_trace(ledger: Ledger) -> None:
    trace = sample_trace(5)
    trace.correct = None
    run_id = ledger.start_run(trace)
    trace.correct = True
    trace.nodes[1].scores["judge"] = 0.9
    ledger.finish_run(run_id, trace)
    assert ledger.load_trace(run_id) == trace


def test_same_problem_key_with_other_text_keeps_each_problem(ledger: Ledger) -> None:
    first = sample_trace(0, problem=Problem(id="mine", question="2+2?", source="custom"))
    second = sample_trace(0, problem=Problem(id="mine", question="3+3?", source="custom"))
    again = sample_trace(1, problem=Problem(id="mine", question="2+2?", source="custom"))
    ids = [ledger.start_run(t) for t in (first, second, again)]
    assert [ledger.load_trace(i).problem.question for i in ids] == ["2+2?", "3+3?", "2+2?"]


def test_large_trace_round_trips(ledger: Ledger) -> None:
    trace = sample_trace(6)
    trace.nodes = [
        type(trace.nodes[0])(id=i, parent=None if i == 0 else 0, kind=NodeKind.CHAIN,
                             text="x" * 2000, tokens=sample_tokens(300, offset=i))
        for i in range(64)
    ]
    run_id = ledger.start_run(trace)
    assert ledger.load_trace(run_id) == trace


def test_token_packing_round_trips_exactly() -> None:
    tokens = sample_tokens(9)
    tokens[1].logprob = -math.inf
    tokens[2].logprob = -1e-300
    tokens[3].id = 2**31 - 1
    assert unpack_tokens(pack_tokens(tokens)) == tokens
    assert unpack_tokens(pack_tokens([])) == []


def test_token_packing_is_compact() -> None:
    packed = pack_tokens(sample_tokens(100))
    assert len(packed.ids) == 4 * 100
    assert len(packed.logprobs) == 8 * 100
    bare = pack_tokens([type(t)(id=t.id, text=t.text, logprob=t.logprob)
                        for t in sample_tokens(5)])
    assert bare.top is None and bare.entropy is None and bare.self_certainty is None


def test_problem_fields_round_trip(ledger: Ledger) -> None:
    problem = sample_problem(7, source="gsm8k:/data/test.jsonl")
    trace = sample_trace(7, problem=problem)
    assert ledger.load_trace(ledger.start_run(trace)).problem == problem


def scripted_answer(request: ScriptedRequest) -> str:
    answer = 42 if request.seed % 3 else 41
    return f"6 * 7 = {answer}\n\nSo we check it.\n\nThe answer is {answer}."


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_real_strategy_trace_streams_and_loads_back_equal(ledger: Ledger, name: str) -> None:
    problem = Problem(id="t1", question="What is 6 * 7?", gold="42", source="test")
    recorder = ledger.recorder(experiment="strategies", flush_interval_s=0)
    trace = run_strategy(name, problem, ScriptedEngine(scripted_answer), {}, 400,
                         on_event=recorder)
    assert recorder.error is None and recorder.run_id is not None
    assert ledger.load_trace(recorder.run_id) == trace  # as saved at FINISHED
    trace.correct = trace.final_answer == problem.gold
    ledger.finish_run(recorder.run_id, trace)
    assert ledger.load_trace(recorder.run_id) == trace
