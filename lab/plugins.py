"""Finding the classes that describe themselves: strategies, scorers and problem kinds.

A registry asks `discover(package, Base)` for every concrete subclass of `Base` defined in the
modules of `package` (so adding one is adding one module there), then the same for the
modules named in the `LAB_PLUGINS` environment variable: file paths (`/x/my_strategy.py`) or
importable module names, separated by the OS path separator; then for the modules of the
installed packages' entry points in the group `inference_scaling_lab` (ENTRY_POINT_GROUP).

That group is how a pip package adds strategies, scorers or problem kinds with no setting:
its pyproject.toml names a module of it, which is imported like a LAB_PLUGINS module,

    [project.entry-points.inference_scaling_lab]
    my_strategy = "my_pkg.my_strategy"

(the entry point's name is only a label; a value `my_pkg.my_strategy:MyStrategy` names the
same module). The installed entry points are read once per process (`entry_point_modules`;
its `cache_clear()` reads them again). A module named twice (by two entry points, or by its
module name in LAB_PLUGINS and by an entry point; a LAB_PLUGINS file path is another module)
counts once. A plugin module imported here is imported once per process; a worker process
started with the same environment (and the same installed packages) finds the same plugins.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import pkgutil
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TypeVar

PLUGINS_ENV = "LAB_PLUGINS"
ENTRY_POINT_GROUP = "inference_scaling_lab"

T = TypeVar("T")


class PluginError(RuntimeError):
    """A plugin module that cannot be loaded; the message is for the user."""


def package_modules(package: str) -> list[ModuleType]:
    """Every module of `package` (not its subpackages), imported, in name order."""
    root = importlib.import_module(package)
    names = sorted(info.name for info in pkgutil.iter_modules(root.__path__)
                   if not info.ispkg and not info.name.startswith("_"))
    return [importlib.import_module(f"{package}.{name}") for name in names]


def plugin_modules() -> list[ModuleType]:
    """The modules named in LAB_PLUGINS, imported (once)."""
    spec = os.environ.get(PLUGINS_ENV, "").strip()
    return [_import(item.strip()) for item in spec.split(os.pathsep) if item.strip()]


@cache
def entry_point_modules() -> tuple[ModuleType, ...]:
    """The modules of the entry points in ENTRY_POINT_GROUP, imported, by distribution and
    entry point name; PluginError naming the first that fails (nothing is kept then)."""
    points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return tuple(_load(point) for point in sorted(points, key=lambda p: (_dist(p), p.name)))


def subclasses_in(modules: list[ModuleType], base: type[T]) -> list[type[T]]:
    """The concrete subclasses of `base` defined in `modules` (not merely imported there)."""
    found: list[type[T]] = []
    for module in modules:
        for _, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, base) and value is not base
                    and value.__module__ == module.__name__ and not inspect.isabstract(value)):
                found.append(value)
    return found


def discover(package: str, base: type[T]) -> list[type[T]]:
    """The concrete `base` subclasses of `package`'s modules, then of the LAB_PLUGINS modules,
    then of the entry points' (each module once, where it is first named)."""
    modules = [*package_modules(package), *plugin_modules(), *entry_point_modules()]
    return subclasses_in(list({id(module): module for module in modules}.values()), base)


def instances(package: str, base: type[T], what: str) -> dict[str, T]:
    """One instance of each `base` subclass `discover` finds, by its `name`, in its `order`
    (ties in the order found); PluginError when two share a name."""
    found: dict[str, T] = {}
    for cls in sorted(discover(package, base), key=lambda cls: getattr(cls, "order", 0)):
        name = getattr(cls, "name")  # noqa: B009 - every registered class has a name
        if name in found:
            raise PluginError(f"two {what} are named {name!r}: "
                              f"{type(found[name]).__qualname__} and {cls.__qualname__}")
        found[name] = cls()
    return found


def _import(item: str) -> ModuleType:
    if not item.endswith(".py"):
        try:
            return importlib.import_module(item)
        except ImportError as exc:
            raise PluginError(f"{PLUGINS_ENV}: cannot import {item!r}: {exc}") from exc
    path = Path(item).expanduser().resolve()
    name = f"lab_plugin_{path.stem}_{abs(hash(str(path))):x}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise PluginError(f"{PLUGINS_ENV}: no Python file at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise PluginError(f"{PLUGINS_ENV}: {path} failed to load: {exc}") from exc
    return module


def _dist(point: importlib.metadata.EntryPoint) -> str:
    return point.dist.name if point.dist is not None else "?"


def _load(point: importlib.metadata.EntryPoint) -> ModuleType:
    """The module an entry point names (`pkg.module`, or `pkg.module:attr` whose attribute
    must exist too)."""
    try:
        point.load()
        return importlib.import_module(point.module)
    except Exception as exc:
        raise PluginError(
            f"entry point {point.name!r} = {point.value!r} of package {_dist(point)!r} (group "
            f"{ENTRY_POINT_GROUP}) failed to load: {type(exc).__name__}: {exc}") from exc
