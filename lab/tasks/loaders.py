"""Read problem files: GSM8K and MATH-500 JSONL, and generic JSONL or CSV with named
columns. A bad record gives one message naming its line and field; the rest still loads."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.tasks.kinds import get_kind
from lab.tasks.normalize import math_key, parse_number
from lab.tasks.problem import AnswerKind, Problem, parse_kind

QUESTION_FIELDS = ("question", "problem", "prompt", "input")
ANSWER_FIELDS = ("answer", "gold", "target", "output")
ID_FIELDS = ("id", "unique_id")
_WORDS = re.compile(r"[A-Za-z][A-Za-z ]*")


class RecordError(ValueError):
    """One record is unusable; the message names the field."""


@dataclass
class LoadResult:
    problems: list[Problem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "file.jsonl line 3: field 'answer' ..."


@dataclass
class Columns:
    """Which fields of a generic file hold what (None: the first usual name present)."""

    question: str | None = None
    answer: str | None = None
    id: str | None = None
    kind: str = "auto"  # an AnswerKind value, or "auto": number, words or math by the gold


Converter = Callable[[dict[str, Any], int], Problem]


def read_records(
    path: Path, converter: Converter, limit: int | None = None, csv_format: bool = False
) -> LoadResult:
    result = LoadResult()
    records = _csv_records(path) if csv_format else _jsonl_records(path)
    for line, record in records:
        if limit is not None and len(result.problems) >= limit:
            break
        try:
            if isinstance(record, str):
                raise RecordError(record)
            result.problems.append(converter(record, line))
        except RecordError as exc:
            result.errors.append(f"{path.name} line {line}: {exc}")
    return result


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"not valid JSON ({exc.msg} at column {exc.colno})"
                continue
            yield number, record if isinstance(record, dict) else "not a JSON object"


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            if None in row:
                yield reader.line_num, "more cells than columns"
                continue
            yield reader.line_num, row


def _text(record: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RecordError(f"field '{name}' is missing or empty")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RecordError(f"field '{name}' is not text")
    return str(value)


def gsm8k_problem(record: dict[str, Any], line: int, source: str, stem: str) -> Problem:
    question = _text(record, "question")
    solution = _text(record, "answer") or ""
    if "####" not in solution:
        raise RecordError("field 'answer' does not end with '#### <final answer>'")
    gold = solution.rsplit("####", 1)[1].strip()
    if not gold:
        raise RecordError("field 'answer' has nothing after '####'")
    return Problem(
        id=f"{stem}-{line:05d}",
        question=question or "",
        gold=gold,
        kind=AnswerKind.NUMBER,
        source=source,
        difficulty=float(max(1, solution.count("<<"))),  # calculator steps
        metadata={"solution": solution, "line": line},
    )


def math500_problem(record: dict[str, Any], line: int, source: str, stem: str) -> Problem:
    question = _text(record, "problem")
    gold = _text(record, "answer")
    level = _level(record.get("level"))
    metadata: dict[str, Any] = {"line": line}
    for name in ("subject", "level", "solution", "unique_id"):
        if record.get(name) is not None:
            metadata[name] = record[name]
    return Problem(
        id=_text(record, "unique_id", required=False) or f"{stem}-{line:05d}",
        question=question or "",
        gold=gold,
        kind=AnswerKind.MATH,
        source=source,
        difficulty=level,
        metadata=metadata,
    )


def _level(value: Any) -> float | None:
    """MATH levels: 3, 3.0, "3" or "Level 3"."""
    if value is None:
        return None
    match = re.fullmatch(r"(?:Level\s*)?(\d+(?:\.\d+)?)", str(value).strip(), re.IGNORECASE)
    if isinstance(value, bool) or match is None:
        raise RecordError("field 'level' is not a number")
    return float(match.group(1))


def generic_problem(
    record: dict[str, Any], line: int, source: str, stem: str, columns: Columns
) -> Problem:
    question_field = columns.question or _first_present(record, QUESTION_FIELDS) or "question"
    answer_field = columns.answer or _first_present(record, ANSWER_FIELDS)
    id_field = columns.id or _first_present(record, ID_FIELDS)
    question = _text(record, question_field)
    gold = (
        _text(record, answer_field, required=columns.answer is not None) if answer_field else None
    )
    used = {question_field, answer_field, id_field}
    metadata = {k: v for k, v in record.items() if k not in used and v not in (None, "")}
    metadata["line"] = line
    return Problem(
        id=(_text(record, id_field, required=False) if id_field else None) or f"{stem}-{line:05d}",
        question=question or "",
        gold=gold,
        kind=_kind(columns.kind, gold),
        source=source,
        metadata=metadata,
    )


def _first_present(record: dict[str, Any], names: tuple[str, ...]) -> str | None:
    return next((name for name in names if record.get(name) not in (None, "")), None)


def _kind(kind: str, gold: str | None) -> AnswerKind | str:
    if kind != "auto":
        return parse_kind(kind)
    if gold is None or parse_number(math_key(gold)):
        return AnswerKind.NUMBER
    if _WORDS.fullmatch(gold.strip()):
        return AnswerKind.TEXT
    return AnswerKind.MATH


def builtin_problem(record: dict[str, Any], line: int) -> Problem:
    try:
        problem = Problem.from_dict(record)
        get_kind(problem.kind)  # a kind no module defines fails here, not when graded
        return problem
    except (TypeError, ValueError) as exc:
        raise RecordError(f"not a problem record ({exc})") from exc
