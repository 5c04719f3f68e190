"""The `lowest-window` scorer: the lowest sliding-window mean log-prob (a confidence measure:
one unsure stretch lowers it)."""

from __future__ import annotations

from lab.scorers.base import Candidate, Scorer, ScoringContext
from lab.scorers.measures import logprob_probability, lowest_window_logprob


class LowestWindow(Scorer):
    name = "lowest-window"
    summary = "lowest sliding-window mean log-prob of the chain's tokens"
    order = 20

    def score(self, candidate: Candidate, scoring: ScoringContext) -> float:
        return lowest_window_logprob(candidate.tokens, scoring.window)

    def probability(self, value: float) -> float:
        return logprob_probability(value)
