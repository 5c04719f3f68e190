"""Scorers and verifiers: log-prob measures, the task's own checkers, P(yes) and a judge."""

from __future__ import annotations

import math

import pytest

from lab import prompts
from lab.engine.base import Token
from lab.engine.scripted import ScriptedEngine
from lab.scorers import (
    Candidate,
    Scoring,
    SlidingWindow,
    VerifierError,
    lowest_window_mean,
    mean_logprob,
    programmatic_verdict,
    self_certainty,
    token_confidence,
)
from lab.tasks.problem import AnswerKind, Problem

ARITH = Problem(id="a", question="What is 6 * 7 + 1?", gold="43")
GAME24 = Problem(id="g", question="Make 24 from 4 4 6 8.", gold=None, kind=AnswerKind.TARGET,
                 metadata={"numbers": [4, 4, 6, 8], "target": 24})


def tok(logprob: float, top: list[tuple[str, float]] | None = None,
        certainty: float | None = None) -> Token:
    return Token(id=0, text="x", logprob=logprob, top=top or [], self_certainty=certainty)


def test_logprob_measures():
    tokens = [tok(-0.1), tok(-0.1), tok(-3.0), tok(-0.1)]
    assert mean_logprob(tokens) == pytest.approx(-0.825)
    assert mean_logprob([]) == 0.0
    assert lowest_window_mean([t.logprob for t in tokens], 2) == pytest.approx(-1.55)
    assert lowest_window_mean([-1.0, -2.0], 16) == pytest.approx(-1.5)  # shorter than a window
    assert self_certainty([tok(-1, certainty=2.0), tok(-1, certainty=4.0), tok(-1)]) == 3.0


def test_sliding_window_tracks_the_lowest_full_window():
    window = SlidingWindow(2)
    assert window.push(-1.0) == -1.0 and not window.full and window.lowest is None
    window.push(-3.0)
    window.push(0.0)
    assert window.full and window.mean == -1.5 and window.lowest == -2.0


def test_token_confidence_is_deepconf_with_alternatives_else_probability():
    peaked = tok(-0.01, top=[("a", -0.01), ("b", -8.0), ("c", -9.0)])
    flat = tok(-1.0, top=[("a", -1.0), ("b", -1.2), ("c", -1.3)])
    assert token_confidence(peaked) > token_confidence(flat) > 0
    assert token_confidence(tok(math.log(0.25))) == pytest.approx(0.25)


def test_game24_checker_never_needs_gold():
    ok = programmatic_verdict(GAME24, Candidate("(8 - 6) * 4 * ... no", answer="(8-6)*(4+4)+8"))
    assert not ok.accepted and ok.score == 0.0
    good = programmatic_verdict(GAME24, Candidate("x", answer="(6 - 4) * (8 + 4)"))
    assert good.accepted and good.score == 1.0
    found = programmatic_verdict(GAME24, Candidate("I get 4 * 6 * (8 - 4 - 3)"))
    assert not found.accepted
    nothing = programmatic_verdict(GAME24, Candidate("no idea", partial=True))
    assert (nothing.score, nothing.accepted) == (0.5, False)


def test_game24_checker_finds_the_expression_when_extraction_took_the_last_number():
    text = "We can do (6 - 4) * (8 + 4) = 24"
    assert programmatic_verdict(GAME24, Candidate(text, answer="24")).accepted


def test_arithmetic_recomputation():
    right = programmatic_verdict(ARITH, Candidate("6 * 7 = 42, 42 + 1 = 43. The answer is 43.",
                                                  answer="43"))
    assert right.accepted and right.score == 1.0
    wrong = programmatic_verdict(ARITH, Candidate("6 * 7 = 48, 48 + 1 = 49.", answer="49"))
    assert not wrong.accepted and wrong.score < 0.5 and "48" in wrong.detail
    unchecked = programmatic_verdict(ARITH, Candidate("It is 43.", answer="43"))
    assert (unchecked.score, unchecked.accepted) == (0.5, False)


def test_self_verify_reads_p_yes_and_reports_the_call():
    calls: list[int] = []
    engine = ScriptedEngine("x", yes_probability=lambda p: 0.8 if "43" in p else 0.3)
    scoring = Scoring(ARITH, engine, on_call=lambda call: calls.append(call.prompt_tokens))
    verdict = scoring.verify("self-verify", Candidate("The answer is 43.", answer="43"), 0.5)
    assert verdict.accepted and verdict.score == pytest.approx(0.8)
    assert "Is this solution correct? Answer Yes or No." in engine.judged[0]
    assert len(calls) == 1 and calls[0] > 0
    scoring.score("self-verify", Candidate("The answer is 43."))  # cached: no second call
    assert len(calls) == 1
    assert scoring.score("self-verify", Candidate("The answer is 41.")) == pytest.approx(0.3)


def test_judge_gives_an_expected_grade():
    def grades(prompt: str, candidates: list[str]) -> dict[str, float]:
        return {c: (math.log(0.5) if c in ("7", "9") else -30.0) for c in candidates}

    judge = ScriptedEngine("x", next_token=grades)
    scoring = Scoring(ARITH, ScriptedEngine("x"), judge=judge)
    verdict = scoring.verify("judge", Candidate("The answer is 43."), threshold=0.8)
    assert verdict.score == pytest.approx(8 / 9, abs=1e-6) and verdict.accepted
    assert "from 0 (certainly wrong) to 9" in judge.judged[0]


def test_scoring_maps_to_probabilities_and_checks_setup():
    scoring = Scoring(ARITH, ScriptedEngine("x"))
    candidate = Candidate("x", [tok(-0.5), tok(-0.5)])
    assert scoring.probability("mean-logprob", candidate) == pytest.approx(math.exp(-0.5))
    with pytest.raises(VerifierError, match="judge model"):
        scoring.check("judge")
    with pytest.raises(VerifierError, match="unknown scorer"):
        scoring.check("vibes")


def test_prompts_ask_for_a_final_answer_line():
    cot = prompts.solve_messages(ARITH, "cot")[-1]["content"]
    assert "Think step by step" in cot and '"The answer is X."' in cot
    game = prompts.solve_messages(GAME24, "direct")[-1]["content"]
    assert "expression" in game
    steps = prompts.solve_messages(ARITH, "steps")[-1]["content"]
    assert "blank line" in steps


@pytest.mark.parametrize("critique,clean", [
    ("No mistakes.", True),
    ("The solution is correct.", True),
    ("Correct. Nothing else.", True),
    ("The solution is incorrect: 6 * 7 is 42.", False),
    ("Step 2 is wrong.", False),
    ("Step 2 is wrong.\nOtherwise no mistakes were found.\n", False),
    ("No mistakes, but the total should be 43.", False),
])
def test_critique_is_clean(critique: str, clean: bool):
    assert prompts.critique_is_clean(critique) is clean
