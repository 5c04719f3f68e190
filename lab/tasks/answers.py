"""Final answers: pull them out of a model's text, normalize, compare, and group for votes.

Nothing here raises on any input string."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from lab.tasks.equivalence import math_equivalent
from lab.tasks.normalize import (
    MAX_ANSWER_CHARS,
    canonical_number,
    compact_text,
    matching_brace,
    math_key,
    number_key,
    numbers_close,
    text_key,
)
from lab.tasks.problem import AnswerKind
from lab.tasks.safe_math import ExpressionError, clean_expression, evaluate

RULES = ("boxed", "hash", "answer-is", "last-number", "none")
MAX_BOXED_TRIES = 20
MAX_PHRASE_CHARS = 200

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASH = re.compile(r"####[ \t]*([^\n]*)")
_ANSWER_IS = re.compile(
    r"(?:\bthe\s+|\bfinal\s+|\bmy\s+)*\banswers?\s*(?:is\b|:|=|would\s+be\b|will\s+be\b)"
    r"[ \t]*:?[ \t]*",
    re.IGNORECASE,
)
_LAST_NUMBER = re.compile(
    r"(?:(?<![\w)\]])-)?(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\.?\d)"
)
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n")
_LEADING_JUNK = " \t*_`\"'"  # markdown and quotes around an answer
_TRAILING_JUNK = _LEADING_JUNK + ".,;:!?"  # and the end of the sentence


@dataclass
class Extraction:
    answer: str | None
    rule: str  # one of "boxed", "hash", "answer-is", "last-number", "none"
    span: tuple[int, int] | None  # character span of the answer in the text


def extract_answer(text: str) -> Extraction:
    """The final answer in a model's text, by the first rule that finds one: the last
    \\boxed{...}, the last '#### x', the last 'the answer is x', the last number."""
    for rule, finder in (
        ("boxed", _last_boxed),
        ("hash", _last_hash),
        ("answer-is", _last_answer_is),
        ("last-number", _last_number),
    ):
        span = finder(text)
        if span is not None:
            return Extraction(text[span[0] : span[1]], rule, span)
    return Extraction(None, "none", None)


def _trimmed(
    text: str, start: int, end: int, leading: str = _LEADING_JUNK, trailing: str = _TRAILING_JUNK
) -> tuple[int, int] | None:
    """The span without surrounding blanks, markdown and final punctuation; None if empty."""
    while start < end and text[start] in leading:
        start += 1
    while end > start and text[end - 1] in trailing:
        end -= 1
    return (start, end) if start < end else None


def _last_boxed(text: str) -> tuple[int, int] | None:
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts[-MAX_BOXED_TRIES:]):
        close = matching_brace(text, start - 1)
        if close is not None:
            span = _trimmed(text, start, close, " \t\n", " \t\n")
            if span is not None:
                return span
    return None


def _last_hash(text: str) -> tuple[int, int] | None:
    for match in reversed(list(_HASH.finditer(text))):
        span = _trimmed(text, match.start(1), match.end(1))
        if span is not None:
            return span
    return None


def _last_answer_is(text: str) -> tuple[int, int] | None:
    for match in reversed(list(_ANSWER_IS.finditer(text))):
        start = match.end()
        end = _phrase_end(text, start)
        span = _trimmed(text, start, end)
        if span is not None:
            return span
    return None


def _phrase_end(text: str, start: int) -> int:
    """Where the answer after 'the answer is' ends: the closing $ or \\) of inline math,
    else the end of the sentence or line."""
    limit = min(len(text), start + MAX_PHRASE_CHARS)
    for opener, closer in (("$", "$"), ("\\(", "\\)")):
        if text.startswith(opener, start):
            close = text.find(closer, start + len(opener), limit)
            if close > 0:
                return close + len(closer)
    end = _SENTENCE_END.search(text, start, limit)
    return end.start() if end else limit


def _last_number(text: str) -> tuple[int, int] | None:
    last = None
    for last in _LAST_NUMBER.finditer(text):  # noqa: B007  (only the last one is wanted)
        pass
    return last.span() if last else None


# --- normalizing and comparing ---------------------------------------------------------


def normalize_answer(answer: str, kind: AnswerKind = AnswerKind.NUMBER) -> str:
    """The canonical key of an answer: equal keys mean the same answer ('$1,000.00',
    '1000' and '1000.0' all give '1000'). Different keys may still be equivalent."""
    kind = AnswerKind(kind)
    if kind == AnswerKind.NUMBER:
        number = number_key(answer)
        return canonical_number(number.value) if number else math_key(answer)
    if kind == AnswerKind.MATH:
        return math_key(answer)
    if kind == AnswerKind.TARGET:
        return _expression_key(answer)
    return text_key(answer)


def answers_equivalent(
    a: str, b: str, kind: AnswerKind = AnswerKind.NUMBER, timeout_s: float = 2.0
) -> bool:
    """Do a and b state the same answer? Numbers exactly (or up to the rounding of a
    decimal), LaTeX by normalization and, within timeout_s, by sympy."""
    kind = AnswerKind(kind)
    if kind == AnswerKind.NUMBER:
        number_a, number_b = number_key(a), number_key(b)
        if number_a and number_b:
            return numbers_close(number_a, number_b)
        return math_equivalent(a, b, timeout_s)
    if kind == AnswerKind.MATH:
        return math_equivalent(a, b, timeout_s)
    if kind == AnswerKind.TARGET:
        return _expressions_equivalent(a, b)
    return text_key(a) == text_key(b)


def _expression_key(answer: str) -> str:
    side = answer.split("=")[0] if "=" in answer else answer
    return re.sub(r"\s+", "", clean_expression(side[:MAX_ANSWER_CHARS]))


def _expressions_equivalent(a: str, b: str) -> bool:
    """Two proposed Game-24 expressions: the same text, or the same value from the same
    numbers."""
    if _expression_key(a) == _expression_key(b):
        return True
    try:
        first, second = evaluate(_expression_key(a)), evaluate(_expression_key(b))
    except ExpressionError:
        return False
    return first.value == second.value and sorted(first.numbers) == sorted(second.numbers)


# --- votes -----------------------------------------------------------------------------


@dataclass
class AnswerGroup:
    key: str  # canonical representative
    members: list[int] = field(default_factory=list)  # indices into the input
    answer: str = ""  # the first member's answer as written

    @property
    def size(self) -> int:
        return len(self.members)


def group_answers(
    answers: Sequence[str | None],
    kind: AnswerKind = AnswerKind.NUMBER,
    timeout_s: float = 1.0,
    budget_s: float = 10.0,
) -> list[AnswerGroup]:
    """Answers grouped by equivalence, groups in order of first appearance.

    Each answer joins the first group whose first answer it is equivalent to (equal keys
    are always one group). None answers are left out of every group. Comparisons share a
    budget of budget_s seconds; once it is spent, only equal keys group."""
    deadline = time.monotonic() + budget_s
    groups: list[AnswerGroup] = []
    by_key: dict[str, AnswerGroup] = {}
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        key = normalize_answer(answer, kind)
        group = by_key.get(key) or _equivalent_group(answer, groups, kind, timeout_s, deadline)
        if group is None:
            group = AnswerGroup(key=key, answer=answer)
            groups.append(group)
        by_key[key] = group
        group.members.append(index)
    return groups


def _equivalent_group(
    answer: str, groups: list[AnswerGroup], kind: AnswerKind, timeout_s: float, deadline: float
) -> AnswerGroup | None:
    for group in groups:
        remaining = min(timeout_s, deadline - time.monotonic())
        if remaining > 0 and answers_equivalent(answer, group.answer, kind, remaining):
            return group
    return None


def majority(groups: Sequence[AnswerGroup]) -> AnswerGroup | None:
    """The largest group; the earliest one wins a tie."""
    return max(groups, key=lambda g: g.size, default=None)


__all__ = [
    "RULES",
    "AnswerGroup",
    "Extraction",
    "answers_equivalent",
    "compact_text",
    "extract_answer",
    "group_answers",
    "majority",
    "normalize_answer",
]
