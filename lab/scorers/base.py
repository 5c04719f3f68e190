"""The scorer protocol: what every scorer and verifier is, and what it is handed.

A scorer is one class in one module of lab.scorers (or of a LAB_PLUGINS module): its `name`,
a one-line `summary`, which model it needs (none, the solving model, or a judge model), how
it scores a candidate and how a score maps to [0, 1]. A verifier also accepts or rejects.
What a scorer is handed is a `ScoringContext`: the protocol lab.scorers.scoring.Scoring
implements (defined here so that this module needs nothing above it).
The bottom of lab.scorers: it imports only the engine's types and the problem kinds' Verdict.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from lab.engine.base import Engine, Prompt, Token
from lab.tasks.kinds import Verdict
from lab.tasks.problem import Problem

# Which model a scorer calls: the one solving the problem, or a second one that judges.
ModelNeed = Literal["model", "judge"]
DEFAULT_WINDOW = 16
# A model verdict reads one next-token distribution (P(Yes), a grade): one generated token.
VERDICT_TOKENS = 1
LAST_ORDER = 1000  # where a scorer that does not say is listed: after the built-in ones


class VerifierError(RuntimeError):
    """A scorer that cannot run as configured (e.g. `judge` without a judge model)."""


@dataclass(frozen=True)
class ModelCall:
    """What one model verdict of a scorer cost, for the trace's compute."""

    scorer: str
    calls: int  # engine reads (one for a plain yes/no or grade)
    prompt_tokens: int  # prompt tokens read
    decoded: int  # of them decoded (the rest served from the KV cache)
    generated: int  # VERDICT_TOKENS per read
    seconds: float


CallRecorder = Callable[[ModelCall], None]


@dataclass
class Candidate:
    """What a scorer sees: a solution's text, its sampled tokens and its extracted answer."""

    text: str
    tokens: Sequence[Token] = ()
    answer: str | None = None
    partial: bool = False  # an unfinished solution (a step of a search)


class ScoringContext(Protocol):
    """What a scorer is handed: the problem, the models, the window, model verdicts (cached)
    and the other scorers by name. lab.scorers.scoring.Scoring is the implementation."""

    @property
    def problem(self) -> Problem: ...

    @property
    def engine(self) -> Engine | None: ...

    @property
    def judge(self) -> Engine | None: ...

    @property
    def window(self) -> int: ...

    def engine_for(self, scorer: Scorer) -> Engine: ...

    def ask_model(self, scorer: ModelVerifier, candidate: Candidate) -> float: ...

    def score(self, name: str, candidate: Candidate) -> float: ...

    def verify(self, name: str, candidate: Candidate, threshold: float = 0.5) -> Verdict: ...

    def probability(self, name: str, candidate: Candidate) -> float: ...

    def check(self, name: str) -> None: ...


class Scorer(ABC):
    """Scores a candidate solution of the problem a `ScoringContext` holds; higher is better."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for help texts
    needs: ClassVar[ModelNeed | None] = None  # a model the scorer calls, per candidate
    reads: ClassVar[frozenset[str]] = frozenset()  # per-token statistics it reads (Engine.lacks)
    order: ClassVar[int] = LAST_ORDER  # lists are in `order`, lowest first

    @abstractmethod
    def score(self, candidate: Candidate, scoring: ScoringContext) -> float:
        """The candidate's score (log-prob scorers are unbounded; verifiers are in [0, 1])."""

    def probability(self, value: float) -> float:
        """A score of this scorer mapped to [0, 1], e.g. for a search value."""
        return min(1.0, max(0.0, value))


class Verifier(Scorer):
    """A scorer in [0, 1] that also accepts or rejects a candidate."""

    @abstractmethod
    def verify(self, candidate: Candidate, scoring: ScoringContext,
               threshold: float = 0.5) -> Verdict:
        """Accept or reject the candidate, with its score and why."""

    def score(self, candidate: Candidate, scoring: ScoringContext) -> float:
        return self.verify(candidate, scoring).score


class ModelVerifier(Verifier):
    """A verifier that asks a model one question per candidate; `Scoring.ask_model` caches the
    answer, records the call's compute and lets the run cancel before it."""

    needs: ClassVar[ModelNeed | None] = "model"

    @abstractmethod
    def prompt(self, problem: Problem, candidate: Candidate) -> Prompt:
        """The question put to the model."""

    @abstractmethod
    def measure(self, engine: Engine, prompt: Prompt) -> float:
        """The model's answer to the question as a score in [0, 1]."""

    @abstractmethod
    def describe(self, value: float) -> str:
        """The score in words, for the verification node."""

    def score(self, candidate: Candidate, scoring: ScoringContext) -> float:
        return scoring.ask_model(self, candidate)

    def verify(self, candidate: Candidate, scoring: ScoringContext,
               threshold: float = 0.5) -> Verdict:
        value = self.score(candidate, scoring)
        return Verdict(value, value >= threshold, self.describe(value))


def missing_model(scorer: Scorer) -> str:
    """Why `scorer` cannot run without the model it needs."""
    if scorer.needs == "judge":
        return f"the {scorer.name} verifier needs a judge model (--judge-model NAME)"
    return f"{scorer.name} needs the model"
