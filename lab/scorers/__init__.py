"""Scorers and verifiers: how a strategy judges a solution without knowing the gold answer.

- Log-prob scorers read the tokens a chain was sampled with: `mean-logprob`, `lowest-window`
  (the lowest sliding-window mean log-prob, a confidence measure) and `self-certainty`
  (mean KL(uniform || p) of the next-token distributions).
- Verifiers give a score in [0, 1] and accept or reject: `programmatic` (the problem kind's
  own checker: Game of 24 validity, arithmetic recomputation of stated results), `self-verify`
  (the same model's P(Yes) to "is this correct?") and `judge` (a second model's grade).

Each scorer is one class (lab.scorers.base.Scorer) in one module of this package; a
LAB_PLUGINS module can add more. `SCORERS`, `VERIFIERS`, `MODEL_SCORERS` and
`LOGPROB_SCORERS` are name tuples read from the registry when asked for. Strategies use
`Scoring` (lab.scorers.scoring). This package imports lab.engine, lab.prompts and lab.tasks,
never a layer above. The gold answer is never read here: it only grades a final result.
"""

from __future__ import annotations

from collections.abc import Callable

from lab.scorers.base import (
    DEFAULT_WINDOW,
    VERDICT_TOKENS,
    CallRecorder,
    Candidate,
    ModelCall,
    ModelNeed,
    ModelVerifier,
    Scorer,
    Verifier,
    VerifierError,
)
from lab.scorers.judge import expected_grade
from lab.scorers.measures import (
    SlidingWindow,
    lowest_window_logprob,
    lowest_window_mean,
    mean_logprob,
    self_certainty,
    token_confidence,
)
from lab.scorers.programmatic import programmatic_verdict
from lab.scorers.registry import (
    get_scorer,
    get_verifier,
    model_scorer_names,
    scorer_names,
    scorers,
    token_scorer_names,
    verifier_names,
)
from lab.scorers.scoring import Scoring
from lab.scorers.self_verify import yes_probability
from lab.tasks.kinds import Verdict

# Name tuples derived from the registry on each access, so a plugin found later shows.
_NAME_TUPLES: dict[str, Callable[[], tuple[str, ...]]] = {
    "SCORERS": scorer_names,
    "VERIFIERS": verifier_names,
    "MODEL_SCORERS": model_scorer_names,
    "LOGPROB_SCORERS": token_scorer_names,
}


def __getattr__(name: str) -> tuple[str, ...]:
    if name in _NAME_TUPLES:
        return _NAME_TUPLES[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_WINDOW",
    "LOGPROB_SCORERS",
    "MODEL_SCORERS",
    "SCORERS",
    "VERDICT_TOKENS",
    "VERIFIERS",
    "CallRecorder",
    "Candidate",
    "ModelCall",
    "ModelNeed",
    "ModelVerifier",
    "Scorer",
    "Scoring",
    "SlidingWindow",
    "Verdict",
    "Verifier",
    "VerifierError",
    "expected_grade",
    "get_scorer",
    "get_verifier",
    "lowest_window_logprob",
    "lowest_window_mean",
    "mean_logprob",
    "model_scorer_names",
    "programmatic_verdict",
    "scorer_names",
    "scorers",
    "self_certainty",
    "token_confidence",
    "token_scorer_names",
    "verifier_names",
    "yes_probability",
]
