"""Cheap normalization of final answers: LaTeX clean-up and exact numbers, no sympy.

Every function here takes any string and returns; none of them raises."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_ANSWER_CHARS = 1000  # longer "answers" are compared as plain text
MAX_NUMBER_DIGITS = 60
MAX_WRAPPERS = 50

_REMOVE = re.compile(
    r"\\\$|\$|\\[()\[\]]|\\left\b|\\right\b|\\[bB]igg?[lr]?\b|\\displaystyle\b|\\[;:]"
    r"|\\q?quad\b|\^\s*\{\s*\\circ\s*\}|\^\s*\\circ\b|\\circ\b|\\degree\b|°|\\%|%"
)
# Thin spaces: "10,\!080" is 10080, "11,\! 111" is 11111.
_THIN_SPACE = re.compile(r"\s*\\[!,]\s*")
_WRAPPER = re.compile(
    r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname|boxed|fbox)\s*\{"
)
_FRAC_FIXES = [
    (re.compile(r"\\[dt]frac(?![A-Za-z])"), r"\\frac"),
    # '\frac919' is 9/19 as math-verify (the field's grader) reads it, not TeX's \frac{9}{1}9
    (re.compile(r"\\frac\s*(\d)\s*(\d+)"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\frac\s*([0-9A-Za-z])\s*([0-9A-Za-z])"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\frac\s*([0-9A-Za-z])\s*\{"), r"\\frac{\1}{"),
    (re.compile(r"\\frac\s*(\{[^{}]*\})\s*([0-9A-Za-z])"), r"\\frac\1{\2}"),
    (re.compile(r"\\sqrt\s*([0-9A-Za-z])"), r"\\sqrt{\1}"),
]
_UNICODE = str.maketrans(
    {"−": "-", "–": "-", "—": "-", "×": r"\times ", "÷": r"\div ", "π": r"\pi "}
)
_SPACES = re.compile(r"\s+")
# Whitespace matters only between two letters ("\cot x", "x y"); elsewhere it is dropped.
_INNER_SPACE = re.compile(r"(?<![A-Za-z])\s+|\s+(?![A-Za-z])")
_UNITS = (
    "cents?|dollars?|degrees?|inch(?:es)?|feet|foot|ft|cm|mm|km|meters?|metres?|units?"
    "|hours?|minutes?|seconds?|days?|weeks?|years?|miles?|mph|pounds?|lbs?|kg|grams?"
)
_TRAILING_UNIT = re.compile(
    rf"(?<=[\d}}).])\s*(?:square\s+|sq\s+)?(?:{_UNITS})\b\.?(?:\^\{{?\d\}}?)?$"
)
_LEADING_VARIABLE = re.compile(r"^[A-Za-z]\s*(?:=|\\in\b)\s*")
_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?$")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
# Plain-text math, rewritten as LaTeX: sqrt(13) -> \sqrt{13}, sin(x) -> \sin(x), pi -> \pi,
# 3*\sqrt{13} -> 3\sqrt{13}, and subscripts 4210_5 -> 4210_{5}.
_PLAIN_SQRT = re.compile(r"(?<![\\A-Za-z])sqrt\s*(?=\()")
_PLAIN_FUNCTION = re.compile(
    r"(?<![\\A-Za-z])(arcsin|arccos|arctan|sinh|cosh|tanh|sin|cos|tan|cot|sec|csc|log|ln|exp)"
    r"\s*(?=\()"
)
_PLAIN_PI = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])")
_PRODUCT_STAR = re.compile(r"(?<=[\d)}])\s*\*\s*(?=\\[A-Za-z])")
_PLAIN_SUBSCRIPT = re.compile(r"_(\d+|[A-Za-z])")

_NUMBER = re.compile(
    r"(?<![\w.])(?P<neg>-\s*)?(?:"
    r"(?P<whole>\d+)\s*(?:\\frac\{(?P<mixed_num>\d+)\}\{(?P<mixed_den>\d+)\}"
    r"|\s(?P<slash_num>\d+)/(?P<slash_den>\d+))"
    r"|\\frac\{(?P<frac_num>-?\d+(?:\.\d+)?)\}\{(?P<frac_den>\d+(?:\.\d+)?)\}"
    r"|(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?"
    r")"
)


@dataclass(frozen=True)
class Number:
    value: Fraction
    places: int | None = None  # decimal places when written as a decimal ("0.25": 2)


def clean_latex(text: str) -> str:
    """Strip the LaTeX that never changes a value: $, \\left, \\text{...}, degrees, %."""
    text = text.translate(_UNICODE)
    text = _THIN_SPACE.sub("", text)
    text = _REMOVE.sub(" ", text)
    text = unwrap(text)
    for pattern, replacement in _FRAC_FIXES:
        text = pattern.sub(replacement, text)
    return _SPACES.sub(" ", text).strip()


def unwrap(text: str) -> str:
    r"""\text{5 cm} -> 5 cm, keeping nested braces inside."""
    for _ in range(MAX_WRAPPERS):
        match = _WRAPPER.search(text)
        if match is None:
            break
        close = matching_brace(text, match.end() - 1)
        if close is None:
            text = text[: match.start()] + text[match.end() :]
        else:
            text = text[: match.start()] + text[match.end() : close] + text[close + 1 :]
    return text


def matching_brace(text: str, open_index: int, limit: int = 20_000, pair: str = "{}") -> int | None:
    """Index of the '}' that closes the '{' at open_index (or of pair's closer), or None."""
    opener, closer = pair[0], pair[1]
    depth = 0
    for i in range(open_index, min(len(text), open_index + limit)):
        if text[i] == opener:
            depth += 1
        elif text[i] == closer:
            depth -= 1
            if depth == 0:
                return i
    return None


def first_number(text: str) -> Number | None:
    """The first number in an answer: '$1,000.00' -> 1000, '-\\frac{3}{4} cup' -> -3/4."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    return _number(match)


def parse_number(text: str) -> Number | None:
    """The number that `text` is, all of it, or None."""
    text = text.strip()
    match = _NUMBER.fullmatch(text)
    return _number(match) if match else None


def _number(match: re.Match[str]) -> Number | None:
    groups = match.groupdict()
    sign = -1 if groups["neg"] else 1
    try:
        if groups["whole"] is not None:
            numerator = groups["mixed_num"] or groups["slash_num"]
            denominator = groups["mixed_den"] or groups["slash_den"]
            value = _fraction(groups["whole"]) + _fraction(numerator) / _fraction(denominator)
            return Number(sign * value)
        if groups["frac_num"] is not None:
            return Number(sign * _fraction(groups["frac_num"]) / _fraction(groups["frac_den"]))
        value = _fraction(groups["num"].replace(",", ""))
        if groups["den"] is not None:
            return Number(sign * value / _fraction(groups["den"]))
        places = len(groups["num"].split(".")[1]) if "." in groups["num"] else None
        return Number(sign * value, places)
    except (ValueError, ZeroDivisionError):
        return None


def _fraction(text: str) -> Fraction:
    if sum(ch.isdigit() for ch in text) > MAX_NUMBER_DIGITS:
        raise ValueError("number too long")
    return Fraction(text)


def canonical_number(value: Fraction) -> str:
    """One spelling per value: 1000, 0.5, -2/3."""
    if value.denominator == 1:
        return str(value.numerator)
    rest, places = value.denominator, 0
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest != 1:
        return f"{value.numerator}/{value.denominator}"
    while (value * 10**places).denominator != 1:
        places += 1
    scaled = abs(value.numerator * 10**places // value.denominator)
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def numbers_close(a: Number, b: Number) -> bool:
    """Equal, or equal up to the rounding of a decimal written with at least 2 places:
    '0.33' matches 1/3 and '33.33' matches 33.333, but '0.3' does not match 0.25."""
    if a.value == b.value:
        return True
    places = [n.places for n in (a, b) if n.places is not None and n.places >= 2]
    if not places:
        return False
    tolerance = Fraction(1, 2 * 10 ** min(places)) * (1 + Fraction(1, 10**9))
    return abs(a.value - b.value) <= tolerance


def number_key(text: str) -> Number | None:
    """The number a NUMBER-kind answer states: the first one after the last '='."""
    if len(text) > MAX_ANSWER_CHARS:
        return None
    cleaned = clean_latex(text)
    if "=" in cleaned:
        cleaned = cleaned.rsplit("=", 1)[1]
    return first_number(cleaned)


def math_key(text: str) -> str:
    """The canonical string of a LaTeX answer, equal for answers that differ only in
    presentation: '\\dfrac{1}{2}' and '0.5' -> '0.5'; '10,\\!080' -> '10080'; 'x = 5' -> '5'."""
    if len(text) > MAX_ANSWER_CHARS:
        return compact_text(text)
    text = plain_math(clean_latex(text))
    text = _LEADING_VARIABLE.sub("", text) if text.count("=") <= 1 else text
    text = _TRAILING_UNIT.sub("", text).strip() or text
    text = _INNER_SPACE.sub("", text).rstrip(".")
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    text = re.sub(r"(?<![\d])\.(\d)", r"0.\1", text)
    choice = _CHOICE.fullmatch(text)
    if choice:
        return choice.group(1).upper()
    number = parse_number(text)
    return canonical_number(number.value) if number else text


def plain_math(text: str) -> str:
    """Plain-text math as LaTeX: '3*sqrt(13)' -> '3\\sqrt{13}', '4210_5' -> '4210_{5}'."""
    text = _sqrt_braces(_PLAIN_SQRT.sub(r"\\sqrt", text))
    text = _PLAIN_FUNCTION.sub(r"\\\1", text)
    text = _PLAIN_PI.sub(r"\\pi ", text)
    text = _PRODUCT_STAR.sub("", text)
    return _PLAIN_SUBSCRIPT.sub(r"_{\1}", text)


def _sqrt_braces(text: str) -> str:
    """\\sqrt(13) -> \\sqrt{13}, where the parenthesis closes."""
    start = 0
    for _ in range(MAX_WRAPPERS):
        index = text.find(r"\sqrt(", start)
        if index < 0:
            break
        opening = index + len(r"\sqrt")
        close = matching_brace(text, opening, pair="()")
        if close is None:
            break
        text = text[:opening] + "{" + text[opening + 1 : close] + "}" + text[close + 1 :]
        start = opening
    return text


def compact_text(text: str) -> str:
    """Whitespace collapsed, for answers compared as text."""
    return _SPACES.sub(" ", text).strip()


def text_key(text: str) -> str:
    """Free-text answers: case, LaTeX wrappers, edge punctuation and spacing ignored."""
    text = clean_latex(text[:MAX_ANSWER_CHARS]).lower()
    return text.strip(" .,;:!?\"'*`")
