"""Game of 24: reach 24 from four numbers (1 to 13) with + - * / and each number once.

The checker parses a proposed expression safely (lab.tasks.safe_math, no eval) and checks
both the numbers used and the value. The generator lists only solvable quadruples, with a
difficulty from how many essentially different solutions exist (few solutions: hard)."""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from lab.tasks.problem import AnswerKind, Problem
from lab.tasks.safe_math import ExpressionError, clean_expression, evaluate, format_fraction

TARGET = 24
MAX_CANDIDATES = 200
_OPERATOR = re.compile(r"[+\-*/]")
_CANDIDATE = re.compile(r"[\d(][\d+\-*/(). ]*")
_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")
_NUMBER = re.compile(r"^\s*-?\d+(?:\.\d+)?\s*$")


@dataclass
class Game24Check:
    ok: bool
    value: Fraction | None
    reason: str  # "ok", or what is wrong, in words


def check_expression(expression: str, numbers: Sequence[int], target: int = TARGET) -> Game24Check:
    """Does `expression` use exactly `numbers`, each once, and equal `target`?"""
    try:
        result = evaluate(_left_side(expression), allow_unary=False)
    except ExpressionError as exc:
        return Game24Check(False, None, str(exc))
    used = sorted(result.numbers)
    needed = sorted(Fraction(n) for n in numbers)
    if used != needed:
        return Game24Check(
            False, result.value, f"uses {_spell(used)}, must use {_spell(needed)} once each"
        )
    if result.value != target:
        return Game24Check(
            False, result.value, f"equals {format_fraction(result.value)}, not {target}"
        )
    return Game24Check(True, result.value, "ok")


def _left_side(expression: str) -> str:
    """'(8-4)*(7-1) = 24' -> '(8-4)*(7-1)': drop sides that are a bare number."""
    sides = expression.replace("≈", "=").split("=")
    expressions = [side for side in sides if not _NUMBER.match(side)]
    return expressions[0] if expressions else sides[0]


def _spell(numbers: Sequence[Fraction]) -> str:
    return ", ".join(format_fraction(n) for n in numbers) or "no numbers"


def find_expression(text: str, numbers: Sequence[int], target: int = TARGET) -> str | None:
    """The expression a model proposes in `text`.

    Prefers the last candidate that solves the puzzle, then the last one that at least uses
    exactly the given numbers (a wrong answer still counts as an attempt); None if neither."""
    candidates = _candidates(text)[-MAX_CANDIDATES:]
    attempt = None
    for candidate in reversed(candidates):
        check = check_expression(candidate, numbers, target)
        if check.ok:
            return candidate
        if attempt is None and check.value is not None and "must use" not in check.reason:
            attempt = candidate
    return attempt


def _candidates(text: str) -> list[str]:
    """Runs of arithmetic in the text, then boxed answers (the most deliberate, so last)."""
    found = []
    for match in _CANDIDATE.finditer(clean_expression(text)):
        candidate = match.group(0).strip().rstrip(".").strip()
        if _OPERATOR.search(candidate) and any(ch.isdigit() for ch in candidate):
            found.append(_balance(candidate))
    found += [clean_expression(m.group(1)).strip() for m in _BOXED.finditer(text)]
    return found


def _balance(candidate: str) -> str:
    """Trim stray parentheses a sentence left at either end: '(8-4)*(7-1))' -> '(8-4)*(7-1)'."""
    while candidate.count("(") > candidate.count(")") and candidate.startswith("("):
        candidate = candidate[1:].strip()
    while candidate.count(")") > candidate.count("(") and candidate.endswith(")"):
        candidate = candidate[:-1].strip()
    return candidate


# --- solver -------------------------------------------------------------------------------

# An expression tree is a number or (op, left, right). Sub-expressions of up to three numbers
# are cached; only trees that reach the target get a canonical key and a readable text.
_Tree = int | tuple[str, "_Tree", "_Tree"]
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def solve(numbers: Sequence[int], target: int = TARGET) -> list[str]:
    """Every essentially different solution, as readable expressions, simplest first.

    Solutions that differ only by the order or grouping of + and * count once."""
    solutions: dict[str, str] = {}
    goal = Fraction(target)
    for left_numbers, right_numbers in _splits(tuple(sorted(numbers))):
        by_value = _by_value(right_numbers)
        for left_value, left in _expressions(left_numbers):
            for op, rights in _partners(left_value, goal, by_value):
                for right in rights:
                    tree = (op, left, right)
                    key, text = _key(tree), _render(tree)[0]
                    solutions[key] = min(solutions.get(key, text), text, key=_simplest)
    return sorted(solutions.values(), key=_simplest)


def _partners(
    value: Fraction, goal: Fraction, by_value: dict[Fraction, list[_Tree]]
) -> list[tuple[str, list[_Tree]]]:
    """For `value op right == goal`: each op with the right-hand trees that make it true."""
    partners = [("+", by_value.get(goal - value, [])), ("-", by_value.get(value - goal, []))]
    if value != 0:
        partners.append(("*", by_value.get(goal / value, [])))
        if goal != 0:
            partners.append(("/", by_value.get(value / goal, [])))
    elif goal == 0:
        partners.append(("*", [tree for trees in by_value.values() for tree in trees]))
        nonzero = [tree for v, trees in by_value.items() if v != 0 for tree in trees]
        partners.append(("/", nonzero))
    return partners


@cache
def _by_value(numbers: tuple[int, ...]) -> dict[Fraction, list[_Tree]]:
    grouped: dict[Fraction, list[_Tree]] = {}
    for value, tree in _expressions(numbers):
        grouped.setdefault(value, []).append(tree)
    return grouped


def _simplest(text: str) -> tuple[int, str]:
    return len(text), text


@cache
def _expressions(numbers: tuple[int, ...]) -> tuple[tuple[Fraction, _Tree], ...]:
    if len(numbers) == 1:
        return ((Fraction(numbers[0]), numbers[0]),)
    found: dict[tuple[Fraction, str], _Tree] = {}
    for left_numbers, right_numbers in _splits(numbers):
        for left_value, left in _expressions(left_numbers):
            for right_value, right in _expressions(right_numbers):
                for value, op in _results(left_value, right_value):
                    tree = (op, left, right)
                    found.setdefault((value, _key(tree)), tree)
    return tuple((value, tree) for (value, _), tree in found.items())


@cache
def _splits(numbers: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    splits = set()
    for size in range(1, len(numbers)):
        for chosen in itertools.combinations(range(len(numbers)), size):
            left = tuple(numbers[i] for i in chosen)
            right = tuple(n for i, n in enumerate(numbers) if i not in chosen)
            splits.add((left, right))
    return tuple(sorted(splits))


def _results(a: Fraction, b: Fraction) -> list[tuple[Fraction, str]]:
    results = [(a + b, "+"), (a - b, "-"), (a * b, "*")]
    if b != 0:
        results.append((a / b, "/"))
    return results


def _render(tree: _Tree) -> tuple[str, int]:
    if isinstance(tree, int):
        return str(tree), 3
    op, left, right = tree
    precedence = _PRECEDENCE[op]
    left_text, left_precedence = _render(left)
    right_text, right_precedence = _render(right)
    if left_precedence < precedence:
        left_text = f"({left_text})"
    if right_precedence < precedence or (right_precedence == precedence and op in "-/"):
        right_text = f"({right_text})"
    return f"{left_text} {op} {right_text}", precedence


@cache
def _key(tree: _Tree) -> str:
    """Canonical key: a sum is a sorted bag of added and subtracted terms, a product a
    sorted bag of multiplied and divided factors."""
    if isinstance(tree, int):
        return str(tree)
    family = "+" if tree[0] in "+-" else "*"
    plus, minus = _terms(tree, "+-" if family == "+" else "*/")
    return f"{family}[{','.join(sorted(plus))}|{','.join(sorted(minus))}]"


def _terms(tree: _Tree, ops: str) -> tuple[list[str], list[str]]:
    """The terms of a chain of + and - (or * and /), with their sign."""
    if isinstance(tree, int) or tree[0] not in ops:
        return [_key(tree)], []
    op, left, right = tree
    left_plus, left_minus = _terms(left, ops)
    right_plus, right_minus = _terms(right, ops)
    if op == ops[0]:
        return left_plus + right_plus, left_minus + right_minus
    return left_plus + right_minus, left_minus + right_plus


def difficulty(solution_count: int) -> float:
    """5.0 for a single solution down to 1.0 for 12 or more (most quadruples have 1 to 4)."""
    if solution_count <= 1:
        return 5.0
    return round(5.0 - 4.0 * min(1.0, math.log2(solution_count) / math.log2(12)), 2)


# --- problem set --------------------------------------------------------------------------


def question(numbers: Sequence[int], target: int = TARGET) -> str:
    spelled = ", ".join(str(n) for n in numbers)
    return (
        f"Use the numbers {spelled} to make {target}. Use each number exactly once, and "
        "only + - * / and parentheses. Give your answer as a single expression, "
        "for example (1 + 2 + 3) * 4."
    )


def generate(count: int, seed: int, levels: Sequence[int] = (1, 2, 3, 4, 5)) -> list[Problem]:
    """`count` solvable quadruples, spread evenly over the difficulty levels (rounded)."""
    rng = random.Random(seed)
    quadruples = list(itertools.combinations_with_replacement(range(1, 14), 4))
    rng.shuffle(quadruples)
    wanted = {
        level: count // len(levels) + (i < count % len(levels)) for i, level in enumerate(levels)
    }
    chosen: list[tuple[tuple[int, ...], list[str]]] = []
    for numbers in quadruples:
        solutions = solve(numbers)
        level = round(difficulty(len(solutions))) if solutions else None
        if level in wanted and wanted[level] > 0:
            wanted[level] -= 1
            chosen.append((numbers, solutions))
        if len(chosen) == count:
            break
    return [
        _problem(i + 1, numbers, solutions, rng) for i, (numbers, solutions) in enumerate(chosen)
    ]


def _problem(
    index: int, numbers: tuple[int, ...], solutions: list[str], rng: random.Random
) -> Problem:
    shown = list(numbers)
    rng.shuffle(shown)
    return Problem(
        id=f"game24-{index:04d}",
        question=question(shown),
        gold=solutions[0],
        kind=AnswerKind.TARGET,
        source="game24",
        difficulty=difficulty(len(solutions)),
        metadata={"numbers": shown, "target": TARGET, "solutions": len(solutions)},
    )


def wrong_expression(numbers: Sequence[int], target: int = TARGET) -> str:
    """An expression over `numbers` that does not reach the target (to test a checker)."""
    for ops in itertools.product("+-*", repeat=len(numbers) - 1):
        text = str(numbers[0]) + "".join(
            f" {op} {n}" for op, n in zip(ops, numbers[1:], strict=True)
        )
        if evaluate(text).value != target:
            return text
    raise ValueError("every expression reaches the target")
