"""The views by name, found with lab.plugins.discover in lab/views/ and lab/strategies/
(a strategy's own view lives beside it), then the plugins."""

from __future__ import annotations

import os
from functools import cache

from lab.plugins import PLUGINS_ENV, entry_point_modules, instances
from lab.strategies.registry import find_strategy
from lab.trace import Trace
from lab.views.base import View

PACKAGES = ("lab.views", "lab.strategies")


class UnknownView(LookupError):
    """A strategy asked for a view no module defines."""


def views() -> dict[str, View]:
    """Every view by name, in `order` (found again when LAB_PLUGINS or the installed entry
    points change)."""
    installed = tuple(module.__name__ for module in entry_point_modules())
    return _views(os.environ.get(PLUGINS_ENV, ""), installed)


@cache
def _views(plugins: str, installed: tuple[str, ...]) -> dict[str, View]:
    found: dict[str, View] = {}
    for package in PACKAGES:
        for name, view in instances(package, View, "views").items():
            found.setdefault(name, view)
    return dict(sorted(found.items(), key=lambda item: item[1].order))


def refresh() -> None:
    """Find the views again (after a plugin file changed)."""
    _views.cache_clear()


def get_view(name: str) -> View:
    try:
        return views()[name]
    except KeyError:
        raise UnknownView(f"unknown view {name!r}; valid: {', '.join(views())}") from None


def views_of(trace: Trace) -> tuple[View, ...]:
    """The views the trace's strategy asks for; for an unregistered one, those whose
    `applies` says its nodes call for them (a view, not also its more special kind)."""
    strategy = find_strategy(trace.strategy)
    if strategy is not None:
        return tuple(get_view(name) for name in strategy.views)
    fitting = [view for view in views().values() if view.applies(trace)]
    return tuple(view for view in fitting if not any(
        type(other) is not type(view) and isinstance(other, type(view)) for other in fitting))
