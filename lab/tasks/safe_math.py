"""Exact evaluation of small arithmetic expressions written by a model.

Model text never reaches eval(): the text is first restricted to digits, operators and
parentheses, then parsed with Python's ast module, and only a whitelist of node types
is evaluated, with Fractions so that 8 / 3 * 3 is exactly 8."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from fractions import Fraction

MAX_LENGTH = 500
MAX_EXPONENT = 64
MAX_DIGITS = 100

_ALLOWED = re.compile(r"[0-9.+\-*/() ]*")
_REPLACEMENTS = [
    (r"\\left|\\right", ""),
    (r"\\times|\\cdot|[×·∗⋅]", "*"),
    (r"\\div|[÷∕]", "/"),
    (r"[−–—]", "-"),
    (r"[\[{]", "("),
    (r"[\]}]", ")"),
    (r"\$|\\\$", ""),
]
# "x" as multiplication only between two operands: "12 x 3", "(2+1)x4".
_TIMES_X = re.compile(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])")
# Implicit products: "2(3+4)", "(1+2)(3+4)", "(3)4".
_IMPLICIT_TIMES = re.compile(r"(?<=[\d)])\s*(?=\()|(?<=\))\s*(?=\d)")
_THOUSANDS = re.compile(r"(?<![\d.,])(\d{1,3})((?:,\d{3})+)(?![\d,]*\d)")
_LEADING_ZEROS = re.compile(r"(?<![\d.])0+(?=\d)")


class ExpressionError(ValueError):
    """The text is not an arithmetic expression this module accepts."""


@dataclass
class Evaluation:
    value: Fraction
    numbers: list[Fraction] = field(default_factory=list)  # literals, in order of use


def clean_expression(text: str) -> str:
    """Map the usual ways of writing + - * / (LaTeX, Unicode, "x") onto ASCII."""
    for pattern, replacement in _REPLACEMENTS:
        text = re.sub(pattern, replacement, text)
    text = _TIMES_X.sub("*", text)
    text = _IMPLICIT_TIMES.sub("*", text)
    text = _THOUSANDS.sub(lambda m: m.group(1) + m.group(2).replace(",", ""), text)
    return text.replace("^", "**")


def evaluate(expression: str, *, allow_unary: bool = True, allow_power: bool = False) -> Evaluation:
    """Evaluate exactly, or raise ExpressionError saying why not."""
    text = clean_expression(expression).strip()
    if not text:
        raise ExpressionError("empty expression")
    if len(text) > MAX_LENGTH:
        raise ExpressionError("expression too long")
    if not _ALLOWED.fullmatch(text):
        raise ExpressionError("only numbers, + - * / and parentheses are allowed")
    text = _LEADING_ZEROS.sub("", text)
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError("not a well-formed expression") from exc
    numbers: list[Fraction] = []
    walker = _Walker(text, numbers, allow_unary, allow_power)
    try:
        value = walker.value(tree.body)
    except RecursionError as exc:
        raise ExpressionError("expression nested too deeply") from exc
    return Evaluation(value, numbers)


@dataclass
class _Walker:
    source: str
    numbers: list[Fraction]
    allow_unary: bool
    allow_power: bool

    def value(self, node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant):
            return self._literal(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            if not self.allow_unary:
                raise ExpressionError("a sign in front of a number is not allowed")
            operand = self.value(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        raise ExpressionError("only numbers, + - * / and parentheses are allowed")

    def _literal(self, node: ast.Constant) -> Fraction:
        text = ast.get_source_segment(self.source, node) or ""
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError("only numbers are allowed")
        digits = sum(ch.isdigit() for ch in text)
        if digits == 0 or digits > MAX_DIGITS:
            raise ExpressionError("number too long")
        number = Fraction(text)
        self.numbers.append(number)
        return number

    def _binary(self, node: ast.BinOp) -> Fraction:
        left, right = self.value(node.left), self.value(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            if right == 0:
                raise ExpressionError("division by zero")
            return left / right
        if isinstance(op, ast.Pow) and self.allow_power:
            return _power(left, right)
        raise ExpressionError("only + - * / are allowed")


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1 or abs(exponent) > MAX_EXPONENT:
        raise ExpressionError("exponent must be a small whole number")
    if base == 0 and exponent < 0:
        raise ExpressionError("division by zero")
    if abs(base.numerator) > 10**MAX_DIGITS or base.denominator > 10**MAX_DIGITS:
        raise ExpressionError("number too long")
    return base ** int(exponent)


def format_fraction(value: Fraction) -> str:
    """12, -3/4: the shortest exact spelling."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"
