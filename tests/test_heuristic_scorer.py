"""The `heuristic` scorer (reasoning-from-scratch ch. 5): 2 for an answer in the expected
format + 1 for a numeric answer + 1.5*exp(-tokens/500), and best-of-n ranking by it."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from test_strategy_support import by_seed, chains, run, solution

import lab.scorers
from lab.cli import main
from lab.engine.base import Token
from lab.engine.scripted import ScriptedEngine, ScriptedReply
from lab.scorers import Candidate, Scoring, get_scorer, scorers
from lab.scorers.heuristic import MAX_SCORE, Heuristic, chain_length, heuristic_score
from lab.tasks.problem import AnswerKind, Problem

NUMBER = Problem("n", "What is 6 * 7?", gold="42", kind=AnswerKind.NUMBER)
MATH = Problem("m", "Simplify.", gold=r"\sqrt{2}", kind=AnswerKind.MATH)


def tokens(count: int) -> list[Token]:
    return [Token(i, " w", -0.5) for i in range(count)]


def brevity(length: int) -> float:
    return 1.5 * math.exp(-length / 500)


def score(text: str, problem: Problem = NUMBER, n_tokens: int = 0,
          answer: str | None = None) -> float:
    return heuristic_score(Candidate(text, tokens(n_tokens), answer), problem)


@pytest.mark.parametrize("text,problem,bonus", [
    (r"6 * 7 = 42, so \boxed{42}.", NUMBER, 3),
    ("6 * 7 = 42.\n\nThe answer is 42.", NUMBER, 3),  # the lab's answer sentence
    ("6 * 7 = 42\n#### 42", NUMBER, 3),
    ("The answer is $1,000.00$.", NUMBER, 3),
    (r"The answer is $\frac{1}{2}$.", MATH, 3),
    (r"The answer is $\sqrt{2}$.", MATH, 2),  # in format, not a number
    (r"\boxed{(1, 2)}", MATH, 2),
    ("The answer is forty-two.", NUMBER, 2),
    ("6 times 7 makes 42", NUMBER, 1),  # a last number, not in the expected format
    ("I do not know.", NUMBER, 0),
])
def test_values_on_hand_made_chains(text: str, problem: Problem, bonus: int) -> None:
    assert score(text, problem, n_tokens=100) == pytest.approx(bonus + brevity(100))


def test_short_beats_long_beats_no_answer() -> None:
    short = score(r"6 * 7 = 42, so \boxed{42}.", n_tokens=40)
    long = score(r"6 * 7 = 42, so \boxed{42}.", n_tokens=900)
    unanswered = score("Let me think about this step by step.", n_tokens=10)
    unformatted = score("6 times 7 makes 42", n_tokens=10)
    assert short > long > unformatted > unanswered
    assert short == pytest.approx(3 + brevity(40)) and long == pytest.approx(3 + brevity(900))
    assert unanswered == pytest.approx(0 + brevity(10))  # no answer: brevity alone, below 1.5
    assert 0 < unanswered < 1.5 < long


def test_length_is_tokens_else_characters() -> None:
    text = "The answer is 42."
    assert chain_length(Candidate(text, tokens(7))) == 7
    assert chain_length(Candidate(text)) == len(text)
    assert score(text, n_tokens=7) == pytest.approx(3 + brevity(7))
    assert score(text) == pytest.approx(3 + brevity(len(text)))


def test_the_candidates_own_answer_decides_whether_it_is_a_number() -> None:
    text = "The answer is 42."
    assert score(text, MATH, n_tokens=10, answer="x + 1") == pytest.approx(2 + brevity(10))
    assert score("no answer here", n_tokens=10, answer="42") == pytest.approx(1 + brevity(10))


def test_a_number_is_what_the_problem_kind_normalises_to_one() -> None:
    """A number problem's key is the first number after the last '=' ('x = 5 cm' is 5);
    a math problem's is the whole expression ('x + 1' is none)."""
    assert score("The answer is x = 5 cm.", n_tokens=10) == pytest.approx(3 + brevity(10))
    assert score("The answer is x + 1.", MATH, n_tokens=10) == pytest.approx(2 + brevity(10))


def test_listed_in_the_registry_as_a_plain_scorer() -> None:
    assert "heuristic" in lab.scorers.scorer_names() and "heuristic" in lab.scorers.SCORERS
    assert "heuristic" not in lab.scorers.VERIFIERS
    assert "heuristic" not in lab.scorers.MODEL_SCORERS
    scorer = get_scorer("heuristic")
    assert isinstance(scorer, Heuristic) and scorers()["heuristic"] is scorer
    assert scorer.needs is None and scorer.reads == frozenset() and scorer.summary
    names = lab.scorers.scorer_names()  # after the log-prob scorers, before the verifiers
    assert names.index("self-certainty") < names.index("heuristic") < names.index("programmatic")


def test_scoring_by_name_and_probability() -> None:
    scoring = Scoring(NUMBER)  # no engine: the heuristic needs none
    scoring.check("heuristic")
    candidate = Candidate("The answer is 42.", tokens(50))
    assert scoring.score("heuristic", candidate) == pytest.approx(3 + brevity(50))
    assert scoring.probability("heuristic", candidate) == pytest.approx(
        (3 + brevity(50)) / MAX_SCORE)
    assert scoring.probability("heuristic", Candidate("", ())) == pytest.approx(1.5 / MAX_SCORE)
    assert MAX_SCORE == 4.5


def test_best_of_n_ranks_by_it() -> None:
    """The confident chain without an answer sentence loses to the answered one."""
    replies = {0: ScriptedReply("6 * 7 is 41", -0.01), 1: ScriptedReply(solution("42"), -2.0)}
    engine = ScriptedEngine(by_seed(replies))
    assert run("best-of-n", engine, n=2).final_answer == "41"  # by mean-logprob
    trace = run("best-of-n", engine, n=2, scorer="heuristic")
    assert trace.final_answer == "42" and "best of 2 by heuristic" in trace.reason
    ranked = chains(trace)
    assert [n.meta["rank"] for n in ranked] == [2, 1]
    assert ranked[1].scores["heuristic"] == pytest.approx(3 + brevity(len(ranked[1].tokens)))
    assert ranked[0].scores["heuristic"] == pytest.approx(1 + brevity(len(ranked[0].tokens)))


@pytest.mark.model
def test_best_of_n_with_it_on_the_real_model() -> None:
    result = CliRunner().invoke(main, [
        "solve", "-s", "best-of-n", "-p", "scorer=heuristic", "-p", "n=2", "-p", "max_tokens=48",
        "-p", "cut_votes=true", "--budget", "96", "--model", "smollm2-135m", "--set", "arith",
        "--index", "0", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["params"]["scorer"] == "heuristic" and data["status"] == "complete"
    assert data["compute"]["generated_tokens"] <= 96
    scored = [row["scores"]["heuristic"] for row in data["scores"] if "heuristic" in row["scores"]]
    assert len(scored) == 2  # cut_votes: both chains are ranked even when cut at 48 tokens
    assert all(0 < value <= MAX_SCORE for value in scored)
    assert "by heuristic" in data["reason"]
    assert data["correct"] in (True, False)
