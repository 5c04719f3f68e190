"""The `self-certainty` scorer: mean KL(uniform || p) of the next-token distributions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.scorers.base import Candidate, Scorer
from lab.scorers.measures import self_certainty

if TYPE_CHECKING:
    from lab.scorers.scoring import Scoring


class SelfCertainty(Scorer):
    name = "self-certainty"
    summary = "mean KL(uniform || p) of the next-token distributions"
    order = 30
    reads = frozenset({"self_certainty"})

    def score(self, candidate: Candidate, scoring: Scoring) -> float:
        return self_certainty(candidate.tokens)

    def probability(self, value: float) -> float:
        return value / (1 + value) if value > 0 else 0.0
