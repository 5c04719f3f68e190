"""The `program` strategy: programs sampled in one call, run in the sandbox, voted over what they
print; failing programs do not vote and say why; hostile programs end contained with the run
stored; lab eval reuses one run's programs for every k; once on the real SmolLM2."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_recursive_ledger import HOSTILE
from test_strategy_support import PROBLEM, by_seed, run

from lab.cli import main
from lab.engine.scripted import ScriptedEngine
from lab.execution import RunRequest, execute
from lab.store.ledger import Ledger
from lab.strategies.program import PROGRAM, printed_answer
from lab.strategies.registry import get_strategy, list_strategies, run_strategy, views_of
from lab.tasks.datasets import load_set
from lab.trace import EventKind, NodeKind, NodeStatus, TraceStatus, TraceView

FAILING = {
    "syntax": "print(6 *\n```",
    "exception": "x = 6 * 7\nprint(x / 0)\n```",
    "timeout": "while True:\n    pass\n```",
    "silent": "x = 6 * 7\n```",
}


def programs(*replies: str) -> ScriptedEngine:
    """One scripted program per sequence, by seed (the run's seeds are 0..n-1)."""
    return ScriptedEngine(by_seed(dict(enumerate(replies)), default="print(0)\n```"))


def lab(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_programs_vote_over_what_they_print():
    engine = programs("x = 6 * 7\nprint(x)\n```\nThis prints 42.", "print(42.0)\n```",
                      "print('The answer is 41.')\n```", *FAILING.values())
    trace = run("program", engine, n=7, timeout_s=0.5)
    assert trace.final_answer == "42" and trace.votes == {"42": 2.0, "41": 1.0}
    assert trace.reason == "2 of 3 votes for 42; 4 of 7 programs failed"
    [call] = engine.calls  # all n in one batched call, each continuing an opened block
    assert call.prefixes == ["```python\n"] * 7 and call.params.stop == ("```",)
    assert "print(change)" in call.prompt  # the worked example
    chains = [n for n in trace.nodes if n.kind == NodeKind.CHAIN]
    first = chains[0]
    assert first.meta["code"] == "x = 6 * 7\nprint(x)\n" and first.meta["output"] == "42\n"
    assert first.text.startswith("x = 6 * 7\nprint(x)\n```") and "Output:\n42" in first.text
    assert first.text[slice(*first.answer_span)] == "42" and first.status == NodeStatus.KEPT
    assert "This prints" not in first.text  # generation stopped where the block closed
    assert chains[2].answer == "41"


def test_a_failing_program_is_a_chain_without_an_answer_that_says_why():
    trace = run("program", programs(*FAILING.values()), n=4, timeout_s=0.5)
    assert trace.final_answer is None and trace.votes == {}
    assert trace.reason == "no chain gave an answer; 4 of 4 programs failed"
    why = {name: n for name, n in zip(FAILING, trace.solutions(), strict=True)}
    assert why["syntax"].meta["no_vote"] == "it does not parse (SyntaxError)"
    assert why["exception"].meta["no_vote"] == "it raised ZeroDivisionError"
    assert why["timeout"].meta["no_vote"] == "it ran out of time"
    assert why["silent"].meta["no_vote"] == "it printed nothing"
    for node in why.values():
        assert node.answer is None and node.status == NodeStatus.REJECTED
        assert node.text.startswith(node.meta["code"]) and "No vote: it" in node.text
    assert "ZeroDivisionError: division by zero" in why["exception"].text
    assert "SyntaxError" in why["syntax"].meta["error"]
    assert trace.meta["failed_programs"] == 4 and trace.meta["sandbox"]


def test_the_greedy_program_is_one_sequence_at_temperature_zero():
    engine = programs("print(6 * 7)\n```")
    trace = run("program", engine, n=1, temperature=0)
    assert trace.final_answer == "42" and trace.reason == "1 of 1 votes for 42"
    assert engine.calls[0].params.temperature == 0 and engine.calls[0].seeds == [0]


def test_ties_are_broken_like_self_consistency():
    engine = ScriptedEngine(by_seed({0: "print(41)\n```", 1: "print(42)\n```"}))
    trace = run("program", engine, n=2, scorer="mean-logprob")
    assert "tie broken by mean-logprob" in trace.reason
    assert trace.final_answer in ("41", "42")


def test_a_program_cut_at_its_token_cap_votes_only_with_cut_votes():
    reply = "print(41)\nprint(42)\nprint(43)\n```"
    cut = run("program", programs(reply), n=1, max_tokens=3)
    [chain] = cut.solutions()
    assert chain.cut and chain.answer == "42" and chain.meta["no_vote"] == (
        "it was cut at the token cap")
    assert cut.final_answer is None and "1 chain cut at the token cap was left out" in cut.reason
    counted = run("program", programs(reply), n=1, max_tokens=3, cut_votes=True)
    assert counted.final_answer == "42"


def test_game24_prints_an_expression_the_kind_checks():
    problem = load_set("game24")[0]
    expression = problem.gold
    engine = programs(f"print({expression!r})\n```", "print(24)\n```")
    outcome = execute(RunRequest("program", problem, {"n": 2}), engine, None)
    trace = outcome.trace
    assert trace.final_answer == expression and trace.correct is True
    assert "permutations" in engine.calls[0].prompt  # the Game-24 worked example
    assert trace.meta["vote_correct"]["24"] is False  # the value alone is no expression
    assert True in trace.meta["vote_correct"].values()


def test_the_budget_affords_fewer_programs():
    engine = programs("print(42)\n```")
    trace = run("program", engine, budget=2, n=4)
    assert len(engine.calls[0].prefixes) == 2
    assert "the token budget afforded 2 of 4 programs" in trace.reason


def test_printed_answers():
    assert printed_answer("42\n") == "42"
    assert printed_answer("The answer is 41.\n") == "41"
    assert printed_answer("Zoe has 16 crayons. Now she has 18\n") == "18"
    assert printed_answer("(8 - 4) * (7 - 1)\n") == "(8 - 4) * (7 - 1)"
    assert printed_answer("'(8-4)*(7-1)'") == "(8-4)*(7-1)"
    assert printed_answer("") is None and printed_answer("\n\n") is None
    assert printed_answer("x" * 300) is None


def test_hostile_programs_end_contained_and_the_run_is_stored(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAB_TEST_SECRET", "hunter2-secret-token")
    replies = [f"{code}\n```" for code in HOSTILE.values()] + ["print(6 * 7)\n```"]
    problem = load_set("arith")[0]
    with Ledger() as ledger:
        outcome = execute(RunRequest("program", problem, {"n": len(replies), "timeout_s": 0.5}),
                          programs(*replies), ledger)
        assert outcome.run_id is not None and outcome.save_error is None
        stored = ledger.load_trace(outcome.run_id)
        assert [r.id for r in ledger.list_runs()] == [outcome.run_id]
    assert stored == outcome.trace and stored.status == TraceStatus.COMPLETE
    assert stored.final_answer == "42" and stored.votes == {"42": 1.0}
    chains = dict(zip([*HOSTILE, "honest"], stored.solutions(), strict=True))
    for name in HOSTILE:
        chain = chains[name]
        assert chain.answer is None and chain.meta["error"], f"{name} ended without an error"
        assert "hunter2" not in chain.text
    assert chains["loop forever"].meta["no_vote"] == "it ran out of time"
    assert chains["crash"].meta["no_vote"] == "its sandbox process died"
    assert "MemoryError" in chains["allocate 10 GB"].meta["error"]
    assert chains["honest"].meta["output"] == "42\n"


def test_it_describes_itself():
    strategy = get_strategy("program")
    assert strategy.category is PROGRAM and strategy.order > 100 and strategy.demo
    assert strategy.views == (TraceView.VOTES, "program-chains")
    assert strategy.pick == "maj" and strategy.sweep_knob == "n"
    assert strategy.knobs == ("n", "max_tokens")
    params = strategy.validate({})
    assert strategy.resamplable(params, None) and not strategy.resamplable(params, 1000)
    assert list_strategies().index(strategy) > list_strategies().index(get_strategy("recursive"))
    spend = strategy.spend(params, 1024)
    assert spend.params["n"] == 4 and spend.how == "4 chains of up to 256 tokens each"
    trace = run_strategy("program", PROBLEM, programs("print(42)\n```"), {"n": 1})
    assert [v.name for v in views_of(trace)] == [TraceView.VOTES, "program-chains"]


def test_lab_eval_reuses_one_run_for_every_k(monkeypatch: pytest.MonkeyPatch):
    engine = ScriptedEngine(lambda r: f"print({42 if r.seed % 3 else 41})\n```")
    monkeypatch.setattr("lab.commands.evaluate.open_engine", lambda name: engine)
    monkeypatch.setattr("lab.commands.evaluate._model_name", lambda name: "scripted")
    code, out, err = lab("eval", "--set", "arith", "--limit", "2", "-s", "program", "--sweep",
                         "n=1,2,4", "--experiment", "programs", "--json")
    assert code == 0, err
    assert len(engine.calls) == 2  # one run of n=4 per problem gives maj@1, 2 and 4
    rows = json.loads(out)["rows"]
    assert {(r["metric"], r["k"]) for r in rows} >= {("maj@k", 1), ("maj@k", 2), ("accuracy", None),
                                                     ("pass@k", 4)}


@pytest.mark.model
def test_on_the_real_model(smollm_engine):
    problem = load_set("arith", limit=1)[0]
    events = []
    params = {"n": 2, "max_tokens": 48, "timeout_s": 0.5}
    trace = run_strategy("program", problem, smollm_engine, params, 96, on_event=events.append)
    assert trace.status == TraceStatus.COMPLETE, trace.error
    assert 0 < trace.compute.generated_tokens <= 96 and trace.compute.engine_calls == 1
    assert sum(len(n.tokens) for n in trace.nodes) == trace.compute.generated_tokens
    assert sum(e.kind == EventKind.TOKEN for e in events) == trace.compute.generated_tokens
    for chain in trace.solutions():  # each ran (or said why not) and shows its code
        assert chain.text.startswith(chain.meta["code"])
        assert chain.answer is not None or chain.meta["no_vote"]


@pytest.mark.model
def test_lab_solve_runs_it_end_to_end():
    code, out, err = lab("solve", "-s", "program", "--set", "arith", "--index", "0", "--model",
                         "smollm2-135m", "-p", "n=2", "-p", "max_tokens=48", "-p",
                         "timeout_s=0.5", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["strategy"] == "program" and data["status"] == "complete"
    assert data["correct"] in (True, False) and isinstance(data["run_id"], int)


def test_the_playground_draws_each_program_with_its_output_and_the_votes():
    from test_app_support import finish, open_app, texts

    from lab.ui import state

    engine = ScriptedEngine(by_seed({0: "print(18)\n```", 1: "print(18.0)\n```"},
                                    default="print(1 / 0)\n```"))
    state.use_engine(engine)
    try:
        at = open_app()
        at.selectbox(key="pg.strategy").set_value("program").run()
        at.number_input(key="pg.program.n").set_value(3)
        at.button(key="pg.run").click().run()
        assert not at.error, texts(at.error)
        batch = finish(at, "pg.batch")
    finally:
        state.use_engine(None)
    assert batch.runs[0].trace.final_answer == "18" and batch.runs[0].run_id is not None
    assert sum(m.startswith("**Chain ") for m in texts(at.markdown)) == 3
    assert "##### Votes" in texts(at.markdown)
    code = texts(at.code)  # each program drawn as code, then what it printed or raised
    assert "print(18)" in code and "18" in code and any("ZeroDivisionError" in c for c in code)
    assert any(c.startswith("No vote:") for c in texts(at.caption))
