"""What a problem kind brings: how its answers compare, how a response is graded, what the
prompt asks for, the programmatic check of a solution, and a wrong answer for gold checks.

A kind is one class in one module of this package (or of a LAB_PLUGINS module); grading,
grouping of votes, prompts and the `programmatic` scorer ask it instead of testing a problem's
metadata. It sits above answer extraction and the checkers (lab.tasks.extraction, normalize,
equivalence, recompute, game24) and below lab.tasks.answers, lab.tasks.grading, lab.prompts
and lab.scorers.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Protocol

from lab.tasks.extraction import extract_answer
from lab.tasks.problem import Problem
from lab.tasks.recompute import arithmetic_claims

MAX_BARE_CHARS = 100
_SENTENCE = re.compile(r"(?<!\\)\b[A-Za-z]{3,}\s+[A-Za-z]{2,}\b")


@dataclass
class Grade:
    correct: bool | None  # None: the problem has no gold answer to compare with
    answer: str | None  # what was taken as the response's final answer
    rule: str  # the extraction rule that fired; "whole" for a bare answer, "expression" for 24
    span: tuple[int, int] | None  # where that answer is in the response


@dataclass
class Verdict:
    """A verifier's judgement of one solution."""

    score: float  # in [0, 1]
    accepted: bool
    detail: str = ""


class Solution(Protocol):
    """What a programmatic check reads of a candidate solution (lab.scorers.Candidate is one)."""

    text: str
    answer: str | None
    partial: bool  # an unfinished solution (a step of a search)


class ProblemKind(ABC):
    """The rules of one kind of problem; `name` is the value of `Problem.kind`."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for help texts
    order: ClassVar[int] = 1000  # lists are in `order`, lowest first (built-in kinds first)
    instruction: ClassVar[str] = (
        'Finish with a last line "The answer is X." where X is the final result.'
    )

    # -- answers ----------------------------------------------------------------------------
    @abstractmethod
    def answer_key(self, answer: str) -> str:
        """The canonical key of an answer: equal keys mean the same answer. Never raises."""

    @abstractmethod
    def equivalent(self, a: str, b: str, timeout_s: float = 2.0) -> bool:
        """Do a and b state the same answer (within timeout_s for slow checks)? Never raises."""

    def grade_response(self, problem: Problem, response: str) -> Grade:
        """The response's final answer (extracted, or all of a bare answer) against the gold."""
        extraction = extract_answer(response)
        answer, rule, span = extraction.answer, extraction.rule, extraction.span
        if rule in ("last-number", "none") and _is_bare_answer(response):
            # An answer given on its own ("\frac{1}{2}", "(3, 4]"): all of it, not its last number.
            stripped = response.strip()
            start = response.find(stripped)
            answer, rule, span = stripped, "whole", (start, start + len(stripped))
        if problem.gold is None:
            correct = None
        elif answer is None:
            correct = False
        else:
            correct = self.equivalent(answer, problem.gold)
        return Grade(correct, answer, rule, span)

    def wrong_answer(self, problem: Problem) -> str | None:
        """A clearly wrong answer for the problem, where one is easy to make (gold checks)."""
        del problem
        return None

    # -- prompts ----------------------------------------------------------------------------
    def answer_instruction(self, problem: Problem) -> str:
        """How a solving prompt asks for the final answer."""
        del problem
        return self.instruction

    def task_text(self, problem: Problem) -> str:
        """The task as prompts state it."""
        return problem.question

    # -- the programmatic verifier ----------------------------------------------------------
    def verdict(self, problem: Problem, solution: Solution) -> Verdict:
        """The kind's own check of a solution, without the gold answer. By default the
        arithmetic the solution states is recomputed."""
        del problem
        return arithmetic_verdict(solution)


def arithmetic_verdict(solution: Solution) -> Verdict:
    """Recompute every "expression = number" the solution states; all must hold."""
    claims = arithmetic_claims(solution.text)
    wrong = [c for c in claims if not c.ok]
    if wrong:
        first = wrong[0]
        fraction_ok = 1 - len(wrong) / len(claims)
        return Verdict(0.5 * fraction_ok, False,
                       f"{len(wrong)} of {len(claims)} wrong: {first.expression} = {first.stated} "
                       f"(is {first.actual})")
    if not solution.partial and solution.answer is None:
        return Verdict(0.25, False, "no final answer")
    if not claims:
        return Verdict(0.5, False, "no arithmetic to check")
    return Verdict(1.0, True, f"{len(claims)} arithmetic claims check out")


def _is_bare_answer(response: str) -> bool:
    """A short single line that is not a sentence."""
    stripped = response.strip()
    return (
        0 < len(stripped) <= MAX_BARE_CHARS
        and "\n" not in stripped
        and not _SENTENCE.search(stripped)
    )
