"""The `hybrid` strategy: prose chains and programs of one problem in one vote over the same
answer classes; a failing program does not vote; both kinds' tokens are counted; `n` splits
half and half for a Scaling ladder; once on the real SmolLM2."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_strategy_support import run, solution

from lab.cli import main
from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.evaluation.sweep import StrategySpec, SweepSpec, build_configs
from lab.execution import RunRequest, execute
from lab.store.ledger import Ledger
from lab.strategies.hybrid import shares, split
from lab.strategies.program import OPEN_BLOCK, PROGRAM, ProgramChainsView
from lab.strategies.registry import get_strategy, list_strategies, views_of
from lab.tasks.problem import AnswerKind, Problem
from lab.trace import NodeKind, NodeStatus, TraceView
from lab.views.base import Canvas
from lab.views.blocks import Code, Html

PROBLEM = Problem(id="h1", question="What is 9 + 9?", gold="18", kind=AnswerKind.NUMBER,
                  source="test")
# Alone, prose votes 17 (3 of 5) and programs vote 19 (3 of 5, one more fails); together
# 18 has 2 + 2 votes against 3 and 3.
PROSE = [solution("18", "9 + 9 = 18"), solution("18", "9 + 9 = 18"),
         solution("17", "9 + 9 is 17"), solution("17", "9 + 9 is 17"),
         solution("17", "9 + 9 is 17")]
PROGRAMS = ["print(9 + 9)\n```", "x = 9\nprint(x + x)\n```", "print(19)\n```",
            "print(19)\n```", "print(10 + 9)\n```", "print(9 / 0)\n```"]


def respond(request: ScriptedRequest) -> str:
    """A program for a sequence continuing the opened block, prose otherwise; by position in
    its call (prose and programs are separate calls)."""
    if request.prefix == OPEN_BLOCK:
        return PROGRAMS[request.index]
    return PROSE[request.index]


def test_prose_and_programs_pool_their_votes():
    prose_alone = run("self-consistency", ScriptedEngine(respond), problem=PROBLEM, n=5,
                      early_stop=False)
    assert prose_alone.final_answer == "17" and prose_alone.votes == {"17": 3.0, "18": 2.0}
    programs_alone = run("program", ScriptedEngine(respond), problem=PROBLEM, n=6,
                         timeout_s=1.0)
    assert programs_alone.final_answer == "19"
    assert programs_alone.votes == {"19": 3.0, "18": 2.0}
    engine = ScriptedEngine(respond)
    trace = run("hybrid", engine, problem=PROBLEM, n_prose=5, n_programs=6, timeout_s=1.0)
    assert trace.final_answer == "18"
    assert trace.votes == {"18": 4.0, "17": 3.0, "19": 3.0}
    assert trace.reason == "4 of 10 votes for 18; 1 of 6 programs failed"
    assert trace.meta["prose"] == 5 and trace.meta["programs"] == 6
    assert trace.meta["failed_programs"] == 1 and trace.meta["samples"] == 11
    # two calls: the prose chains, then the programs continuing an opened block
    prose_call, program_call = engine.calls
    assert prose_call.prefixes == [""] * 5 and prose_call.params.stop == ()
    assert program_call.prefixes == [OPEN_BLOCK] * 6 and program_call.params.stop == ("```",)
    assert prose_call.seeds == [0, 1, 2, 3, 4] and program_call.seeds == list(range(5, 11))
    assert "Think step by step" in prose_call.prompt and "print(change)" in program_call.prompt
    kept = [n for n in trace.solutions() if n.status == NodeStatus.KEPT]
    assert [n.meta["source"] for n in kept] == ["prose", "prose", "program", "program"]


def test_both_kinds_tokens_are_counted():
    engine = ScriptedEngine(respond)
    trace = run("hybrid", engine, problem=PROBLEM, n_prose=5, n_programs=6, timeout_s=1.0)
    prose = [n for n in trace.solutions() if n.meta["source"] == "prose"]
    programs = [n for n in trace.solutions() if n.meta["source"] == "program"]
    prose_tokens = sum(len(n.tokens) for n in prose)
    program_tokens = sum(len(n.tokens) for n in programs)
    assert prose_tokens > 0 and program_tokens > 0
    c = trace.compute
    assert c.generated_tokens == prose_tokens + program_tokens
    assert c.generated_by == {"chain": prose_tokens + program_tokens}
    assert c.engine_calls == 2 == len(engine.calls)
    generations = [call.generation for call in engine.calls]
    assert [g.completion_tokens for g in generations if g is not None] == [prose_tokens,
                                                                          program_tokens]


def test_a_failing_program_does_not_vote():
    engine = ScriptedEngine(lambda r: "print(1 / 0)\n```" if r.prefix == OPEN_BLOCK
                            else solution("18"))
    trace = run("hybrid", engine, problem=PROBLEM, n_prose=1, n_programs=3, timeout_s=1.0)
    assert trace.final_answer == "18" and trace.votes == {"18": 1.0}
    assert trace.reason == "1 of 1 votes for 18; 3 of 3 programs failed"
    failed = [n for n in trace.solutions() if n.meta["source"] == "program"]
    assert all(n.answer is None and n.status == NodeStatus.REJECTED for n in failed)
    assert {n.meta["no_vote"] for n in failed} == {"it raised ZeroDivisionError"}


def test_the_chains_view_draws_code_for_programs_and_text_for_prose():
    trace = run("hybrid", ScriptedEngine(respond), problem=PROBLEM, n_prose=2, n_programs=2)
    assert [v.name for v in views_of(trace)] == [TraceView.VOTES, "program-chains"]
    view = ProgramChainsView()
    prose, program = (next(n for n in trace.solutions() if n.meta["source"] == kind)
                      for kind in ("prose", "program"))
    assert isinstance(view.body(prose, Canvas("t"))[0], Html)
    body = view.body(program, Canvas("t"))
    assert body[0] == Code("print(9 + 9)\n") and Code("18", "text") in body
    assert [n.meta.get("source") for n in trace.nodes if n.kind == NodeKind.PROMPT] == [
        "prose", "program"]


def test_n_is_the_total_split_half_and_half():
    assert split(0, 3, 5) == (3, 5) and split(8, 3, 5) == (3, 5)  # as set
    assert split(1, 4, 4) == (1, 0) and split(5, 4, 4) == (3, 2) and split(6, 4, 4) == (3, 3)
    strategy = get_strategy("hybrid")
    default = strategy.validate({})
    assert (default["n"], default["n_prose"], default["n_programs"]) == (8, 4, 4)
    custom = strategy.validate({"n_prose": 6, "n_programs": 2})
    assert (custom["n"], custom["n_prose"], custom["n_programs"]) == (8, 6, 2)
    assert strategy.validate(custom) == custom  # validated parameters validate to themselves
    with pytest.raises(Exception, match="n_prose \\+ n_programs must be at least 1"):
        strategy.validate({"n_prose": 0, "n_programs": 0})
    spec = SweepSpec([StrategySpec("hybrid")], sweeps={"n": [1, 2, 4, 8]},
                     params={"max_tokens": 128})
    configs = build_configs(spec)  # the Scaling page's ladder: each n its own run
    assert [(c.params["n_prose"], c.params["n_programs"]) for c in configs] == [
        (1, 0), (1, 1), (2, 2), (4, 4)]
    assert all(c.ladder == () and c.params["max_tokens"] == 128 for c in configs)
    assert configs[-1].params == strategy.validate({"max_tokens": 128})  # n=8 is the default
    spend = strategy.spend(default, 2048)
    assert (spend.params["n_prose"], spend.params["n_programs"]) == (2, 2)
    assert spend.how == "4 chains of up to 512 tokens each"


def test_the_budget_affords_fewer_of_both():
    assert shares(3, 4, 4) == (2, 1) and shares(5, 4, 4) == (3, 2) and shares(3, 0, 8) == (0, 3)
    engine = ScriptedEngine(respond)
    trace = run("hybrid", engine, 4, problem=PROBLEM, n_prose=4, n_programs=4)
    assert [len(call.prefixes) for call in engine.calls] == [2, 2]
    assert "the token budget afforded 2 of 4 prose chains and 2 of 4 programs" in trace.reason


def test_it_describes_itself_and_round_trips_through_the_ledger(tmp_path):
    strategy = get_strategy("hybrid")
    assert strategy.category is PROGRAM and strategy.demo and strategy.demo.problem_set == "arith"
    assert strategy.pick is None and not strategy.resamplable(strategy.validate({}), None)
    assert strategy.sweep_knob == "n" and "n" in strategy.knobs
    assert list_strategies().index(strategy) > list_strategies().index(get_strategy("program"))
    params = strategy.validate(strategy.demo.params)
    assert strategy.parallel_sequences(params) == 4 and strategy.sequence_tokens(params) == 512
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        outcome = execute(RunRequest("hybrid", PROBLEM, {"n_prose": 2, "n_programs": 2}),
                          ScriptedEngine(respond), ledger)
        assert outcome.run_id is not None
        assert ledger.load_trace(outcome.run_id) == outcome.trace
    assert outcome.trace.correct is True


@pytest.mark.model
def test_lab_solve_runs_it_on_the_real_model():
    result = CliRunner().invoke(main, [
        "solve", "-s", "hybrid", "--set", "arith", "--index", "0", "--model", "smollm2-135m",
        "-p", "n_prose=1", "-p", "n_programs=1", "-p", "max_tokens=24", "-p",
        "program_tokens=32", "-p", "timeout_s=0.5", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["strategy"] == "hybrid" and data["status"] == "complete"
    assert data["correct"] in (True, False) and isinstance(data["run_id"], int)
    assert (data["params"]["n_prose"], data["params"]["n_programs"]) == (1, 1)
