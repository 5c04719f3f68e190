"""The gallery: measured experiments shipped with the lab, so that a new lab's Scaling, History
and Learn pages show real curves and chains before it has run anything.

The file (`data/gallery.jsonl.gz`, `config.gallery_path()`) is gzip'd JSON lines: a header
naming the experiments, then one run a line, oldest first, with its whole trace. Tokens are
packed as the ledger packs them (ids int32, log-probs and the top alternatives' log-probs
float64, base64), so chains shade and the divergence view works, and a run reads back exactly.

On start the app imports the file into the ledger once (`ensure_gallery`: the file's digest is
kept in the ledger, so a newer file replaces the old gallery and an unchanged one costs one
query). Imported experiments are marked shipped: read-only, listed apart from the user's.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lab import __version__
from lab.store.errors import LedgerError
from lab.store.ledger import Ledger, StoredRun
from lab.store.queries import RunSummary
from lab.store.tokens import PackedTokens, pack_tokens, unpack_tokens
from lab.trace import Node, Trace, TraceStatus

FORMAT = "inference-scaling-lab gallery"
VERSION = 1
DIGEST_KEY = "gallery_digest"  # ledger_meta: the digest of the gallery file imported


class GalleryError(LedgerError):
    """The gallery file is missing, unreadable or of another format."""


@dataclass(frozen=True)
class ImportResult:
    imported: bool  # False: this file was imported already
    runs: int
    experiments: list[str]
    seconds: float
    skipped: list[str]  # experiments left out: the user has their own of that name


# -- writing -------------------------------------------------------------------------------
def export_gallery(ledger: Ledger, experiments: Sequence[str], out: Path,
                   note: str = "") -> int:
    """Write these experiments' finished runs (failed and interrupted ones too, oldest first)
    to `out`; how many. A run still going is left out."""
    known = ledger.experiments()
    missing = [name for name in experiments if name not in known]
    if missing:
        raise GalleryError(f"no experiment named {', '.join(map(repr, missing))} in "
                           f"{ledger.location}")
    runs = [run for name in experiments for run in ledger.list_runs(experiment=name)[::-1]
            if run.status != TraceStatus.RUNNING]
    header = {"format": FORMAT, "version": VERSION, "lab_version": __version__,
              "experiments": list(experiments), "runs": len(runs), "note": note,
              "problems": problems_of(runs)}
    out.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same runs make the same bytes, so the file's digest names its content
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as stream:
        stream.write(_line(header))
        for summary in runs:
            finished = summary.finished.replace(tzinfo=None) if summary.finished else None
            record = StoredRun(summary.experiment or "", ledger.load_trace(summary.id),
                                summary.created.replace(tzinfo=None), finished,
                                summary.lab_version)
            stream.write(_line(run_record(record)))
    return len(runs)


def problems_of(runs: Sequence[RunSummary]) -> dict[str, list[str]]:
    """Which problems each experiment ran, in words ('problems 1-50 of gsm8k_train.jsonl
    (50)'): what the gallery says about its slices."""
    from lab.tasks.slices import name_problems

    sets: dict[str, dict[str, set[str]]] = {}
    for run in runs:
        ids = sets.setdefault(run.experiment or "", {}).setdefault(run.problem_set, set())
        ids.add(run.problem_id)
    return {name: [name_problems(source, ids) for source, ids in sorted(by_set.items())]
            for name, by_set in sets.items()}


def run_record(run: StoredRun) -> dict[str, Any]:
    trace = run.trace.to_dict()
    trace["nodes"] = [_node_record(node) for node in run.trace.nodes]
    return {"experiment": run.experiment, "created": run.created.isoformat(),
            "finished": run.finished.isoformat() if run.finished else None,
            "lab_version": run.lab_version, "trace": trace}


def _node_record(node: Node) -> dict[str, Any]:
    record = node.to_dict()
    del record["tokens"]
    packed = pack_tokens(node.tokens)
    top = packed.top or []
    record["packed"] = {
        "ids": _b64(packed.ids),
        "logprobs": _b64(packed.logprobs),
        "texts": packed.texts,
        "top_texts": [[text for text, _ in alternatives] for alternatives in top] or None,
        "top_logprobs": _b64(struct.pack(f"<{sum(len(a) for a in top)}d",
                                         *(lp for alternatives in top for _, lp in alternatives))),
        "entropy": _b64(packed.entropy),
        "self_certainty": _b64(packed.self_certainty),
    }
    return record


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


# -- reading -------------------------------------------------------------------------------
def gallery_header(path: Path) -> dict[str, Any]:
    """The file's first line: which experiments it holds, and how many runs."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            header = json.loads(stream.readline())
    except (OSError, EOFError, ValueError) as exc:
        raise GalleryError(f"cannot read the gallery {path}: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise GalleryError(f"{path} is not a lab gallery file")
    if header.get("version") != VERSION:
        raise GalleryError(f"{path} is gallery version {header.get('version')}; this lab "
                           f"reads version {VERSION}: upgrade the lab")
    return header


def gallery_runs(path: Path) -> Iterator[StoredRun]:
    """The file's runs, oldest first, read one at a time."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            stream.readline()  # the header
            for number, line in enumerate(stream, start=2):
                try:
                    yield run_from_record(json.loads(line))
                except (ValueError, KeyError, TypeError, struct.error) as exc:
                    raise GalleryError(f"{path}, line {number}: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise GalleryError(f"cannot read the gallery {path}: {exc}") from exc


def run_from_record(record: dict[str, Any]) -> StoredRun:
    data = dict(record["trace"])
    nodes = data.pop("nodes")
    trace = Trace.from_dict(data)
    trace.nodes = [_node_from_record(node) for node in nodes]
    finished = record.get("finished")
    return StoredRun(record["experiment"], trace, datetime.fromisoformat(record["created"]),
                      datetime.fromisoformat(finished) if finished else None,
                      str(record.get("lab_version", "")))


def _node_from_record(record: dict[str, Any]) -> Node:
    data = dict(record)
    packed = data.pop("packed")
    node = Node.from_dict(data)
    top_texts = packed.get("top_texts")
    top: list[list[list[Any]]] | None = None
    if top_texts is not None:
        logprobs = iter(_floats(packed["top_logprobs"]))
        top = [[[text, next(logprobs)] for text in texts] for texts in top_texts]
    node.tokens = unpack_tokens(PackedTokens(
        ids=_unb64(packed["ids"]) or b"", logprobs=_unb64(packed["logprobs"]) or b"",
        texts=list(packed["texts"]), top=top, entropy=_unb64(packed.get("entropy")),
        self_certainty=_unb64(packed.get("self_certainty"))))
    return node


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _floats(text: str | None) -> tuple[float, ...]:
    data = _unb64(text) or b""
    return struct.unpack(f"<{len(data) // 8}d", data)


# -- importing -----------------------------------------------------------------------------
def file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise GalleryError(f"cannot read the gallery {path}: {exc.strerror}") from exc


def import_gallery(ledger: Ledger, path: Path, *, force: bool = False) -> ImportResult:
    """Import the gallery file into the ledger as shipped experiments, replacing an earlier
    gallery, in one transaction; nothing when this file was imported already (unless
    `force`). An experiment whose name the user already has for their own runs is skipped,
    never mixed."""
    started = time.monotonic()
    digest = file_digest(path)
    names = [str(name) for name in gallery_header(path).get("experiments") or []]
    if not force and ledger.meta_value(DIGEST_KEY) == digest:
        return ImportResult(False, 0, names, time.monotonic() - started, [])
    stored = ledger.replace_shipped(names, gallery_runs(path), (DIGEST_KEY, digest), force)
    if stored is None:  # another process imported this file meanwhile
        return ImportResult(False, 0, names, time.monotonic() - started, [])
    count, skipped = stored
    imported = [name for name in names if name not in skipped]
    return ImportResult(True, count, imported, time.monotonic() - started, skipped)


def ensure_gallery(ledger: Ledger, path: Path | None) -> ImportResult | None:
    """On start: import the gallery unless this file is in the ledger already; None when the
    lab has no gallery (`LAB_GALLERY=off`) or its file is absent."""
    if path is None or not path.is_file():
        return None
    return import_gallery(ledger, path)
