"""scripts/find_demos.py, the search for Learn's demonstrations: which seeds it runs, what it
keeps, and the record it writes (on a scripted model: the logic, not the model)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.store.queries import RunSummary

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "find_demos.py"
spec = importlib.util.spec_from_file_location("find_demos", SCRIPT)
find_demos = importlib.util.module_from_spec(spec)
sys.modules["find_demos"] = find_demos  # dataclasses look their module up
spec.loader.exec_module(find_demos)  # type: ignore[union-attr]


def search_args(**given: object) -> argparse.Namespace:
    """find_demos' arguments that measure() reads: no other set, no extra parameter."""
    return argparse.Namespace(**({"problem_set": None, "param": []} | given))


def seeds_run(outcomes: list[bool], need: int = 3) -> list[int]:
    trial = find_demos.Trial("p", "1", "0")
    for seed in find_demos._seeds_while_possible([0, 1, 2, 3, 4], need, trial):
        trial.seeds.append(seed)
        trial.correct.append(outcomes[seed])
    return trial.seeds


def test_seeds_stop_once_the_effect_cannot_hold_or_at_a_first_miss():
    assert seeds_run([True] * 5) == [0, 1, 2, 3, 4]
    assert seeds_run([False, True, True, True, True]) == [0]  # the cheap screen
    assert seeds_run([True, False, False, False, True]) == [0, 1, 2, 3]  # 3 misses: no 3 of 5
    assert seeds_run([True, False, True, False, True]) == [0, 1, 2, 3, 4]


def test_a_trial_summary_names_the_answer_and_the_seed_it_held_on():
    trial = find_demos.Trial("arith-0008", "18", "14", seeds=[0, 1000, 2000],
                             answers=["18", "12", "18"], correct=[True, False, True],
                             tokens=[100, 200, 300])
    summary = trial.summary()
    assert (summary["held"], summary["runs"], summary["answer"], summary["seed"]) == (
        2, 3, "18", 0)
    assert summary["wrong_answers"] == ["12"] and summary["mean_tokens"] == 200


def test_temperature_zero_strategies_run_once():
    assert find_demos.deterministic("cot", {})  # the baseline, at its defaults
    assert find_demos.deterministic("self-refine", {"rounds": 1})
    assert not find_demos.deterministic("self-consistency", {"n": 8})


def program_right_prose_wrong(request: ScriptedRequest) -> str:
    if "```" in request.prompt or "program" in request.prompt.lower():
        return "print(55 + 12)\n```"
    return "The answer is 60."


def test_measure_keeps_a_problem_where_the_strategy_beats_greedy(tmp_path: Path):
    runner = find_demos.Runner(ScriptedEngine(program_right_prose_wrong), float("inf"))
    args = search_args(seeds=3, need=2, keep=1, tries=2)
    plan = find_demos.Plan("program", order="easiest")
    record = find_demos.measure(plan, runner, args)
    found = record["found"][0]
    assert found["problem"] == "digits-0001" and found["baseline_answer"] == "60"
    assert found["held"] == 3 and found["answer"] == "67" and record["tried"] == []
    out = tmp_path / "demos.json"
    find_demos._write(out, "scripted", {"program": record}, {"command": "a"})
    find_demos._write(out, "scripted", {"cot": {"note": "x"}}, {"command": "b"})
    find_demos._write(out, "other", {}, {"command": "a"})  # another model's entry is kept
    data = json.loads(out.read_text())["models"]
    assert set(data) == {"scripted", "other"}
    assert set(data["scripted"]["sections"]) == {"program", "cot"}
    assert [s["command"] for s in data["scripted"]["sessions"]] == ["a", "b"]


def test_a_section_the_deadline_cut_keeps_its_earlier_measurement(tmp_path: Path):
    out = tmp_path / "demos.json"
    measured = {"baseline": {"strategy": "cot"}, "found": [{"problem": "arith-0053"}]}
    cut = {"note": find_demos.OUT_OF_TIME, "found": [], "tried": []}
    find_demos._write(out, "m", {"self-consistency": measured}, {"command": "a"})
    find_demos._write(out, "m", {"self-consistency": cut, "beam-search": cut}, {"command": "b"})
    sections = json.loads(out.read_text())["models"]["m"]["sections"]
    assert sections["self-consistency"] == measured  # kept, not overwritten by the cut run
    assert sections["beam-search"] == cut  # nothing measured before: the note says why


def stored(problem: str, strategy: str, correct: bool, model: str = "m",
           **params: object) -> RunSummary:
    return RunSummary(id=0, created=datetime.now(UTC), status="complete", strategy=strategy,
                      model=model, problem_set="arith", problem_id=problem, answer=None,
                      gold=None, correct=correct, params=dict(params), budget=None, seed=0,
                      prompt_tokens=0, generated_tokens=0, engine_calls=1, wall_s=0.0,
                      cached_prompt_tokens=0, verdict_tokens=0, experiment="e",
                      lab_version="", finished=None, error=None)


def test_stored_runs_put_the_problems_that_showed_the_effect_first():
    plan = find_demos.Plan("self-consistency")
    runs = [
        stored("arith-0003", "cot", False, temperature=0.0),
        stored("arith-0003", "self-consistency", False, n=1),
        stored("arith-0003", "self-consistency", True, n=8),  # effect: greedy wrong, vote right
        stored("arith-0002", "cot", True, temperature=0.0),  # greedy right: nothing to show
        stored("arith-0004", "cot", False, temperature=0.0),
        stored("arith-0004", "self-consistency", False),  # the vote wrong too
        stored("arith-0005", "cot", False, temperature=0.0),  # no vote stored: unknown
        stored("arith-0006", "cot", False, temperature=0.7),  # sampled, not the greedy baseline
        stored("arith-0006", "self-consistency", True),
        stored("arith-0007", "cot", False, model="other", temperature=0.0),
        stored("arith-0007", "self-consistency", True, model="other"),
    ]
    hints = find_demos.stored_hints(runs, plan, "m")
    assert hints == {"arith-0003": find_demos.SEEN, "arith-0002": find_demos.NOT_SEEN,
                     "arith-0004": find_demos.NOT_SEEN}
    order = [p.id for p in find_demos.candidates("arith", "easiest", hints)]
    assert order[0] == "arith-0003" and set(order[-2:]) == {"arith-0002", "arith-0004"}
    assert order[1:-2] == [p.id for p in find_demos.candidates("arith", "easiest")
                           if p.id not in hints]


def one_checked_chain_right(request: ScriptedRequest) -> str:
    """arith-0001 (16 + 2): greedy and most samples say 20 with wrong arithmetic, one sample
    says 18 with arithmetic that checks out."""
    if request.params.temperature == 0 or request.index != 3:
        return "16 + 2 = 20\nThe answer is 20."
    return "16 + 2 = 18\nThe answer is 18."


def test_a_verifier_right_where_the_majority_is_wrong_counts_as_a_minority_pick():
    runner = find_demos.Runner(ScriptedEngine(one_checked_chain_right), float("inf"))
    args = search_args(seeds=3, need=2, keep=1, tries=1)
    plan = find_demos.Plan("best-of-n", order="easiest")
    params = {"n": 8, "scorer": "programmatic"}
    trace = runner.run("best-of-n", find_demos.load_set("arith", limit=1)[0], params)
    assert trace.final_answer == "18" and find_demos.vote_right(trace) is False
    record = find_demos.measure(plan, runner, args)
    found = record["found"][0]
    assert found["problem"] == "arith-0001" and found["baseline_answer"] == "20"
    assert found["held"] == 3 and found["minority_picks"] == 3
    assert found["vote_right"] == [False, False, False]


def revision_fixes_it(request: ScriptedRequest) -> str:
    """arith-0001 (16 + 2): the draft says 20, the critique names the slip, the revision 18."""
    if "Write a corrected solution" in request.prompt:
        return "16 + 2 = 18\nThe answer is 18."
    if "Check the solution step by step" in request.prompt:
        return "The mistake is 16 + 2 = 20; it should be 18."
    return "16 + 2 = 20\nThe answer is 20."


def right_draft_cached(request: ScriptedRequest) -> str:
    """Greedy says 20 the first time (as if decoded afresh) and 18 after (the cache)."""
    if "Check the solution step by step" in request.prompt:
        return "No mistakes."
    return "16 + 2 = 20\nThe answer is 20." if request.call == 0 else "The answer is 18."


def test_a_greedy_section_runs_in_both_cache_states_and_needs_its_own_effect():
    args = search_args(seeds=5, need=3, keep=1, tries=1)
    plan = find_demos.Plan("self-refine", order="easiest")
    record = find_demos.measure(plan, find_demos.Runner(ScriptedEngine(revision_fixes_it),
                                                        float("inf")), args)
    assert record["deterministic"] and record["states"] == ["fresh", "cached"]
    assert record["need"] == 2 and record["effect"] == "the answer came from a kept revision"
    found = record["found"][0]
    assert found["baseline_answers"] == ["20", "20"] and found["answers"] == ["18", "18"]
    # the baseline right once (with its prompt cached): not a candidate
    skipped = find_demos.measure(plan, find_demos.Runner(ScriptedEngine(right_draft_cached),
                                                         float("inf")), args)
    assert skipped["baseline_right_skipped"] == 1 and skipped["found"] == []


def test_a_right_draft_is_not_self_refines_effect():
    def draft_right_after_baseline(request: ScriptedRequest) -> str:
        if "Check the solution step by step" in request.prompt:
            return "No mistakes."
        return "16 + 2 = 20\nThe answer is 20." if request.call < 2 else "The answer is 18."

    args = search_args(seeds=5, need=3, keep=1, tries=1)
    runner = find_demos.Runner(ScriptedEngine(draft_right_after_baseline), float("inf"))
    record = find_demos.measure(find_demos.Plan("self-refine", order="easiest"), runner, args)
    tried = record["tried"][0]
    assert record["found"] == [] and tried["answers"] == ["18"]
    assert tried["right_without_effect"] == 1 and tried["held"] == 0
    assert "the critique found nothing to fix" in tried["reasons"][0]


def test_another_problem_set_is_searched_and_named_in_the_record():
    def program_right(request: ScriptedRequest) -> str:
        if "```" in request.prompt or "program" in request.prompt.lower():
            return "print(16 + 2)\n```"
        return "The answer is 20."

    args = search_args(seeds=3, need=2, keep=1, tries=1, problem_set="arith")
    runner = find_demos.Runner(ScriptedEngine(program_right), float("inf"))
    record = find_demos.measure(find_demos.Plan("program", order="easiest"), runner, args)
    assert record["problem_set"] == "arith"  # program's demo set is digits
    assert record["found"][0]["problem"] == "arith-0001"


def test_a_param_on_top_of_the_demo_settings_is_run_and_recorded():
    assert find_demos._param("temperature=0.7") == ("temperature", 0.7)
    assert find_demos._param("scorer=programmatic") == ("scorer", "programmatic")
    args = search_args(seeds=3, need=2, keep=1, tries=1,
                              param=[("temperature", 0.7)])
    runner = find_demos.Runner(ScriptedEngine(revision_fixes_it), float("inf"))
    record = find_demos.measure(find_demos.Plan("self-refine", order="easiest"), runner, args)
    assert record["params"] == {"rounds": 1, "temperature": 0.7}
    assert not record["deterministic"] and record["seeds"] == [0, 1000, 2000]
    assert record["found"][0]["held"] == 3
