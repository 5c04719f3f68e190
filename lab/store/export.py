"""Writing runs out: JSONL (each run with its whole trace) and a flat CSV (one row per run)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from lab.store.queries import RunSummary
from lab.trace import Trace

Output = str | Path | TextIO

CSV_COLUMNS = [
    "id", "created", "finished", "experiment", "strategy", "params", "budget", "seed", "model",
    "problem_set", "problem_id", "status", "answer", "gold", "correct", "prompt_tokens",
    "generated_tokens", "engine_calls", "wall_s", "lab_version", "error",
    "cached_prompt_tokens", "verdict_tokens",
]  # fmt: skip


def write_jsonl(
    out: Output, summaries: Iterable[RunSummary], load_trace: Callable[[int], Trace]
) -> int:
    """One JSON object per line: the run's summary fields plus `trace` (Trace.to_dict())."""
    count = 0
    with _text_output(out) as stream:
        for summary in summaries:
            record = {**summary.to_dict(), "trace": load_trace(summary.id).to_dict()}
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_csv(out: Output, summaries: Iterable[RunSummary]) -> int:
    """One row per run; params as a JSON string, correct as true/false/empty."""
    count = 0
    with _text_output(out) as stream:
        writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for summary in summaries:
            writer.writerow(_csv_row(summary))
            count += 1
    return count


def _csv_row(summary: RunSummary) -> dict[str, Any]:
    data = summary.to_dict()
    row = {column: data[column] for column in CSV_COLUMNS}
    row["params"] = json.dumps(summary.params, sort_keys=True, ensure_ascii=False)
    row["correct"] = "" if summary.correct is None else str(summary.correct).lower()
    return row


@contextmanager
def _text_output(out: Output) -> Iterator[TextIO]:
    if isinstance(out, str | Path):
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as stream:
            yield stream
    else:
        yield out
