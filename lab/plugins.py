"""Finding the classes that describe themselves: strategies, scorers and problem kinds.

A registry asks `discover(package, Base)` for every concrete subclass of `Base` defined in the
modules of `package` (so adding one is adding one module there), then the same for the
modules named in the `LAB_PLUGINS` environment variable: file paths (`/x/my_strategy.py`) or
importable module names, separated by the OS path separator. A plugin module imported here is
imported once per process; a worker process started with the same environment finds the
same plugins.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
from pathlib import Path
from types import ModuleType
from typing import TypeVar

PLUGINS_ENV = "LAB_PLUGINS"

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
    """The concrete `base` subclasses of `package`'s modules, then of the plugins."""
    return subclasses_in(package_modules(package), base) + subclasses_in(plugin_modules(), base)


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
