"""The `heuristic` scorer: the best-of-N tie-break score of rasbt/reasoning-from-scratch
(chapter 5, `heuristic_score`), from the chain's text alone: no model, no log-probs.

    score = 2    if the chain gives a final answer in the expected format
          + 1    if its final answer is a number
          + 1.5 * exp(-length / 500)

- Expected format: the book's +2 is for a final answer in the format its prompt asks for,
  \\boxed{...}. The lab's default prompt asks for "The answer is X." instead, so any of the
  extraction rules that mean "it gave its answer" (lab.tasks.extraction: `boxed`, `hash`
  '#### x', `answer-is`) earns it; a last number found anywhere in the text does not.
- A number: the final answer (the candidate's, else the one extracted from its text) is a
  number once normalised by the problem kind's answer key ('$1,000' and '\\frac{1}{2}' are;
  '\\sqrt{2}' and '(1, 2)' are not).
- Length: the chain's number of tokens; characters only for a candidate without tokens (about
  four per token, so such a chain gets a larger length and a smaller bonus).

The book counts characters, and its bonuses are tiered rather than added: 2 for a boxed
answer, else 1 when a number can be extracted at all (at most 3.5). Here they add up, as
issue 26 asks (at most 4.5), so a formatted numeric answer ranks above a formatted other one.
"""

from __future__ import annotations

import math

from lab.scorers.base import Candidate, Scorer, ScoringContext
from lab.tasks.extraction import extract_answer
from lab.tasks.kinds import kind_of
from lab.tasks.normalize import parse_number
from lab.tasks.problem import Problem

FORMAT_BONUS = 2.0
NUMBER_BONUS = 1.0
BREVITY_BONUS = 1.5
BREVITY_SCALE = 500.0
MAX_SCORE = FORMAT_BONUS + NUMBER_BONUS + BREVITY_BONUS
# The extraction rules of an answer given as asked (budget forcing reads the same ones).
FORMAT_RULES = frozenset({"boxed", "hash", "answer-is"})


class Heuristic(Scorer):
    name = "heuristic"
    summary = ("2 for an answer in the expected format, 1 for a numeric answer, "
               "1.5*exp(-tokens/500) for brevity (reasoning-from-scratch ch. 5)")
    order = 35

    def score(self, candidate: Candidate, scoring: ScoringContext) -> float:
        return heuristic_score(candidate, scoring.problem)

    def probability(self, value: float) -> float:
        return min(1.0, max(0.0, value / MAX_SCORE))


def heuristic_score(candidate: Candidate, problem: Problem) -> float:
    """The candidate's heuristic score, in [0, MAX_SCORE]."""
    extraction = extract_answer(candidate.text)
    answer = candidate.answer if candidate.answer is not None else extraction.answer
    score = FORMAT_BONUS if extraction.rule in FORMAT_RULES else 0.0
    if answer is not None and is_number(answer, problem):
        score += NUMBER_BONUS
    return score + BREVITY_BONUS * math.exp(-chain_length(candidate) / BREVITY_SCALE)


def is_number(answer: str, problem: Problem) -> bool:
    """Is the answer a number once the problem kind has normalised it?"""
    return parse_number(kind_of(problem).answer_key(answer)) is not None


def chain_length(candidate: Candidate) -> int:
    """Tokens when the candidate has them, else characters."""
    return len(candidate.tokens) if candidate.tokens else len(candidate.text)
