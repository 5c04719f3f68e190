"""The `programmatic` verifier: the problem kind's own check (Game of 24 validity for target
problems, recomputation of the stated arithmetic otherwise). It never reads the gold answer."""

from __future__ import annotations

from lab.scorers.base import Candidate, ScoringContext, Verifier
from lab.tasks.kinds import Verdict, kind_of
from lab.tasks.problem import Problem


class Programmatic(Verifier):
    name = "programmatic"
    summary = "the problem kind's own checker: Game of 24 validity, arithmetic recomputation"
    order = 40

    def verify(self, candidate: Candidate, scoring: ScoringContext,
               threshold: float = 0.5) -> Verdict:
        del threshold  # the checker decides by itself
        return programmatic_verdict(scoring.problem, candidate)


def programmatic_verdict(problem: Problem, candidate: Candidate) -> Verdict:
    """The problem kind's check of a candidate."""
    return kind_of(problem).verdict(problem, candidate)
