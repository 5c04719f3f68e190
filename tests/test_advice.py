"""Compute-optimal advice on a scripted engine with a tiny stored sweep: the probe reads like
the stored runs' first chains, problems are binned by agreement, and the cheapest option
within the tolerance of the best is advised."""

from __future__ import annotations

import pytest

from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.evaluation import SweepSpec, build_cells, run_sweep
from lab.evaluation.advice import (
    PROBE_OPTION,
    AdviceError,
    advise,
    choose_sweep,
    default_probe,
    difficulty_of,
    first_chains,
    load_sweep,
    sweep_hint,
)
from lab.evaluation.sweep import StrategySpec
from lab.execution import execute
from lab.store.ledger import Ledger
from lab.tasks.problem import Problem

MODEL = "scripted"
EXPERIMENT = "tiny"
SPLIT_ANSWERS = ["18", "7", "9", None, "18", "18", "7", "5"]  # seeds 0..7


def reply(request: ScriptedRequest) -> str:
    """Easy problems: always 18 (right). Split ones: greedy says 7, samples disagree, and
    the vote of 8 finds 18."""
    if "Easy" in request.prompt:
        return "Add them.\n\nThe answer is 18."
    if request.params.temperature == 0:
        return "Guess.\n\nThe answer is 7."
    answer = SPLIT_ANSWERS[request.seed % len(SPLIT_ANSWERS)]
    return "I am not sure." if answer is None else f"Work.\n\nThe answer is {answer}."


def problem(name: str, index: int) -> Problem:
    return Problem(f"{name.lower()}-{index}", f"{name} problem {index}: what is it?", "18",
                   source="tiny-set")


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine(reply, model_name=MODEL)


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        yield opened


def store_sweep(engine: ScriptedEngine, ledger: Ledger, easy: int = 4, split: int = 4) -> None:
    problems = ([problem("Easy", i) for i in range(easy)]
                + [problem("Split", i) for i in range(split)])
    spec = SweepSpec([StrategySpec("cot"), StrategySpec("self-consistency")],
                     sweeps={"n": [1, 2, 4, 8]},
                     params={"max_tokens": 40, "early_stop": False})
    result = run_sweep(build_cells(spec, problems), engine, ledger, EXPERIMENT)
    assert result.failed == 0 and not result.interrupted


def probe_of(engine: ScriptedEngine, ledger: Ledger, target: Problem):
    sweep = load_sweep(ledger, EXPERIMENT, MODEL)
    outcome = execute(sweep.probe_request(target), engine, ledger)
    return sweep, outcome.trace


def test_the_sweep_is_read_problem_by_problem_with_every_option(engine, ledger):
    store_sweep(engine, ledger)
    sweep = load_sweep(ledger, EXPERIMENT, MODEL)
    assert sweep.voter == "self-consistency" and sweep.problem_set == "tiny-set"
    keys = [o.key for o in sweep.options]
    assert keys == [PROBE_OPTION, "self-consistency n=1", "self-consistency n=2",
                    "self-consistency n=4", "self-consistency n=8", "cot"]
    levels = sorted(p.difficulty.level for p in sweep.problems)
    assert levels == ["split"] * 4 + ["unanimous"] * 4
    split = next(p for p in sweep.problems if p.problem_id == "split-0")
    assert split.difficulty.top == 1 and split.difficulty.distinct == 3
    assert split.difficulty.unanswered == 1
    assert split.chance["cot"] == 0.0 and split.chance["self-consistency n=8"] == 1.0
    assert split.chance[PROBE_OPTION] == pytest.approx(1 / 3)  # a three-way tie, uniform


def test_the_probe_reads_like_the_stored_runs_first_chains(engine, ledger):
    store_sweep(engine, ledger)
    stored = next(r for r in ledger.runs_in_experiment(EXPERIMENT)
                  if r.problem_id == "split-1" and r.strategy == "self-consistency")
    sweep, probe = probe_of(engine, ledger, problem("Split", 1))
    assert probe.params["n"] == 4 and probe.params["seed"] == sweep.voter_params["seed"]
    assert probe.params["max_tokens"] == 40 and probe.params["temperature"] == 0.7
    assert len(engine.calls[-1].seeds) == 4  # one batched call
    stored_trace = ledger.load_trace(stored.id)
    assert difficulty_of(probe) == difficulty_of(stored_trace, 4)
    read = next(p for p in sweep.problems if p.problem_id == "split-1")
    assert read.probe_tokens == probe.compute.all_generated
    assert [n.text for n in first_chains(probe)] == [
        n.text for n in first_chains(stored_trace, 4)]


def test_an_easy_problem_is_advised_the_probes_own_vote(engine, ledger):
    store_sweep(engine, ledger)
    sweep, probe = probe_of(engine, ledger, problem("Easy", 9))
    advice = advise(probe, sweep)
    assert advice.difficulty.level == "unanimous" and advice.similar == 4
    assert advice.chosen is not None and advice.chosen.option.key == PROBE_OPTION
    assert advice.chosen.tokens == 0 and advice.chosen.accuracy == 1.0
    assert advice.probe_tokens == probe.compute.all_generated > 0
    assert advice.probe_answer == "18"
    assert [p.tokens for p in advice.predictions] == sorted(p.tokens for p in advice.predictions)


def test_a_split_problem_is_advised_the_vote_of_eight(engine, ledger):
    store_sweep(engine, ledger)
    sweep, probe = probe_of(engine, ledger, problem("Split", 9))
    advice = advise(probe, sweep)
    assert advice.difficulty.level == "split" and not advice.widened
    assert advice.chosen is not None and advice.chosen.option.key == "self-consistency n=8"
    by_key = {p.option.key: p for p in advice.predictions}
    assert by_key["cot"].accuracy == 0.0 and by_key["cot"].problems == 4
    assert 0 < by_key["self-consistency n=8"].low < 1.0 == by_key["self-consistency n=8"].high
    assert "best predicted accuracy" in advice.why
    assert advice.to_dict()["difficulty"]["level"] == "split"


def test_a_loose_tolerance_picks_a_cheaper_option(engine, ledger):
    store_sweep(engine, ledger)
    sweep, probe = probe_of(engine, ledger, problem("Split", 9))
    advice = advise(probe, sweep, tolerance=1.0)
    assert advice.chosen is not None and advice.chosen.option.key == PROBE_OPTION
    assert "cheapest option within 1.00" in advice.why


def test_too_few_similar_problems_widen_to_all(engine, ledger):
    store_sweep(engine, ledger, easy=4, split=2)
    sweep, probe = probe_of(engine, ledger, problem("Split", 9))
    advice = advise(probe, sweep)
    assert advice.widened and advice.similar == 2 and advice.stored == 6
    assert all(p.problems == 6 for p in advice.predictions)


def test_an_option_measured_on_too_few_problems_is_not_advised(engine, ledger):
    store_sweep(engine, ledger)
    few = SweepSpec([StrategySpec("cot")], params={"max_tokens": 40, "temperature": 0.7})
    run_sweep(build_cells(few, [problem("Split", 0)]), engine, ledger, EXPERIMENT)
    sweep, probe = probe_of(engine, ledger, problem("Split", 9))
    assert any(o.key.startswith("cot ") for o in sweep.options)  # right on its one problem
    advice = advise(probe, sweep)
    assert advice.chosen is not None and advice.chosen.option.key == "self-consistency n=8"
    assert all(p.problems == 4 for p in advice.predictions)
    assert any("fewer than 4 of these problems: cot temperature=0.7" in n for n in advice.notes)


def test_without_a_sweep_the_advice_says_which_command_makes_one(engine, ledger):
    target = problem("Easy", 0)
    assert choose_sweep(ledger, MODEL, target) is None
    probe = execute(default_probe(target), engine, ledger).trace
    advice = advise(probe, None, "arith", None)
    assert advice.chosen is None and not advice.predictions
    assert "No stored sweep" in advice.missing
    assert "lab eval --set arith --limit 30 -s cot -s self-consistency" in advice.missing
    assert advice.difficulty.level == "unanimous"
    assert "--model smollm2-135m" in sweep_hint("arith", "smollm2-135m")


def test_a_named_experiment_must_exist_and_have_votes_to_read(engine, ledger):
    with pytest.raises(AdviceError, match="no experiment named 'nope'"):
        choose_sweep(ledger, MODEL, problem("Easy", 0), "nope")
    run_sweep(build_cells(SweepSpec([StrategySpec("cot")]), [problem("Easy", 0)]), engine,
              ledger, "greedy-only")
    with pytest.raises(AdviceError, match="no voting runs"):
        load_sweep(ledger, "greedy-only", MODEL)
    with pytest.raises(AdviceError, match="no complete runs of other-model"):
        load_sweep(ledger, "greedy-only", "other-model")


def test_the_sweep_of_the_problems_own_set_is_preferred(engine, ledger):
    store_sweep(engine, ledger)
    assert choose_sweep(ledger, MODEL, problem("Easy", 0)) == EXPERIMENT
    other = Problem("x", "Easy other", "18", source="arith")
    assert choose_sweep(ledger, MODEL, other) == EXPERIMENT  # the only one there is
    spec = SweepSpec([StrategySpec("self-consistency", {"n": 4, "max_tokens": 40})])
    run_sweep(build_cells(spec, [problem("Easy", 7)]), engine, ledger, "newer-but-smaller")
    assert choose_sweep(ledger, MODEL, problem("Easy", 0)) == EXPERIMENT  # 8 problems, not 1


def test_a_probe_asked_another_way_than_the_sweep_is_flagged(engine, ledger):
    store_sweep(engine, ledger)
    sweep, probe = probe_of(engine, ledger, problem("Easy", 9))
    assert sweep.system_prompt and not advise(probe, sweep).notes
    sweep.system_prompt = "Please reason step by step."
    assert "another prompt" in advise(probe, sweep).notes[0]
