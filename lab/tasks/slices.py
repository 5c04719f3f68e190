"""Slices of a problem set: problems FROM to TO (counted from 1, both included), and the
words that name which problems a table or curve ran ("problems 1-50 of gsm8k_train.jsonl").

Tune on one slice, report on another that no choice was made on: a slice is how a command,
the app's pickers and the gallery say which is which.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from lab.tasks.problem import Problem

SPAN_HELP = "FROM-TO, counted from 1 and both included, e.g. 101-400"


class SliceError(ValueError):
    """A span that is not FROM-TO with 1 <= FROM <= TO; the message is for the user."""


def parse_span(text: str) -> tuple[int, int]:
    """'101-400' -> (101, 400); a single number N is the slice N-N."""
    start, sep, end = text.strip().partition("-")
    try:
        first = int(start)
        last = int(end) if sep else first
    except ValueError:
        first = last = 0
    if first < 1 or last < first:
        raise SliceError(f"a slice is {SPAN_HELP} (got {text!r})")
    return first, last


def take_span(problems: Sequence[Problem], span: tuple[int, int]) -> list[Problem]:
    first, last = span
    return list(problems[first - 1:last])


def runs_of_positions(positions: Iterable[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10'."""
    ordered = sorted(set(positions))
    parts: list[str] = []
    start = previous = None
    for position in [*ordered, None]:
        if position is not None and previous is not None and position == previous + 1:
            previous = position
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = position
    return ", ".join(parts)


def name_problems(source: str, ids: Iterable[str]) -> str:
    """Which problems of the set `source` these are, by position when the set can be read
    (else by count): 'problems 1-50 of gsm8k_train.jsonl'."""
    chosen = set(ids)
    where = _positions(source)
    label = source.rsplit("/", 1)[-1] if ":" in source else source
    found = [where[i] for i in chosen if i in where]
    if where and len(found) == len(chosen):
        word = "problem" if len(chosen) == 1 else "problems"
        return f"{word} {runs_of_positions(found)} of {label} ({len(chosen)})"
    return f"{len(chosen)} problem{'' if len(chosen) == 1 else 's'} of {label}"


@lru_cache(maxsize=8)
def _positions(source: str) -> dict[str, int]:
    from lab.tasks.datasets import load_set  # the loaders, only when a set is named

    try:
        return {p.id: i for i, p in enumerate(load_set(source), start=1)}
    except (ValueError, KeyError, OSError):
        return {}
