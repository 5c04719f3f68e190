"""The views by name, found with lab.plugins.discover in lab/views/ and lab/strategies/
(a strategy's own view lives beside it), then the plugins. Which views a trace gets is
lab.strategies.registry.views_of: its strategy names them."""

from __future__ import annotations

import os
from functools import cache

from lab.plugins import PLUGINS_ENV, entry_point_modules, instances
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
        for name, view in instances(package, View, "views").items():  # type: ignore[type-abstract]
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
