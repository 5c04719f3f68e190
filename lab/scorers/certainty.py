"""The `self-certainty` scorer: mean KL(uniform || p) of the next-token distributions."""

from __future__ import annotations

from lab.scorers.base import Candidate, Scorer, ScoringContext
from lab.scorers.measures import self_certainty


class SelfCertainty(Scorer):
    name = "self-certainty"
    summary = "mean KL(uniform || p) of the next-token distributions"
    order = 30
    reads = frozenset({"self_certainty"})

    def score(self, candidate: Candidate, scoring: ScoringContext) -> float:
        return self_certainty(candidate.tokens)

    def probability(self, value: float) -> float:
        return value / (1 + value) if value > 0 else 0.0
