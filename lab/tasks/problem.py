"""The one problem type every set, strategy and grader shares."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class AnswerKind(StrEnum):
    NUMBER = "number"  # a numeric final answer (GSM8K, arith, digits)
    MATH = "math"  # a math expression compared by equivalence (MATH-500)
    TARGET = "target"  # an expression that must reach a target value (Game of 24)
    TEXT = "text"  # free text, compared after normalisation


@dataclass
class Problem:
    id: str
    question: str
    gold: str | None = None  # None for a user's own question
    kind: AnswerKind = AnswerKind.NUMBER
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
        fields["kind"] = AnswerKind(fields.get("kind", AnswerKind.NUMBER))
        fields["metadata"] = dict(fields.get("metadata") or {})
        return cls(**fields)
