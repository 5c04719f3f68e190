"""Problem kinds by name: each module here (and each LAB_PLUGINS module) may define one.

`kind_of(problem)` gives the rules a problem is graded, prompted and checked by; its name is
the problem's `kind` (an `AnswerKind` value for the built-in kinds).
"""

from __future__ import annotations

from functools import cache

from lab.plugins import instances
from lab.tasks.kinds.base import Grade, ProblemKind, Solution, Verdict
from lab.tasks.problem import Problem


@cache
def registry() -> dict[str, ProblemKind]:
    """Every kind by name, in `order` (ties in the order they were found)."""
    # instances() makes only the concrete subclasses it finds (mypy issue 4717: an abstract
    # class is refused where type[T] is asked for)
    return instances(__name__, ProblemKind, "problem kinds")  # type: ignore[type-abstract]


def kind_names() -> tuple[str, ...]:
    return tuple(registry())


def get_kind(name: str) -> ProblemKind:
    """The kind named `name`; ValueError naming the valid kinds when there is none."""
    try:
        return registry()[str(name)]
    except KeyError:
        raise ValueError(f"unknown problem kind {name!r}; valid: {', '.join(registry())}") from None


def kind_of(problem: Problem) -> ProblemKind:
    return get_kind(problem.kind)


__all__ = [
    "Grade",
    "ProblemKind",
    "Solution",
    "Verdict",
    "get_kind",
    "kind_names",
    "kind_of",
    "registry",
]
