"""Prompt formats: a model family's way of being asked to solve, carried by the engine
(from the registry), used by every solving prompt and recorded in the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_strategy_support import PROBLEM, run

from lab.engine.scripted import ScriptedEngine
from lab.models import REGISTRY, prompt_format_for
from lab.prompts import BOXED_SYSTEM, PROMPT_FORMATS, SYSTEM, solve_messages


def test_boxed_format_asks_the_task_alone_under_qwens_system_prompt():
    system, user = solve_messages(PROBLEM, "cot", "boxed")
    assert system == {"role": "system", "content": BOXED_SYSTEM}
    assert user["content"] == PROBLEM.question
    steps = solve_messages(PROBLEM, "steps", "boxed")[-1]["content"]
    assert "blank line between steps" in steps and "The answer is" not in steps
    direct = solve_messages(PROBLEM, "direct", "boxed")  # a direct answer: the lab's words
    assert direct[0]["content"] == SYSTEM and "only the final answer" in direct[-1]["content"]


def test_lab_format_is_unchanged_and_unknown_formats_are_refused():
    assert solve_messages(PROBLEM, "cot") == solve_messages(PROBLEM, "cot", "lab")
    assert "The answer is" in solve_messages(PROBLEM, "cot")[-1]["content"]
    with pytest.raises(ValueError, match="unknown prompt format 'chatml'"):
        solve_messages(PROBLEM, "cot", "chatml")


@pytest.mark.parametrize("strategy", ["cot", "self-consistency", "beam-search"])
def test_strategies_ask_in_the_engines_format_and_record_it(strategy: str):
    engine = ScriptedEngine("6 * 7 = 42, so the result is \\boxed{42}.")
    engine.prompt_format = "boxed"
    extra = {"n": 2} if strategy == "self-consistency" else {}
    trace = run(strategy, engine, **extra)
    prompts = [n for n in trace.nodes if n.kind == "prompt"]
    assert prompts[0].meta["messages"][0]["content"] == BOXED_SYSTEM
    assert trace.meta["prompt_format"] == "boxed"
    assert trace.final_answer == "42"


def test_registry_gives_each_model_file_its_format(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LAB_PROMPT_FORMAT", raising=False)
    for model in REGISTRY.values():
        assert model.prompt_format in PROMPT_FORMATS
        assert prompt_format_for(Path("/anywhere") / model.filename) == model.prompt_format
    assert prompt_format_for(Path("my-own-model.gguf")) == "lab"
    monkeypatch.setenv("LAB_PROMPT_FORMAT", "boxed")
    assert prompt_format_for(Path("my-own-model.gguf")) == "boxed"


def test_the_real_engine_carries_its_models_format(smollm_engine):
    assert smollm_engine.prompt_format == REGISTRY["smollm2-135m"].prompt_format


def test_each_strategy_names_the_prompt_style_it_asks_in():
    from lab.strategies.registry import get_strategy

    direct, cot = get_strategy("direct"), get_strategy("cot")
    assert direct.prompt_style(direct.validate({})) == "direct"
    assert cot.prompt_style(cot.validate({})) == "cot"
