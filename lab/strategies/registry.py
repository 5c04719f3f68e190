"""The strategies by name, found rather than listed: every concrete `Strategy` subclass in a
module of this package, then in the modules named in LAB_PLUGINS (see lab.plugins), ordered
by `Strategy.order`. `run_strategy` is for callers that hold only a name."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from lab.engine.base import Engine
from lab.plugins import instances
from lab.strategies.base import Strategy
from lab.strategies.categories import Category
from lab.strategies.params import ParamError
from lab.tasks.problem import Problem
from lab.trace import EventCallback, Trace
from lab.views.base import View
from lab.views.registry import get_view, views

STRATEGIES: dict[str, Strategy] = {}


def refresh() -> dict[str, Strategy]:
    """Find the strategies again (after LAB_PLUGINS changed); the dict keeps its identity."""
    found = instances("lab.strategies", Strategy, "strategies")  # type: ignore[type-abstract]
    STRATEGIES.clear()
    STRATEGIES.update(found)
    return STRATEGIES


def list_strategies() -> list[Strategy]:
    return list(STRATEGIES.values())


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ParamError(
            f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}"
        ) from None


def find_strategy(name: str) -> Strategy | None:
    """The strategy, or None for a name no longer registered (e.g. a stored run's)."""
    return STRATEGIES.get(name)


def categories() -> list[tuple[Category, list[Strategy]]]:
    """Each category of the registered strategies with its strategies, in category order
    (ties in strategy order)."""
    grouped: dict[Category, list[Strategy]] = {}
    for strategy in STRATEGIES.values():
        if strategy.category is not None:
            grouped.setdefault(strategy.category, []).append(strategy)
    return sorted(grouped.items(), key=lambda item: item[0].order)


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


def views_of(trace: Trace) -> tuple[View, ...]:
    """The views the trace's strategy asks for; for an unregistered one, those whose
    `applies` says its nodes call for them (a view, not also its more special kind)."""
    strategy = find_strategy(trace.strategy)
    if strategy is not None:
        return tuple(get_view(name) for name in strategy.views)
    fitting = [view for view in views().values() if view.applies(trace)]
    return tuple(view for view in fitting if not any(
        type(other) is not type(view) and isinstance(other, type(view)) for other in fitting))


refresh()
