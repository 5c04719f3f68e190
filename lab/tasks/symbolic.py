"""Symbolic equivalence with sympy, under a time limit.

sympy can take minutes (or forever) on a nasty expression, and big-integer powers run in
C where no signal reaches them. So comparisons run in one long-lived worker process that
is killed (and later restarted) when a comparison overruns. Where no worker can be started, the
comparison runs here under signal.alarm (main thread only), and otherwise is skipped.

Expressions arrive as text from lab.tasks.latex and are parsed with ast against a
whitelist; nothing is passed to eval() or sympify()."""

from __future__ import annotations

import ast
import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_S = 60.0
SAMPLE_POINTS = (0.37, 1.29, 2.71)
TOLERANCE = 1e-9


def equivalent(a: str, b: str, timeout_s: float, equations: bool = False) -> bool | None:
    """True/False when sympy decides in time, None when it can't (timeout, parse error).

    With equations=True, a and b are the differences of the two sides of two equations,
    which are equivalent when one is a nonzero constant multiple of the other."""
    if timeout_s <= 0:
        return None
    return _WORKER.call(compare_texts, (a, b, equations), timeout_s)


def compare_texts(a: str, b: str, equations: bool = False) -> bool | None:
    """Runs inside the worker. Catches everything: the answer is a bool or None."""
    try:
        left, right = build(a), build(b)
        return _proportional(left, right) if equations else _equal(left, right)
    except Exception:
        return None


# --- building sympy expressions from whitelisted text ----------------------------------


def build(text: str) -> Any:
    import sympy

    functions: dict[str, Callable[..., Any]] = {
        "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot,
        "sec": sympy.sec, "csc": sympy.csc, "arcsin": sympy.asin, "arccos": sympy.acos,
        "arctan": sympy.atan, "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh,
        "log": sympy.log, "exp": sympy.exp, "sqrt": sympy.sqrt, "root": sympy.root,
    }  # fmt: skip
    names = {"pi": sympy.pi, "oo": sympy.oo, "I": sympy.I}
    tree = ast.parse(text, mode="eval")
    return _Builder(text, sympy, functions, names).build(tree.body)


class _Builder:
    def __init__(self, source: str, sympy: Any, functions: dict, names: dict) -> None:
        self.source, self.sympy, self.functions, self.names = source, sympy, functions, names

    def build(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return self.sympy.Rational(ast.get_source_segment(self.source, node))
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            function = self.functions.get(node.func.id)
            if function is not None:
                return function(*(self.build(arg) for arg in node.args))
        raise ValueError(f"not allowed: {type(node).__name__}")

    def _name(self, name: str) -> Any:
        if name in self.names:
            return self.names[name]
        if len(name) == 1 and name.isalpha():
            return self.sympy.Symbol(name)
        raise ValueError(f"unknown name {name}")

    def _binary(self, node: ast.BinOp) -> Any:
        left, right = self.build(node.left), self.build(node.right)
        operations: dict[type, Callable[[Any, Any], Any]] = {
            ast.Add: lambda x, y: x + y,
            ast.Sub: lambda x, y: x - y,
            ast.Mult: lambda x, y: x * y,
            ast.Div: lambda x, y: x / y,
            ast.Pow: lambda x, y: x**y,
        }
        operation = operations.get(type(node.op))
        if operation is None:
            raise ValueError("operator not allowed")
        return operation(left, right)


# --- deciding equality -----------------------------------------------------------------


def _equal(a: Any, b: Any) -> bool:
    import sympy

    if a == b:
        return True
    if a.has(sympy.oo, -sympy.oo, sympy.zoo) or b.has(sympy.oo, -sympy.oo, sympy.zoo):
        return False
    diff = a - b
    values = _samples(diff, diff.free_symbols | a.free_symbols | b.free_symbols)
    if values and any(abs(v) > TOLERANCE * max(1.0, _magnitude(a)) for v in values):
        return False
    if values:
        return True
    return sympy.simplify(diff) == 0


def _proportional(a: Any, b: Any) -> bool:
    import sympy

    symbols = a.free_symbols | b.free_symbols
    ratios = _samples(a / b, symbols) if b != 0 else []
    if not ratios or any(abs(r) < TOLERANCE for r in ratios):
        return bool(sympy.simplify(a - b) == 0)
    return all(abs(r - ratios[0]) <= TOLERANCE * max(1.0, abs(ratios[0])) for r in ratios)


def _samples(expression: Any, symbols: set) -> list[complex]:
    """Values of the expression at a few fixed points; points where it is undefined are
    left out."""
    ordered = sorted(symbols, key=str)
    values = []
    for shift, point in enumerate(SAMPLE_POINTS):
        substitution = {s: point + 0.113 * i + shift for i, s in enumerate(ordered)}
        try:
            value = complex(expression.evalf(30, subs=substitution))
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            continue
        if value == value and abs(value) != float("inf"):  # not NaN, not infinite
            values.append(value)
    return values


def _magnitude(expression: Any) -> float:
    try:
        return abs(complex(expression.evalf(15, subs=dict.fromkeys(expression.free_symbols, 1.3))))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return 1.0


# --- the time-limited worker -----------------------------------------------------------


def serve() -> None:
    """The worker's loop: one JSON request per line in, one JSON result per line out."""
    import sympy  # noqa: F401  (imported before the first timed comparison)

    for line in sys.stdin:
        request = json.loads(line)
        result: bool | None
        if request.get("ping"):
            result = True
        else:
            result = compare_texts(request["a"], request["b"], request.get("equations", False))
        sys.stdout.write(json.dumps({"result": result}) + "\n")
        sys.stdout.flush()


class _Timeout(BaseException):  # not an Exception, so compare_texts can't swallow it
    pass


class _Worker:
    """A child Python process (not multiprocessing: that would re-import the caller's
    __main__, e.g. a Streamlit page, in the child)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._owner = os.getpid()
        self._broken = False
        self._lock = threading.Lock()

    def call(self, function: Callable[..., Any], args: tuple, timeout_s: float) -> Any:
        if os.getpid() != self._owner:  # a forked copy: that worker belongs to the parent
            self._process, self._owner, self._lock = None, os.getpid(), threading.Lock()
        with self._lock:
            if self._start() is None:
                return run_with_alarm(function, args, timeout_s)
            a, b, equations = args
            reply = self._ask({"a": a, "b": b, "equations": equations}, timeout_s)
            return None if reply is None else reply.get("result")

    def _start(self) -> subprocess.Popen[str] | None:
        if self._process is not None and self._process.poll() is None:
            return self._process
        if self._broken:
            return None
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", "from lab.tasks.symbolic import serve; serve()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        except OSError:
            self._broken = True
            return None
        if self._ask({"ping": True}, STARTUP_TIMEOUT_S) is None:
            self._broken = True
            return None
        return self._process

    def _ask(self, request: dict, timeout_s: float) -> dict | None:
        process = self._process
        if process is None or process.stdin is None or process.stdout is None:
            return None
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], timeout_s)
            line = process.stdout.readline() if ready else ""
            if line:
                return json.loads(line)
        except (OSError, ValueError):
            pass
        self.stop()  # overran or died: the next call starts a fresh one
        return None

    def stop(self) -> None:
        if self._process is not None and os.getpid() == self._owner:
            self._process.kill()
            self._process.wait()
            self._process = None


def run_with_alarm(function: Callable[..., Any], args: tuple, timeout_s: float) -> Any:
    """The fallback: run here, interrupted by SIGALRM; None when that is not possible."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        return None

    def on_alarm(signum: int, frame: Any) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return function(*args)
    except _Timeout:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_WORKER = _Worker()
atexit.register(_WORKER.stop)
