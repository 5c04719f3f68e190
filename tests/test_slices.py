"""Slices of a problem set, and the words that name which problems a table ran."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from lab.cli import main
from lab.engine.scripted import ScriptedEngine
from lab.tasks.slices import SliceError, name_problems, parse_span, runs_of_positions


def test_a_span_is_from_to_counted_from_one():
    assert parse_span("101-400") == (101, 400) and parse_span(" 7 ") == (7, 7)
    for bad in ("0-5", "5-4", "a-b", "", "-3"):
        with pytest.raises(SliceError, match="FROM-TO"):
            parse_span(bad)


def test_positions_are_named_as_runs():
    assert runs_of_positions([10, 9, 1, 2, 3, 7]) == "1-3, 7, 9-10"
    assert runs_of_positions([]) == ""


def test_problems_are_named_by_position_in_their_set():
    assert name_problems("arith", ["arith-0001", "arith-0002", "arith-0004"]) == (
        "problems 1-2, 4 of arith (3)")
    assert name_problems("jsonl:/nowhere/x.jsonl", ["a", "b"]) == "2 problems of x.jsonl"
    assert name_problems("arith", ["arith-0002"]) == "problem 2 of arith (1)"


def test_lab_eval_names_the_slice_it_ran(monkeypatch: pytest.MonkeyPatch):
    engine = ScriptedEngine(lambda r: "Some work.\n\nThe answer is 18.")
    monkeypatch.setattr("lab.commands.evaluate.open_engine", lambda name: engine)
    monkeypatch.setattr("lab.commands.evaluate._model_name", lambda name: "scripted")
    result = CliRunner().invoke(main, ["eval", "--set", "arith", "--range", "4-6", "-s", "cot",
                                       "-p", "max_tokens=20"])
    assert result.exit_code == 0, result.stderr
    assert "ran on problems 4-6 of arith (3)" in result.stdout
    result = CliRunner().invoke(main, ["eval", "--set", "arith", "--range", "6-4", "-s", "cot"])
    assert result.exit_code != 0 and "--range: a slice is FROM-TO" in result.stderr
