"""`Scoring`: the per-problem object strategies score and verify through (`RunContext.scoring`),
and the `ScoringContext` (lab.scorers.base) every scorer is handed.

It looks scorers up by name in the registry, caches model verdicts, reports each model call's
compute through `on_call` (prompt tokens read and decoded, as the engine reports them, and
VERDICT_TOKENS generated per read) and calls `before_call` first (the run's cancellation and
budget check)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lab.engine.base import Engine, Prompt, PromptReads
from lab.scorers.base import (
    DEFAULT_WINDOW,
    VERDICT_TOKENS,
    CallRecorder,
    Candidate,
    ModelCall,
    ModelVerifier,
    Scorer,
    VerifierError,
    missing_model,
)
from lab.scorers.registry import get_scorer, get_verifier
from lab.tasks.kinds import Verdict
from lab.tasks.problem import Problem


@dataclass
class Scoring:
    """Scores candidates of one problem. Model calls are reported through `on_call`."""

    problem: Problem
    engine: Engine | None = None
    judge: Engine | None = None  # a second model for the `judge` verifier
    window: int = DEFAULT_WINDOW
    on_call: CallRecorder | None = None
    before_call: Callable[[], None] | None = None  # e.g. raises when the run is cancelled
    _cache: dict[tuple[str, str, bool], float] = field(default_factory=dict, repr=False)

    def score(self, name: str, candidate: Candidate) -> float:
        """Higher is better. Log-prob scorers are unbounded; verifiers are in [0, 1]."""
        return get_scorer(name).score(candidate, self)

    def verify(self, name: str, candidate: Candidate, threshold: float = 0.5) -> Verdict:
        return get_verifier(name).verify(candidate, self, threshold)

    def probability(self, name: str, candidate: Candidate) -> float:
        """A score mapped to [0, 1] (log-prob scorers through exp), e.g. for a search value."""
        scorer = get_scorer(name)
        return scorer.probability(scorer.score(candidate, self))

    def check(self, name: str) -> None:
        """Fail early when a scorer cannot run here."""
        scorer = get_scorer(name)
        if scorer.needs is not None:
            self.engine_for(scorer)

    def engine_for(self, scorer: Scorer) -> Engine:
        """The model `scorer` calls; VerifierError when this scoring has none."""
        engine = self.judge if scorer.needs == "judge" else self.engine
        if engine is None:
            raise VerifierError(missing_model(scorer))
        return engine

    def ask_model(self, scorer: ModelVerifier, candidate: Candidate) -> float:
        """The model's score of the candidate, asked once per (scorer, text, partial)."""
        key = (scorer.name, candidate.text, candidate.partial)
        if key in self._cache:
            return self._cache[key]
        engine = self.engine_for(scorer)
        if self.before_call is not None:
            self.before_call()
        prompt = scorer.prompt(self.problem, candidate)
        start = time.perf_counter()
        before = engine.prompt_reads()
        value = scorer.measure(engine, prompt)
        if self.on_call is not None:
            reads = engine.prompt_reads() - before
            self.on_call(model_call(scorer.name, engine, prompt, reads,
                                    time.perf_counter() - start))
        self._cache[key] = value
        return value


def model_call(scorer: str, engine: Engine, prompt: Prompt, reads: PromptReads,
               seconds: float) -> ModelCall:
    """The cost of a verdict from what the engine reported; an engine that reports nothing
    is taken to have made one read and decoded the whole prompt."""
    if reads.calls < 1:
        tokens = engine.count_tokens(engine.format_prompt(prompt))
        reads = PromptReads(1, tokens, tokens)
    return ModelCall(scorer, reads.calls, reads.tokens, reads.decoded,
                     VERDICT_TOKENS * reads.calls, seconds)
