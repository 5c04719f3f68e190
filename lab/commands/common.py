"""Helpers shared by the CLI commands: clear one-line errors and opening a model."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line error that says what to do."""
    raise click.ClickException(message)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def open_engine(model: str | None, **engine_options: Any):  # -> LlamaCppEngine
    """Load a model by registry name or path (default: the lab's default model).

    Errors the user can fix (unknown name, missing or corrupt file) end the command with a
    one-line message instead of a stack trace."""
    from lab.engine.base import EngineError
    from lab.engine.llamacpp import LlamaCppEngine
    from lab.models import ModelError, resolve_model_path

    try:
        path = resolve_model_path(model)
        return LlamaCppEngine(path, **engine_options)
    except (ModelError, EngineError) as exc:
        fail(str(exc))


def run_cancellable(work: Callable[[threading.Event], T],
                    on_interrupt: Callable[[], None] | None = None) -> T:
    """Run `work(cancel)` in a worker thread so Ctrl-C cancels it cleanly (a run in progress
    ends interrupted) and wait for it; the worker's exception is raised here.

    The wait is on an Event, not Thread.join: a KeyboardInterrupt inside join can leave the
    thread looking finished while it still runs (CPython before 3.13), and the model would
    then be closed under it."""
    cancel, finished = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work(cancel)
        except BaseException as exc:  # handed to the main thread below
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, daemon=True).start()
    try:
        while not finished.wait(0.2):
            pass
    except KeyboardInterrupt:
        cancel.set()
        if on_interrupt is not None:
            on_interrupt()
        finished.wait()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
