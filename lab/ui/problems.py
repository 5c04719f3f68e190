"""Problems for the pages: the built-in sets and dataset files."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lab.tasks.datasets import list_sets, load_set
from lab.tasks.problem import Problem

SET_SIZE = 60  # problems of a built-in set offered in the pickers


class ProblemSetError(RuntimeError):
    """A set that cannot be loaded; the message is for the user."""


def builtin_sets() -> dict[str, str]:
    """The built-in sets that have data: name -> description."""
    return {s["name"]: s["description"] for s in list_sets() if s["count"]}


def load_problems(spec: str, limit: int | None = SET_SIZE) -> list[Problem]:
    """The problems of a set ("arith", "gsm8k:/path/file.jsonl", a .jsonl/.csv path, ...)."""
    mtime = _mtime(spec)
    try:
        return _load(spec, limit, mtime)
    except (ValueError, KeyError, OSError) as exc:  # datasets.ProblemSetError is a ValueError
        raise ProblemSetError(str(exc)) from exc


@st.cache_data(show_spinner=False, max_entries=16)
def _load(spec: str, limit: int | None, mtime: float | None) -> list[Problem]:
    del mtime  # part of the cache key: an edited file is read again
    return load_set(spec, limit=limit)


def _mtime(spec: str) -> float | None:
    path = Path(spec.split(":", 1)[-1]).expanduser()
    try:
        return path.stat().st_mtime if path.is_file() else None
    except OSError:
        return None


def difficulties(problems: list[Problem]) -> list[float]:
    return sorted({p.difficulty for p in problems if p.difficulty is not None})


def describe(problem: Problem, width: int = 80) -> str:
    text = " ".join(problem.question.split())
    short = text if len(text) <= width else text[: width - 1] + "…"
    level = f" · difficulty {problem.difficulty:g}" if problem.difficulty is not None else ""
    return f"{problem.id}{level}: {short}"
