"""Translate a normalized LaTeX answer into a small Python-syntax expression.

The result uses only numbers, single-letter symbols, + - * / ** and a whitelist of
function names; lab.tasks.symbolic parses it with ast (never eval) into sympy. Anything
outside that language raises LatexError, and the caller falls back to string comparison."""

from __future__ import annotations

import re

from lab.tasks.normalize import matching_brace

FUNCTIONS = {
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan",
    "sinh", "cosh", "tanh", "log", "ln", "exp", "sqrt", "root",
}  # fmt: skip
CONSTANTS = {"pi": "pi", "infty": "oo"}
OPERATORS = {"cdot": "*", "times": "*", "div": "/"}
MAX_LENGTH = 300

_COMMAND = re.compile(r"\\([A-Za-z]+)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_WORD = re.compile(r"[A-Za-z]{3,}")


class LatexError(ValueError):
    """Not an expression this translator understands."""


def to_python(latex: str) -> str:
    """'\\frac{\\sqrt{3}}{2}x^2' -> '((sqrt(3))/(2))*x**(2)'."""
    if len(latex) > MAX_LENGTH:
        raise LatexError("too long")
    if _WORD.search(_COMMAND.sub(" ", latex)):
        raise LatexError("contains words")
    tokens = _Translator(latex).tokens()
    return "".join(_with_implicit_products(tokens))


class _Translator:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def tokens(self, end: int | None = None) -> list[str]:
        end = len(self.text) if end is None else end
        out: list[str] = []
        while self.pos < end:
            out += self._next()
        return out

    def _next(self) -> list[str]:
        ch = self.text[self.pos]
        if ch == "\\":
            return self._command()
        if ch == "{":
            return ["(", *self._group(), ")"]
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            return [number.group(0)]
        self.pos += 1
        if ch.isalpha():
            return ["I" if ch == "i" else ch]
        if ch in "+-*/()":
            return [ch]
        if ch == "^":
            return ["**"]
        if ch == " ":
            return []
        raise LatexError(f"unsupported character {ch!r}")

    def _group(self) -> list[str]:
        """The tokens of a {...} group, or of the single next token."""
        self._skip_spaces()
        if self.pos >= len(self.text):
            raise LatexError("missing argument")
        if self.text[self.pos] != "{":
            return self._next()
        close = matching_brace(self.text, self.pos)
        if close is None:
            raise LatexError("unbalanced braces")
        self.pos += 1
        inner = self.tokens(close)
        self.pos = close + 1
        return inner

    def _skip_spaces(self) -> None:
        while self.text.startswith(" ", self.pos):
            self.pos += 1

    def _command(self) -> list[str]:
        match = _COMMAND.match(self.text, self.pos)
        if match is None:
            raise LatexError("stray backslash")
        name = match.group(1)
        self.pos = match.end()
        if name == "frac":
            numerator, denominator = self._group(), self._group()
            return ["((", *numerator, ")/(", *denominator, "))"]
        if name == "sqrt":
            return self._sqrt()
        if name in CONSTANTS:
            return [CONSTANTS[name]]
        if name in OPERATORS:
            return [OPERATORS[name]]
        if name in FUNCTIONS:
            return self._function(name)
        raise LatexError(f"unsupported command \\{name}")

    def _sqrt(self) -> list[str]:
        if self.text.startswith("[", self.pos):
            close = self.text.find("]", self.pos)
            if close < 0:
                raise LatexError("unbalanced brackets")
            self.pos += 1
            degree = self.tokens(close)
            self.pos = close + 1
            return ["root(", *self._group(), ",", *degree, ")"]
        return ["sqrt(", *self._group(), ")"]

    def _function(self, name: str) -> list[str]:
        name = "log" if name == "ln" else name
        self._skip_spaces()
        if self.text.startswith("(", self.pos):
            self.pos += 1
            return [name + "("]  # the matching ")" is still ahead in the text
        if self.text.startswith("^", self.pos):
            raise LatexError("powers of functions are not supported")
        return [name + "(", *self._group(), ")"]


def _with_implicit_products(tokens: list[str]) -> list[str]:
    """2x -> 2*x, x(y+1) -> x*(y+1), (a)(b) -> (a)*(b), 2\\sqrt{3} -> 2*sqrt(3)."""
    out: list[str] = []
    for token in tokens:
        if out and _ends_operand(out[-1]) and _starts_operand(token):
            out.append("*")
        out.append(token)
    return out


def _ends_operand(token: str) -> bool:
    return token[-1].isalnum() or token[-1] == ")"


def _starts_operand(token: str) -> bool:
    return token[0].isalnum() or token[0] in "(."
