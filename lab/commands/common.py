"""Helpers shared by the CLI commands: clear one-line errors and opening a model."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click


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
