"""Equivalence of LaTeX (MATH-kind) answers.

Cheapest first: canonical strings, then exact numbers, then structure (tuples, intervals,
unions, sets, matrices, a \\pm b) element by element, and sympy only for what is left,
within one time budget for the whole comparison."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from lab.tasks import symbolic
from lab.tasks.latex import LatexError, to_python
from lab.tasks.normalize import clean_latex, math_key, numbers_close, parse_number, plain_math

_MATRIX = re.compile(r"\\begin\{([pbvB]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}", re.S)
_WORDS = re.compile(r"[A-Za-z][A-Za-z ]+")
_OPENERS, _CLOSERS = "([{", ")]}"


@dataclass
class Structure:
    kind: str  # "tuple" (ordered: points, intervals), "set" (unordered), "matrix"
    items: list[str]
    brackets: str = ""  # "(]" for a half-open interval
    shape: tuple[int, int] = (0, 0)


def math_equivalent(a: str, b: str, timeout_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    key_a, key_b = math_key(a), math_key(b)
    if keys_equivalent(key_a, key_b, deadline):
        return True
    return _equations_equivalent(a, b, key_a, key_b, deadline)


def _equations_equivalent(a: str, b: str, key_a: str, key_b: str, deadline: float) -> bool:
    """Two equations as equations: 'y = 2x + 3' and '2x - y + 3 = 0' (the key of the first
    keeps only its right side, so the keys alone miss this)."""
    if "=" in key_a and "=" in key_b:
        return False  # keys_equivalent compared these as equations already
    equation_a, equation_b = _equation(a), _equation(b)
    if equation_a is None or equation_b is None:
        return False
    if parse_number(key_a) and parse_number(key_b):
        return False  # 'x = 5' and 'x = 6': the keys already said no
    return _scalars_equivalent(equation_a, equation_b, deadline)


def _equation(answer: str) -> str | None:
    """An answer with exactly one '=' (its left side kept), or None."""
    text = plain_math(clean_latex(answer))
    return text if text.count("=") == 1 and len(text) <= 300 else None


def keys_equivalent(a: str, b: str, deadline: float) -> bool:
    if a == b:
        return True
    number_a, number_b = parse_number(a), parse_number(b)
    if number_a and number_b:
        return numbers_close(number_a, number_b)
    if _WORDS.fullmatch(a) and _WORDS.fullmatch(b):
        return a.lower() == b.lower()
    structure_a, structure_b = structure(a), structure(b)
    if structure_a or structure_b:
        if structure_a is None or structure_b is None:
            return False
        return _structures_equivalent(structure_a, structure_b, deadline)
    return _scalars_equivalent(a, b, deadline)


def structure(key: str) -> Structure | None:
    """How a normalized answer is built from parts, or None for a single expression."""
    matrix = _MATRIX.fullmatch(key)
    if matrix:
        rows = [split_top(row, "&") for row in split_top(matrix.group(2), r"\\") if row]
        width = len(rows[0]) if rows else 0
        if rows and all(len(row) == width for row in rows):
            return Structure(
                "matrix", [cell for row in rows for cell in row], shape=(len(rows), width)
            )
        return None
    pieces = split_top(key, r"\cup")
    if len(pieces) > 1:
        return Structure("set", pieces)
    if key.startswith(r"\{") and key.endswith(r"\}"):
        return Structure("set", _expand_plus_minus(split_top(key[2:-2], ",")))
    if len(key) >= 2 and key[0] in "([" and key[-1] in ")]" and _encloses(key):
        items = split_top(key[1:-1], ",")
        if len(items) > 1:
            return Structure("tuple", items, brackets=key[0] + key[-1])
    items = _expand_plus_minus(split_top(key, ","))
    return Structure("set", items) if len(items) > 1 else None


def _expand_plus_minus(items: list[str]) -> list[str]:
    """'3\\pm2\\sqrt{2}' stands for two answers, 3+2\\sqrt{2} and 3-2\\sqrt{2}."""
    expanded = []
    for item in items:
        signs = [sign for sign in (r"\pm", r"\mp") if sign in item]
        if len(signs) == 1 and item.count(signs[0]) == 1:
            first, second = ("+", "-") if signs[0] == r"\pm" else ("-", "+")
            expanded += [item.replace(signs[0], first), item.replace(signs[0], second)]
        else:
            expanded.append(item)
    return expanded


def split_top(text: str, separator: str) -> list[str]:
    """Split at separators outside any brackets."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _encloses(key: str) -> bool:
    """Does the first bracket close at the last character (not '(1)+(2)')?"""
    depth = 0
    for i, ch in enumerate(key):
        depth += ch in _OPENERS
        depth -= ch in _CLOSERS
        if depth == 0:
            return i == len(key) - 1
    return False


def _structures_equivalent(a: Structure, b: Structure, deadline: float) -> bool:
    if a.kind != b.kind or len(a.items) != len(b.items):
        return False
    if a.kind == "matrix" and a.shape != b.shape:
        return False
    if a.kind == "tuple" and a.brackets != b.brackets:
        return False
    if a.kind == "set":
        return _match_unordered(a.items, b.items, deadline)
    return all(_items_equivalent(x, y, deadline) for x, y in zip(a.items, b.items, strict=True))


def _match_unordered(a: list[str], b: list[str], deadline: float) -> bool:
    remaining = list(b)
    for item in a:
        match = next(
            (other for other in remaining if _items_equivalent(item, other, deadline)), None
        )
        if match is None:
            return False
        remaining.remove(match)
    return True


def _items_equivalent(a: str, b: str, deadline: float) -> bool:
    return keys_equivalent(math_key(a), math_key(b), deadline)


def _scalars_equivalent(a: str, b: str, deadline: float) -> bool:
    try:
        if a.count("=") == 1 and b.count("=") == 1:
            left_a, right_a = (to_python(side) for side in a.split("="))
            left_b, right_b = (to_python(side) for side in b.split("="))
            first, second = f"({left_a})-({right_a})", f"({left_b})-({right_b})"
            return bool(symbolic.equivalent(first, second, deadline - time.monotonic(), True))
        first, second = to_python(a), to_python(b)
    except LatexError:
        return False
    if first == second:
        return True
    return bool(symbolic.equivalent(first, second, deadline - time.monotonic()))
