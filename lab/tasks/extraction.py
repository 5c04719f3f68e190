"""Pull a final answer out of a model's text: the first of a few rules that finds one.

The bottom of answer handling: the problem kinds (lab.tasks.kinds) grade with it, and
lab.tasks.answers re-exports it. Nothing here raises on any input string."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.tasks.normalize import matching_brace

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
