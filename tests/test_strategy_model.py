"""Every strategy once on the real SmolLM2-135M: a complete trace, within budget, events
that match the compute, and a JSON round trip that gives the same trace back."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lab.strategies.registry import STRATEGIES, run_strategy
from lab.tasks.problem import Problem
from lab.trace import EventKind, NodeStatus, Trace, TraceEvent, TraceStatus

pytestmark = [pytest.mark.model, pytest.mark.slow]

# Small settings: the whole file should take well under a minute on 2 cores.
CASES: dict[str, tuple[dict[str, Any], int]] = {
    "direct": ({"max_tokens": 32}, 32),
    "cot": ({"max_tokens": 64}, 64),
    "self-consistency": ({"n": 4, "batch": 2, "max_tokens": 48}, 160),
    "best-of-n": ({"n": 3, "max_tokens": 48, "scorer": "lowest-window"}, 144),
    "rejection": ({"n": 2, "max_tokens": 48, "threshold": 0.9}, 96),
    "self-refine": ({"rounds": 1, "max_tokens": 32, "scorer": "mean-logprob"}, 96),
    "beam-search": ({"width": 2, "branch": 2, "depth": 2, "max_tokens": 32}, 192),
    "tree-search": ({"iterations": 2, "branch": 2, "depth": 3, "max_tokens": 32}, 128),
    "confidence-vote": ({"n": 4, "warmup": 2, "window": 8, "percentile": 50,
                         "max_tokens": 48}, 192),
}


@pytest.fixture(scope="module")
def problem() -> Problem:
    from lab.tasks.datasets import load_set

    return load_set("arith", limit=1)[0]


def test_every_scaling_category_has_a_case():
    assert set(CASES) <= set(STRATEGIES)
    assert len(CASES) == 9


@pytest.mark.parametrize("name", list(CASES))
def test_strategy_on_smollm(name: str, smollm_engine, problem: Problem):
    params, budget = CASES[name]
    events: list[TraceEvent] = []
    trace = run_strategy(name, problem, smollm_engine, params, budget, on_event=events.append)
    assert trace.status == TraceStatus.COMPLETE, trace.error
    assert trace.reason and trace.model
    compute = trace.compute
    assert 0 < compute.generated_tokens <= budget
    assert compute.prompt_tokens > 0 and compute.engine_calls >= 1 and compute.wall_s > 0
    # every generated token is on a node and was announced as it came
    assert sum(len(n.tokens) for n in trace.nodes) == compute.generated_tokens
    assert sum(e.kind == EventKind.TOKEN for e in events) == compute.generated_tokens
    assert events[0].kind == EventKind.STARTED and events[-1].kind == EventKind.FINISHED
    assert all(t.logprob <= 0 for n in trace.nodes for t in n.tokens)
    if trace.final_answer is not None:
        assert any(n.chosen for n in trace.nodes)
    assert Trace.from_json(trace.to_json()) == trace


def test_judge_scores_with_a_second_model(smollm_engine, problem: Problem):
    trace = run_strategy("best-of-n", problem, smollm_engine,
                         {"n": 2, "max_tokens": 32, "scorer": "judge", "cut_votes": True}, 66,
                         judge=smollm_engine)
    assert trace.status == TraceStatus.COMPLETE, trace.error
    scores = [n.scores["judge"] for n in trace.nodes if "judge" in n.scores]
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
    assert trace.compute.engine_calls == 3


def test_confidence_vote_reports_savings(smollm_engine, problem: Problem):
    trace = run_strategy("confidence-vote", problem, smollm_engine,
                         {"n": 4, "warmup": 2, "window": 4, "percentile": 90,
                          "max_tokens": 48}, 192)
    assert trace.status == TraceStatus.COMPLETE, trace.error
    stopped = [n for n in trace.nodes if n.finish_reason == "stopped"]
    assert trace.meta["stopped"] == len(stopped)
    assert all(n.status == NodeStatus.STOPPED for n in stopped)
    assert trace.meta["tokens_saved_estimate"] >= 0 and "threshold" in trace.meta


def test_cancel_mid_generation_on_the_real_model(smollm_engine, problem: Problem):
    cancel = threading.Event()
    seen = []

    def on_event(event: TraceEvent) -> None:
        if event.kind == EventKind.TOKEN:
            seen.append(event.token)
            if len(seen) == 6:
                cancel.set()

    trace = run_strategy("self-consistency", problem, smollm_engine,
                         {"n": 2, "max_tokens": 64}, on_event=on_event, cancel=cancel)
    assert trace.status == TraceStatus.INTERRUPTED
    chains = [n for n in trace.nodes if n.status == NodeStatus.STOPPED]
    assert len(chains) == 2 and all(n.finish_reason == "cancelled" for n in chains)
    assert 0 < trace.compute.generated_tokens < 128
    assert Trace.from_json(trace.to_json()) == trace
