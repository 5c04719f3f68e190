"""Learn: every preset opens its measured problem and settings in the Playground; the measured
demonstrations in data/demos.json are consistent; the page's texts say what the measurement
found, and its maj@k against pass@k comes from a sweep stored in the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_app_support import open_app, texts

from lab import config
from lab.engine.scripted import ScriptedEngine
from lab.evaluation.sweep import StrategySpec, SweepSpec, build_cells, run_sweep
from lab.store.ledger import Ledger
from lab.strategies.registry import categories, get_strategy
from lab.tasks.datasets import load_set
from lab.ui.findings import finding
from lab.ui.presets import (
    DEMOS,
    Measured,
    Preset,
    demos_for,
    expectation,
    load_demos,
    sections,
    with_measured,
)
from lab.ui.problems import SET_SIZE

MODEL = "qwen2.5-coder-0.5b"  # the default model, whose demonstrations are committed


def presets() -> list[tuple[int, Preset]]:
    return [(i, s.preset) for i, s in enumerate(sections(MODEL)) if s.preset is not None]


# -- the committed measurements ---------------------------------------------------------------
def test_demos_file_names_problems_the_playground_offers_and_valid_settings():
    entry = json.loads(DEMOS.read_text())["models"][MODEL]
    assert entry["sections"], "no section measured"
    for name, record in entry["sections"].items():
        if "baseline" not in record:  # not measured (out of time): says why
            assert record["note"]
            continue
        get_strategy(name).validate(record["params"])
        offered = {p.id: p for p in load_set(record["problem_set"], limit=SET_SIZE)}
        for trial in record["found"] + record["tried"]:
            assert trial["problem"] in offered
            assert trial["gold"] == offered[trial["problem"]].gold
            assert len(trial["answers"]) == len(trial["correct"]) == trial["runs"] >= 1
        for trial in record["found"]:
            assert trial["held"] >= record["need"] and trial["correct"][
                trial["seeds"].index(trial["seed"])]


def test_every_section_has_a_preset_and_the_measured_ones_open_their_problem():
    found = sections(MODEL)
    assert {s.category.title for s in found} >= {
        "Think before answering", "Sample many, vote", "Generate, then verify",
        "Search over steps", "Recurse over a long context", "Compute with a program",
        "Think longer on purpose"}
    assert all(s.preset is not None for s in found)
    for section in found:
        measured = section.measured
        if measured is not None and measured.found is not None:
            assert section.preset.problem_id == measured.found["problem"]
            assert section.preset.params.get("seed", 0) == measured.found["seed"] or 0
        elif measured is not None and measured.tried:  # none held: a problem greedy gets wrong
            assert section.preset.problem_id == measured.tried[0]["problem"]


# -- the sentences ----------------------------------------------------------------------------
RECORD = {"baseline": {"strategy": "cot", "params": {}}, "params": {"n": 8},
          "problem_set": "arith", "seeds": [0, 1000, 2000, 3000, 4000], "need": 3,
          "deterministic": False, "found": [], "tried": []}
TRIAL = {"problem": "arith-0008", "gold": "18", "baseline_answer": "14", "answer": "18",
         "held": 4, "runs": 5, "seed": 1000}


def test_expectation_says_what_greedy_and_the_strategy_answered():
    text = expectation(Measured("self-consistency", MODEL, RECORD | {"found": [TRIAL]},
                                "2025-01-01"))
    assert "greedy step-by-step (`cot`) says **14**" in text
    assert "`self-consistency` (n=8) says **18** in 4 of 5 seeds" in text
    assert "opens seed 1000" in text and MODEL in text
    caveat = expectation(Measured("self-consistency", MODEL,
                                  RECORD | {"found": [TRIAL], "caveat": "Greedy varies."}))
    assert caveat.endswith("Greedy varies.")


def test_expectation_says_when_the_verifier_picked_a_minority_answer():
    record = RECORD | {"params": {"n": 8, "scorer": "programmatic"}}
    picked = expectation(Measured("best-of-n", MODEL, record | {
        "found": [TRIAL | {"held": 3, "minority_picks": 2}]}))
    assert "says **18** in 3 of 5 seeds" in picked
    assert "in 2 of those seeds a plain majority of the same chains was wrong" in picked
    plain = expectation(Measured("best-of-n", MODEL, record | {
        "found": [TRIAL | {"minority_picks": 0}]}))
    assert "majority" not in plain


def test_expectation_of_a_deterministic_strategy_and_of_none_found():
    one = expectation(Measured("self-refine", MODEL, RECORD | {
        "deterministic": True, "found": [TRIAL | {"held": 1, "runs": 1, "seed": 0}]}))
    assert "temperature 0" in one and "in 1 of 1" not in one
    both = expectation(Measured("self-refine", MODEL, RECORD | {
        "deterministic": True, "states": ["fresh", "cached"],
        "effect": "the answer came from a kept revision",
        "found": [TRIAL | {"held": 2, "runs": 2, "seed": 0, "baseline_answers": ["14", "12"]}]}))
    assert "served from the cache, right both times; the answer came from a kept revision" in both
    assert "says **14** (or **12** with its prompt already cached)" in both
    none = expectation(Measured("beam-search", MODEL, RECORD | {
        "problem_set": "game24", "tried": [TRIAL | {"held": 1}, TRIAL | {"held": 0}]}))
    assert none.startswith("No demonstration found: on the 2 problems of `game24`")
    assert "at most 1" in none and "needed 3 of 5" in none
    never = expectation(Measured("beam-search", MODEL, RECORD | {"tried": [TRIAL | {"held": 0}]}))
    greedy = expectation(Measured("self-refine", MODEL, RECORD | {
        "deterministic": True, "states": ["fresh", "cached"], "effect": "a revision was kept",
        "tried": [TRIAL | {"held": 0, "right_without_effect": 1}]}))
    assert "was wrong on each with its prompt decoded afresh" in greedy
    assert "a right answer counted only when a revision was kept" in greedy
    assert "was wrong at the first seed on each" in never
    assert "opens the first of them, **arith-0008** (correct answer 18), where" in never
    assert "says **14** and `beam-search` said nothing it could extract" in never
    assert expectation(None).startswith("Not measured")
    assert "16 of the first 20 `longctx-easy`" in expectation(None, "recursive")
    assert expectation(Measured("x", MODEL, {"note": "out of time"})).startswith(
        "No demonstration yet (out of time)")


def test_a_preset_takes_the_measured_problem_seed_and_settings():
    preset = Preset("self-consistency", {"n": 5}, "arith")
    chosen = with_measured(preset, Measured("self-consistency", MODEL,
                                            RECORD | {"found": [TRIAL]}))
    assert chosen == Preset("self-consistency", {"n": 8, "seed": 1000}, "arith", 0,
                            "arith-0008")
    assert with_measured(preset, Measured("self-consistency", MODEL, RECORD)) == preset


def test_a_missing_or_broken_demos_file_leaves_learn_working(tmp_path: Path):
    assert load_demos(MODEL, tmp_path / "absent.json") == {}
    broken = tmp_path / "demos.json"
    broken.write_text("{not json")
    assert load_demos(MODEL, broken) == {}
    broken.write_text(json.dumps({"models": {"other": {"sections": {"cot": RECORD}}}}))
    assert load_demos(MODEL, broken) == {}
    assert demos_for(MODEL, broken)["cot"].model == "other"  # another model's, named


# -- the page (AppTest, scripted model) -------------------------------------------------------
@pytest.mark.parametrize("index,preset", presets(), ids=lambda v: getattr(v, "strategy", ""))
def test_each_learn_preset_opens_its_problem_and_settings(scripted: ScriptedEngine, index: int,
                                                          preset: Preset):
    at = open_app("learn")
    at.button(key=f"learn.{index}").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="pg.strategy").value == preset.strategy
    assert at.selectbox(key="pg.set").value == preset.problem_set
    strategy = get_strategy(preset.strategy)
    for name, value in preset.params.items():
        assert at.session_state[f"pg.{preset.strategy}.{name}"] == strategy.param(name).parse(
            value), name
    problems = load_set(preset.problem_set, limit=SET_SIZE)
    wanted = next(p for p in problems if p.id == (preset.problem_id or problems[0].id))
    assert any(wanted.question in m for m in texts(at.markdown)), wanted.id
    assert f"Correct answer: {wanted.gold}" in texts(at.caption)


def test_learn_covers_every_category_the_pages_and_which_strategy_when(scripted: ScriptedEngine):
    at = open_app("learn")
    headers = texts(at.subheader)
    for title in ("Search over steps", "Recurse over a long context", "Compute with a program",
                  "Think longer on purpose"):
        assert title in headers
    page = " ".join(texts(at.markdown))
    assert "**What to expect.**" in page
    assert "**Compare** runs two to four strategies" in page
    assert "**Scaling** sweeps strategies" in page
    for row in finding("which_when")["rows"]:  # measured numbers come from data/, not code
        assert row["measured"] in page
    recursive = finding("recursive")["text"]  # one source for the section and its preset
    assert recursive in page and recursive in expectation(None, "recursive")
    hows = [category.how for category, _ in categories() if category.how]
    assert len(hows) >= 6 and all(how in page for how in hows)  # each kept with its category
    assert any("No sweep is stored" in i for i in texts(at.info))
    assert any("no experiment **ladder-gsm8k50**" in i for i in texts(at.info))


def test_learn_draws_maj_at_k_against_pass_at_k_from_a_stored_sweep(scripted: ScriptedEngine):
    ledger = Ledger(config.database_url())
    spec = SweepSpec([StrategySpec("self-consistency")], sweeps={"n": [1, 2, 4]},
                     params={"early_stop": False, "max_tokens": 16})
    run_sweep(build_cells(spec, load_set("arith", limit=2)), scripted, ledger, "learn-test")
    at = open_app("learn")
    assert at.selectbox(key="learn.experiment").value == "learn-test"
    assert len(at.get("plotly_chart")) == 1
    table = at.dataframe[0].value
    assert list(table["k"]) == [1, 2, 4]
    assert all(table["pass@k"] != "—")


def test_a_demo_measured_in_another_prompt_format_says_so():
    from lab.ui.presets import Measured, expectation

    entry = {"baseline": {"strategy": "cot"}, "found": [
        {"problem": "arith-0053", "gold": "463", "answer": "463", "baseline_answer": "47",
         "held": 5, "runs": 5, "seed": 0}]}
    then = Measured("self-consistency", "qwen2.5-coder-0.5b", entry, "2026-12-01", "lab")
    assert "now asked in the `boxed` format" in expectation(then, "self-consistency")
    same = Measured("self-consistency", "qwen2.5-coder-0.5b", entry, "2026-12-01", "boxed")
    assert "now asked" not in expectation(same, "self-consistency")
