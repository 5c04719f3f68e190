"""The strategies by name, and `run_strategy` for callers that hold only a name."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from lab.engine.base import Engine
from lab.strategies.base import Strategy
from lab.strategies.beam_search import BeamSearch
from lab.strategies.best_of_n import BestOfN
from lab.strategies.confidence_vote import ConfidenceVote
from lab.strategies.cot import ChainOfThought
from lab.strategies.direct import Direct
from lab.strategies.params import ParamError
from lab.strategies.recursive import Recursive
from lab.strategies.rejection import Rejection
from lab.strategies.self_consistency import SelfConsistency
from lab.strategies.self_refine import SelfRefine
from lab.trace import EventCallback, Trace
from lab.strategies.tree_search import TreeSearch
from lab.tasks.problem import Problem

STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Direct(),
        ChainOfThought(),
        SelfConsistency(),
        BestOfN(),
        Rejection(),
        SelfRefine(),
        BeamSearch(),
        TreeSearch(),
        ConfidenceVote(),
        Recursive(),
    )
}


def list_strategies() -> list[Strategy]:
    return list(STRATEGIES.values())


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ParamError(
            f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}"
        ) from None


def run_strategy(
    name: str,
    problem: Problem,
    engine: Engine,
    params: Mapping[str, Any] | None = None,
    budget: int | None = None,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    judge: Engine | None = None,
) -> Trace:
    """Run the named strategy; see Strategy.run."""
    return get_strategy(name).run(problem, engine, params, budget, on_event, cancel, judge)
