"""`lab gallery`: the measured experiments shipped with the lab. `import` puts the gallery file
into the ledger (the app does it on first start); `export` writes experiments of a ledger into
a gallery file, to rebuild or extend it."""

from __future__ import annotations

from pathlib import Path

import click

from lab import config
from lab.commands.common import fail
from lab.store import Ledger, LedgerError
from lab.store.gallery import GalleryError, export_gallery, gallery_header, import_gallery


@click.group()
def gallery() -> None:
    """Import or export the gallery of measured experiments."""


@gallery.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Import again even if this file was imported.")
def import_command(file: Path | None, force: bool) -> None:
    """Import FILE (default: the lab's data/gallery.jsonl.gz) as read-only experiments,
    replacing an earlier gallery."""
    path = file or config.gallery_path()
    if path is None:
        fail("LAB_GALLERY is off: name the gallery file to import")
    try:
        with Ledger() as ledger:
            result = import_gallery(ledger, path, force=force)
            location = ledger.location
    except LedgerError as exc:
        fail(str(exc))
    if not result.imported:
        click.echo(f"{path} is in {location} already (--force imports it again)")
        return
    click.echo(f"imported {result.runs} runs of {len(result.experiments)} experiments "
               f"({', '.join(result.experiments)}) into {location} in {result.seconds:.1f} s")
    _print_problems(path)
    for name in result.skipped:
        click.echo(f"skipped {name}: the ledger has an experiment of yours with that name",
                   err=True)


@gallery.command("export")
@click.argument("experiments", nargs=-1, required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The gallery file to write (default: the lab's data/gallery.jsonl.gz).")
@click.option("--note", default="", help="A line kept in the file's header (machine, date).")
def export_command(experiments: tuple[str, ...], out: Path | None, note: str) -> None:
    """Write EXPERIMENTS from the ledger, every run with its whole trace, into a gallery
    file (gzip'd JSON lines)."""
    path = out or config.REPO_ROOT / "data" / "gallery.jsonl.gz"
    try:
        with Ledger() as ledger:
            count = export_gallery(ledger, list(experiments), path, note)
    except (LedgerError, GalleryError) as exc:
        fail(str(exc))
    size = path.stat().st_size
    click.echo(f"wrote {count} runs of {len(experiments)} experiments to {path} "
               f"({size / 1e6:.1f} MB)")
    _print_problems(path)


def _print_problems(path: Path) -> None:
    """Which problems each experiment of the gallery ran (its header says)."""
    for name, lines in (gallery_header(path).get("problems") or {}).items():
        click.echo(f"{name}: {'; '.join(lines)}")
