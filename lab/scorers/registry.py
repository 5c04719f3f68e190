"""The scorers by name, found with lab.plugins.discover: this package's modules and the
LAB_PLUGINS modules, listed in `order` (the built-in ones first)."""

from __future__ import annotations

from functools import cache

from lab.plugins import instances
from lab.scorers.base import Scorer, Verifier, VerifierError

PACKAGE = "lab.scorers"


@cache
def scorers() -> dict[str, Scorer]:
    """Every scorer by name, in `order` (ties in the order they were found)."""
    return instances(PACKAGE, Scorer, "scorers")  # type: ignore[type-abstract]


def get_scorer(name: str) -> Scorer:
    """The scorer named `name`; VerifierError naming the valid ones when there is none."""
    try:
        return scorers()[name]
    except KeyError:
        raise VerifierError(
            f"unknown scorer {name!r}; valid: {', '.join(scorer_names())}"
        ) from None


def get_verifier(name: str) -> Verifier:
    """The verifier named `name`; VerifierError naming the valid ones when there is none."""
    scorer = scorers().get(name)
    if not isinstance(scorer, Verifier):
        raise VerifierError(f"unknown verifier {name!r}; valid: {', '.join(verifier_names())}")
    return scorer


def scorer_names() -> tuple[str, ...]:
    return tuple(scorers())


def verifier_names() -> tuple[str, ...]:
    """The scorers that also accept or reject."""
    return tuple(name for name, s in scorers().items() if isinstance(s, Verifier))


def model_scorer_names() -> tuple[str, ...]:
    """The scorers that make a model call per candidate."""
    return tuple(name for name, s in scorers().items() if s.needs is not None)


def token_scorer_names() -> tuple[str, ...]:
    """The scorers that are not verifiers (the built-in ones read the chain's log-probs)."""
    return tuple(name for name, s in scorers().items() if not isinstance(s, Verifier))
