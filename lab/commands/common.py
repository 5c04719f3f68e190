"""Helpers shared by the CLI commands: clear one-line errors and opening a model (a local
GGUF, or an OpenAI-compatible server with --engine-url)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

T = TypeVar("T")

engine_url_option = click.option(
    "--engine-url", "engine_url", multiple=True, metavar="URL",
    help="An OpenAI-compatible server (llama-server, vLLM, `python -m "
         "lab.engine.llama_server`) to run against instead of a local model; default: "
         "LAB_ENGINE_URL. With it, --model names the served model (default: the server's).")


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
    from lab.engine.openai import is_server_url
    from lab.models import ModelError, resolve_model_path

    if is_server_url(model):
        return open_server(str(model))
    try:
        path = resolve_model_path(model)
        return LlamaCppEngine(path, **engine_options)
    except (ModelError, EngineError) as exc:
        fail(str(exc))


def engine_urls(given: tuple[str, ...] | list[str]) -> list[str]:
    """The --engine-url values, else LAB_ENGINE_URL's; each must be an http(s) address."""
    from lab import config
    from lab.engine.openai import is_server_url

    urls = list(given) or config.engine_urls()
    for url in urls:
        if not is_server_url(url):
            fail(f"--engine-url takes an http:// or https:// address (got {url!r})")
    return urls


def open_server(url: str, model: str | None = None):  # -> OpenAICompatibleEngine
    """The model server at `url`, asked what it serves; `model` must be one of its models
    (by id, or a GGUF path's stem). Ends the command with one line when nothing answers."""
    from lab.engine.base import EngineError
    from lab.engine.openai import OpenAICompatibleEngine

    try:
        return OpenAICompatibleEngine(url, model or "").connect()
    except EngineError as exc:
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


def check_local_concurrency(concurrency: int | None) -> None:
    """End the command when a local model is asked to decode more runs together than it can
    (lab.engine.shared)."""
    from lab import config

    if concurrency is not None and concurrency > config.MAX_LOCAL_LANES:
        fail(f"--concurrency {concurrency}: a local model decodes at most "
             f"{config.MAX_LOCAL_LANES} runs together")
