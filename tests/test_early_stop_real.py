"""Early stop on the real engine (SmolLM2): self-consistency stops after a majority agrees and
counts only what it drew; the chains it drew are those the full run draws on the same seeds;
confidence-vote's early stop saves tokens against the same run without it."""

from __future__ import annotations

from test_strategy_support import chains

from lab.strategies.registry import run_strategy
from lab.tasks.problem import AnswerKind, Problem
from lab.trace import TraceStatus

PROBLEM = Problem(id="es", question="What is 2 + 2?", gold="4", kind=AnswerKind.NUMBER,
                  source="test")


def solve(engine, strategy: str, **params):
    trace = run_strategy(strategy, PROBLEM, engine, params)
    assert trace.status == TraceStatus.COMPLETE, trace.error
    return trace


def test_self_consistency_stops_early_on_the_real_model(smollm_engine):
    greedy = {"temperature": 0.0, "max_tokens": 96, "n": 8}
    stopped = solve(smollm_engine, "self-consistency", **greedy)
    full = solve(smollm_engine, "self-consistency", early_stop=False, **greedy)
    drawn = chains(stopped)
    assert len(drawn) == 5 and len(chains(full)) == 8  # 5 that agree cannot be caught by 3
    assert "stopped early after 5 of 8 samples" in stopped.reason
    assert stopped.compute.generated_tokens == sum(len(n.tokens) for n in drawn)
    assert stopped.compute.generated_tokens < full.compute.generated_tokens
    assert [n.text for n in drawn] == [n.text for n in chains(full)][:5]


def test_confidence_vote_early_stop_saves_measured_tokens_on_the_real_model(smollm_engine):
    settings = {"n": 6, "warmup": 2, "window": 4, "max_tokens": 32, "temperature": 1.0,
                "seed": 3}
    stopping = solve(smollm_engine, "confidence-vote", **settings)
    full = solve(smollm_engine, "confidence-vote", early_stop=False, **settings)
    assert full.meta["stopped"] == 0
    assert stopping.compute.generated_tokens <= full.compute.generated_tokens
    if stopping.meta["stopped"]:
        assert stopping.compute.generated_tokens < full.compute.generated_tokens
