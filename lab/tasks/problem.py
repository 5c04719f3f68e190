"""The one problem type every set, strategy and grader shares.

A problem's `kind` names the rules it is graded and prompted by (lab.tasks.kinds): one of the
built-in `AnswerKind` values, or the name of a kind a LAB_PLUGINS module adds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class AnswerKind(StrEnum):
    """The built-in problem kinds (each has its module in lab.tasks.kinds)."""

    NUMBER = "number"  # a numeric final answer (GSM8K, arith, digits)
    MATH = "math"  # a math expression compared by equivalence (MATH-500)
    TARGET = "target"  # an expression that must reach a target value (Game of 24)
    TEXT = "text"  # free text, compared after normalisation


@dataclass
class Problem:
    id: str
    question: str
    gold: str | None = None  # None for a user's own question
    kind: AnswerKind | str = AnswerKind.NUMBER  # a plugin kind is a plain name
    source: str = "custom"  # set name, e.g. "arith" or "gsm8k:/path/file.jsonl"
    difficulty: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = str(self.kind)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        fields = dict(data)
        fields["kind"] = parse_kind(fields.get("kind", AnswerKind.NUMBER))
        fields["metadata"] = dict(fields.get("metadata") or {})
        return cls(**fields)


def parse_kind(value: str) -> AnswerKind | str:
    """A built-in kind as its AnswerKind; any other name (a plugin's kind) as it is. Whether
    a kind of that name exists is asked when the problem is graded or prompted."""
    try:
        return AnswerKind(value)
    except ValueError:
        return str(value)
