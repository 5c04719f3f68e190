"""The `mean-logprob` scorer: the mean log-prob of the tokens a chain was sampled with."""

from __future__ import annotations

from lab.scorers.base import Candidate, Scorer, ScoringContext
from lab.scorers.measures import logprob_probability, mean_logprob


class MeanLogprob(Scorer):
    name = "mean-logprob"
    summary = "mean log-prob of the chain's tokens"
    order = 10

    def score(self, candidate: Candidate, scoring: ScoringContext) -> float:
        return mean_logprob(candidate.tokens)

    def probability(self, value: float) -> float:
        return logprob_probability(value)
