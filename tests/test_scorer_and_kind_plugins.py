"""A scorer and a problem kind are each one class in one module: a LAB_PLUGINS file adds one
and scoring, grading, vote grouping and prompts use it with no other edit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import lab.scorers
from lab import prompts
from lab.plugins import PLUGINS_ENV, PluginError
from lab.scorers import Candidate, Scoring, get_scorer, scorers
from lab.tasks.answers import answers_equivalent, group_answers
from lab.tasks.grading import check_problem, grade, grade_answer, grade_response, wrong_answer
from lab.tasks.kinds import get_kind, kind_names, kind_of
from lab.tasks.kinds import registry as kinds
from lab.tasks.loaders import RecordError, builtin_problem
from lab.tasks.problem import Problem

BUILT_IN_SCORERS = ("mean-logprob", "lowest-window", "self-certainty", "heuristic",
                    "programmatic", "self-verify", "judge")

SCORER_PLUGIN = '''
from lab.scorers import Scorer, Verdict, Verifier


class Length(Scorer):
    name = "length"
    summary = "characters in the solution"

    def score(self, candidate, scoring):
        return float(len(candidate.text))


class SaysDone(Verifier):
    name = "says-done"
    summary = "accepts a solution that ends with 'done'"

    def verify(self, candidate, scoring, threshold=0.5):
        done = candidate.text.rstrip(". ").endswith("done")
        return Verdict(1.0 if done else 0.0, done, "ends with done" if done else "not done")
'''

KIND_PLUGIN = '''
from lab.tasks.kinds import ProblemKind, Verdict


def _key(answer):
    word = answer.strip().strip(".!").lower()
    return {"y": "yes", "n": "no"}.get(word, word)


class YesNo(ProblemKind):
    name = "yesno"
    summary = "a yes or no answer"
    instruction = 'Finish with a last line "The answer is yes." or "The answer is no."'

    def answer_key(self, answer):
        return _key(answer)

    def equivalent(self, a, b, timeout_s=2.0):
        return _key(a) == _key(b)

    def task_text(self, problem):
        return f"Yes or no: {problem.question}"

    def wrong_answer(self, problem):
        return "no" if _key(problem.gold or "") == "yes" else "yes"

    def verdict(self, problem, solution):
        ok = solution.answer is not None and _key(solution.answer) in ("yes", "no")
        return Verdict(1.0 if ok else 0.0, ok, "a yes or no" if ok else "neither yes nor no")
'''


def clear_registries() -> None:
    scorers.cache_clear()
    kinds.cache_clear()


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Load a plugin module from source, as LAB_PLUGINS names it; forget it afterwards."""

    def load(source: str, name: str = "my_plugin") -> None:
        path = tmp_path / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        monkeypatch.setenv(PLUGINS_ENV, str(path))
        clear_registries()

    yield load
    clear_registries()  # the next registry read finds the environment restored


def test_a_scorer_from_a_plugin_file_is_listed_and_scores(plugin: Callable[[str], None]) -> None:
    assert lab.scorers.SCORERS == BUILT_IN_SCORERS
    plugin(SCORER_PLUGIN)
    listed, verifiers = lab.scorers.SCORERS, lab.scorers.VERIFIERS  # read again: now with it
    assert listed == (*BUILT_IN_SCORERS, "length", "says-done")
    assert verifiers == ("programmatic", "self-verify", "judge", "says-done")
    assert get_scorer("length").needs is None
    scoring = Scoring(Problem("p", "Count?"))
    scoring.check("length")
    assert scoring.score("length", Candidate("abcd")) == 4.0
    assert scoring.probability("length", Candidate("abcd")) == 1.0  # clipped to [0, 1]
    verdict = scoring.verify("says-done", Candidate("All done."))
    assert verdict.accepted and verdict.detail == "ends with done"
    assert scoring.score("says-done", Candidate("not yet")) == 0.0


def test_a_plugin_scorer_may_not_take_a_built_in_name(plugin: Callable[[str], None]) -> None:
    plugin(SCORER_PLUGIN.replace('"length"', '"judge"'))
    with pytest.raises(PluginError, match="two scorers are named 'judge'"):
        scorers()


def test_a_problem_kind_from_a_plugin_file_grades_and_prompts(
    plugin: Callable[[str], None],
) -> None:
    assert "yesno" not in kind_names()
    plugin(KIND_PLUGIN)
    assert kind_names() == ("number", "math", "target", "text", "yesno")
    problem = Problem("q", "Is 7 prime?", gold="yes", kind="yesno")
    assert kind_of(problem) is get_kind("yesno")

    assert grade(problem, "7 has no divisors but 1 and 7. The answer is Yes.")
    assert not grade(problem, "The answer is no.")
    assert grade_answer(problem, "y") is True
    assert grade_response(problem, "Y").rule == "whole"
    assert wrong_answer(problem) == "no" and check_problem(problem).ok

    message = prompts.solve_messages(problem, "cot")[-1]["content"]
    assert message.startswith("Yes or no: Is 7 prime?")
    assert message.endswith('"The answer is yes." or "The answer is no."')
    assert "Yes or no: Is 7 prime?" in prompts.judge_messages(problem, "yes")[-1]["content"]

    assert answers_equivalent("Yes!", "y", "yesno")
    assert [g.size for g in group_answers(["yes", "No", "Y", None, "n"], "yesno")] == [2, 2]
    verdict = Scoring(problem).verify("programmatic", Candidate("maybe", answer="maybe"))
    assert not verdict.accepted and verdict.detail == "neither yes nor no"
    assert Problem.from_dict(problem.to_dict()) == problem
    assert builtin_problem(problem.to_dict(), line=1) == problem  # a problem file's record


def test_an_unknown_kind_names_the_valid_ones() -> None:
    chess = Problem("c", "Mate in one?", gold="Qh7", kind="chess")
    with pytest.raises(ValueError, match="unknown problem kind 'chess'; valid: number, math"):
        grade(chess, "Qh7")
    with pytest.raises(RecordError, match="unknown problem kind 'chess'"):
        builtin_problem(chess.to_dict(), line=1)
