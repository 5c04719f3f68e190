"""Recompute the arithmetic a chain of thought states: "12 * 3 = 36" is checked, "12 + 5 = 18"
is caught. A verifier built on this needs no gold answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from lab.tasks.safe_math import ExpressionError, evaluate

MAX_LEFT_CHARS = 120
MAX_CLAIMS = 500
_EQUALS = re.compile(
    r"=\s*\$?\s*(?P<stated>-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+)"
    r"(?![\d.,]*\d|\s*[%/*×x÷^(]|\s*[+\-]\s*[\w$(]|\s+\d|\s+and\s+\d|[A-Za-z])"
)
_OPEN_LEFT = frozenset("0123456789.,)]}+-*/×÷^·")  # the expression would continue leftwards
_MIXED_NUMBER_WORDS = re.compile(r"\d\s+and$")  # "1 and 1/4"
_LEADING_ZERO = re.compile(r"(?<![\d.,])0\d")  # clock times like 0900
_LEFT_CHARS = frozenset("0123456789 .,$()+-*/×xX÷·^\t")
_LEADING_TOKEN = re.compile(r"^(?:\d[\d.,]*|\S)\s*")


@dataclass
class Claim:
    expression: str  # the left-hand side as written, e.g. "12 * 3"
    stated: Fraction  # what the text says it equals
    actual: Fraction | None  # what it does equal
    ok: bool
    span: tuple[int, int] = (0, 0)  # of "expression = stated" in the text


def arithmetic_claims(text: str) -> list[Claim]:
    """Every "expression = number" in the text whose left side is arithmetic on at least
    two numbers, with the value recomputed exactly."""
    claims: list[Claim] = []
    for match in _EQUALS.finditer(text):
        claim = _claim(text, match)
        if claim is not None:
            claims.append(claim)
            if len(claims) >= MAX_CLAIMS:
                break
    return claims


def _claim(text: str, match: re.Match[str]) -> Claim | None:
    start = match.start()
    while start > 0 and match.start() - start < MAX_LEFT_CHARS and text[start - 1] in _LEFT_CHARS:
        start -= 1
    left = text[start : match.start()]
    found = _evaluate_tail(left)
    if found is None:
        return None
    expression, actual = found
    expression_start = start + left.rfind(expression)
    if not _closed_on_left(text[:expression_start]) or _LEADING_ZERO.search(expression):
        return None
    try:
        stated = Fraction(match.group("stated").replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None
    ok = _agrees(actual, stated, match.group("stated"))
    return Claim(expression, stated, actual, ok, (expression_start, match.end()))


def _closed_on_left(prefix: str) -> bool:
    """False when the expression is the tail of something longer that did not parse:
    'x + 4 + 2', '8 x 1 1/2', '(X+10)*1/2'."""
    prefix = prefix.rstrip()
    if not prefix:
        return True
    if prefix[-1] in _OPEN_LEFT or _MIXED_NUMBER_WORDS.search(prefix):
        return False
    single_letter = prefix[-1].isalpha() and (len(prefix) == 1 or not prefix[-2].isalpha())
    return not single_letter


def _evaluate_tail(left: str) -> tuple[str, Fraction] | None:
    """The longest tail of `left` that is arithmetic on two or more numbers, and its value."""
    candidate = left.strip()
    while candidate:
        try:
            result = evaluate(candidate, allow_power=True)
        except ExpressionError:
            candidate = _LEADING_TOKEN.sub("", candidate, count=1)
            continue
        return (candidate, result.value) if len(result.numbers) >= 2 else None
    return None


def _agrees(actual: Fraction, stated: Fraction, written: str) -> bool:
    """Equal, or equal after rounding to the decimals the text wrote ("10 / 3 = 3.33")."""
    if actual == stated:
        return True
    places = len(written.split(".")[1]) if "." in written else 0
    if places == 0:
        return False
    return abs(actual - stated) <= Fraction(1, 2 * 10**places)


def arithmetic_score(text: str) -> float | None:
    """The share of stated calculations that are right; None when the text states none."""
    claims = arithmetic_claims(text)
    if not claims:
        return None
    return sum(claim.ok for claim in claims) / len(claims)
