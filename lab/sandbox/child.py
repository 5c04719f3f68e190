"""The sandbox's child process: runs the model's code one turn at a time, behind the walls that
lab.sandbox.process sets up (lab/sandbox/__init__.py says what they are and are not).

It is started as `python -I -S -B child.py` with a scrubbed environment, so only the standard
library can be imported; it must never import the lab. It speaks JSON lines: the parent writes
on our stdin and we answer on our stdout, both moved to private descriptors before any
untrusted code runs. Order of events: read `init`, pre-import the allowed modules, lock down
(limits, user, prctl, scrubbed `os`), say `ready`, then serve `exec` requests until stdin closes.
"""

from __future__ import annotations

import ast
import json
import linecache
import os
import resource
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

ALLOWED_MODULES = (
    "array", "base64", "bisect", "collections", "copy", "csv", "dataclasses", "datetime",
    "decimal", "difflib", "enum", "fractions", "functools", "hashlib", "heapq", "itertools",
    "json", "math", "operator", "pprint", "random", "re", "statistics", "string", "textwrap",
    "time", "typing", "unicodedata",
)
# Loaded lazily by allowed modules; imported up front because, once the child has dropped to an
# unprivileged user, the interpreter's library directory may no longer be readable.
_PRELOADED = ("_strptime", "encodings.ascii", "encodings.latin_1", "encodings.utf_16")
# Taken out of `os` and `posix` so that modules which import os (random._os, ...) do not hand
# the code a way to start processes, signal, change identity or touch files. Bypassable.
_REMOVED_OS = (
    "fork", "forkpty", "register_at_fork", "system", "popen", "execl", "execle", "execlp",
    "execlpe", "execv", "execve", "execvp", "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe",
    "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp", "kill", "killpg",
    "setsid", "setpgid", "setpgrp", "setuid", "seteuid", "setreuid", "setresuid", "setgid",
    "setegid", "setregid", "setresgid", "setgroups", "chroot", "chdir", "fchdir", "open",
    "openpty", "remove", "unlink", "rmdir", "removedirs", "rename", "renames", "replace", "chmod",
    "fchmod", "lchmod", "chown", "fchown", "lchown", "listdir", "scandir", "symlink", "link",
    "mkdir", "makedirs", "mkfifo", "mknod", "truncate", "ftruncate", "putenv", "unsetenv",
    "pidfd_open", "nice", "setpriority", "sched_setaffinity", "plock",
)
_BLOCKED_BUILTINS = ("open", "input", "breakpoint", "help", "exit", "quit", "__import__")
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS = 1, 38
_ERROR_CHARS = 2000
_FINAL_CHARS = 1000


class TurnTimeout(BaseException):
    """Raised into the code when its turn runs out of time or CPU (a BaseException, so that
    `except Exception` in the code does not swallow it; the parent's kill is the real limit)."""


class LLMError(Exception):
    """The parent refused or failed a model call (budget, call limit, prompt too long)."""


class Channel:
    """JSON lines to and from the parent, on descriptors the code is not handed."""

    def __init__(self) -> None:
        self._in = os.fdopen(os.dup(0), "rb")
        self._out = os.dup(1)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(2, 1)  # stray writes to fd 1 land in the parent's diagnostics file
        os.close(devnull)

    def read(self) -> dict[str, Any] | None:
        line = self._in.readline()
        return json.loads(line) if line else None

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self._out, data):]


class CappedOutput:
    """A stdout that keeps the first `cap` characters and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap, self.size, self.dropped = cap, 0, 0
        self.parts: list[str] = []

    def write(self, text: Any) -> int:
        text = str(text)
        room = max(0, self.cap - self.size)
        if room:
            self.parts.append(text[:room])
            self.size += min(room, len(text))
        self.dropped += max(0, len(text) - room)
        return len(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        cut = f"\n... [{self.dropped} more characters cut]" if self.dropped else ""
        return "".join(self.parts) + cut


class Repl:
    """The code's world: `context`, `llm`, `llm_batch`, `final`, and variables across turns."""

    def __init__(self, channel: Channel, context: str, output_chars: int) -> None:
        self.channel = channel
        self.output_chars = output_chars
        self.final: str | None = None
        self.in_code = False
        self.turn = 0
        self.nonce = ""  # the parent's tag for this turn, echoed in every message
        self.namespace: dict[str, Any] = {
            "__builtins__": safe_builtins(), "__name__": "__repl__", "context": context,
            "llm": self.llm, "llm_batch": self.llm_batch, "final": self.set_final,
        }

    # -- what the code calls ------------------------------------------------------------------
    def llm(self, prompt: Any, context: Any = None) -> str:
        """Ask the model `prompt` (about `context`, when given); returns its answer."""
        return self._ask([str(prompt)], None if context is None else str(context))[0]

    def llm_batch(self, prompts: Any) -> list[str]:
        """Ask the model several prompts in one round trip; answers in the same order."""
        prompts = [str(p) for p in prompts]
        return self._ask(prompts, None) if prompts else []

    def set_final(self, answer: Any) -> None:
        """Set the final answer; the lab ends the run after this turn."""
        self.final = str(answer).strip()[:_FINAL_CHARS]

    def _ask(self, prompts: list[str], context: str | None) -> list[str]:
        # Model time is the parent's, not the code's: the turn's timer stops while we wait.
        remaining = signal.setitimer(signal.ITIMER_REAL, 0)[0] if self.in_code else 0.0
        try:
            self.channel.send({"op": "llm", "prompts": prompts, "context": context,
                               "turn": self.nonce})
            reply = self.channel.read()
        finally:
            if remaining > 0:
                signal.setitimer(signal.ITIMER_REAL, remaining)
        if reply is None:
            os._exit(0)  # the parent is gone
        if not reply.get("ok"):
            raise LLMError(str(reply.get("error")))
        return [str(a) for a in reply["answers"]]

    # -- one turn ---------------------------------------------------------------------------
    def run(self, code: str, timeout_s: float, nonce: str) -> dict[str, Any]:
        self.turn += 1
        self.nonce = nonce
        filename = f"<turn {self.turn}>"
        output = CappedOutput(self.output_chars)
        error = None
        sys.stdout = sys.stderr = output
        try:
            body, last = compile_turn(code, filename)
            self._arm(timeout_s)
            try:
                exec(body, self.namespace)
                value = eval(last, self.namespace) if last is not None else None
                if value is not None:
                    output.write(repr(value) + "\n")
            finally:
                self._disarm()
        except TurnTimeout as exc:
            error = f"TimeoutError: {exc}"
        except BaseException as exc:  # noqa: BLE001 - everything the code raises is its output
            error = format_error(exc)
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        return {"op": "done", "output": output.text(), "error": error, "final": self.final,
                "turn": nonce}

    def _arm(self, timeout_s: float) -> None:
        self.in_code = True
        signal.setitimer(signal.ITIMER_REAL, timeout_s)

    def _disarm(self) -> None:
        self.in_code = False
        signal.setitimer(signal.ITIMER_REAL, 0)

    def on_signal(self, signum: int, frame: object) -> None:
        if not self.in_code:
            return
        if signum == signal.SIGXCPU:
            raise TurnTimeout("the sandbox's CPU time is used up")
        raise TurnTimeout("this turn ran out of time (model calls are not counted)")


def compile_turn(code: str, filename: str) -> tuple[Any, Any]:
    """The code as a module, and its last line apart when it is an expression (shown like a
    REPL shows it)."""
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    tree = ast.parse(code, filename)
    last = None
    if tree.body and isinstance(final := tree.body[-1], ast.Expr):
        tree.body.pop()
        last = compile(ast.Expression(final.value), filename, "eval")
    return compile(tree, filename, "exec"), last


def format_error(exc: BaseException) -> str:
    try:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename.startswith("<turn")]
        lines = traceback.format_list(frames[-3:]) + traceback.format_exception_only(type(exc), exc)
        return "".join(lines)[-_ERROR_CHARS:]
    except BaseException:  # noqa: BLE001 - e.g. MemoryError while formatting
        return type(exc).__name__


def safe_builtins() -> dict[str, Any]:
    import builtins

    allowed = {k: v for k, v in vars(builtins).items() if k not in _BLOCKED_BUILTINS}
    allowed["__import__"] = guarded_import(builtins.__import__)
    return allowed


def guarded_import(real_import: Callable[..., Any]) -> Callable[..., Any]:
    def sandbox_import(name: str, globals: Any = None, locals: Any = None,  # noqa: A002
                       fromlist: Any = (), level: int = 0) -> Any:
        if level or (name.partition(".")[0] not in ALLOWED_MODULES and name not in _PRELOADED):
            raise ImportError(f"import of {name!r} is not allowed in the sandbox; allowed: "
                              + ", ".join(ALLOWED_MODULES))
        return real_import(name, globals, locals, fromlist, level)

    return sandbox_import


# -- lock-down, before any untrusted code -----------------------------------------------------
def lock_down(limits: dict[str, Any], drop_uid: int | None) -> dict[str, Any]:
    """Apply the limits, drop to an unprivileged user, set prctl flags, scrub `os`; returns
    what was achieved, for the trace."""
    prctl = load_prctl()
    set_limits(limits)
    dropped = drop_privileges(drop_uid) if drop_uid is not None else False
    no_new_privs = set_prctl_flags(prctl)
    scrub_os()
    return {"uid": os.getuid(), "dropped_privileges": dropped, "no_new_privs": no_new_privs,
            "pid_in_sandbox": os.getpid()}


def set_limits(limits: dict[str, Any]) -> None:
    cpu = max(2, int(limits["cpu_s"]))
    for name, value in (
        ("RLIMIT_AS", int(limits["memory_mb"]) << 20),
        ("RLIMIT_FSIZE", int(limits["file_mb"]) << 20),
        ("RLIMIT_NOFILE", int(limits["open_files"])),
        ("RLIMIT_CORE", 0),
        ("RLIMIT_NPROC", 0),  # no new processes or threads (ignored while we are still root)
    ):
        resource.setrlimit(getattr(resource, name), (value, value))
    # A soft limit one second before the hard one: SIGXCPU first, SIGKILL at the hard limit.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu - 1, cpu))


def drop_privileges(uid: int) -> bool:
    try:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    except OSError:
        return False
    return os.getuid() == uid


def load_prctl() -> Callable[..., int] | None:
    """libc's prctl through ctypes, loaded while the library is readable; ctypes is then
    forgotten (re-importing it is one of the known bypasses)."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] in ("ctypes", "_ctypes")]:
            del sys.modules[name]


def set_prctl_flags(prctl: Callable[..., int] | None) -> bool:
    """No privilege gain through exec (setuid binaries), and die with our parent (setuid
    cleared the parent-death signal that `unshare --kill-child` set)."""
    if prctl is None:
        return False
    prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    return prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0


def scrub_os() -> None:
    import posix

    for module in (os, posix):
        for name in _REMOVED_OS:
            if hasattr(module, name):
                delattr(module, name)
    for key in list(os.environ):
        if key not in ("PATH", "LANG"):
            del os.environ[key]


def main() -> None:
    channel = Channel()
    init = channel.read()
    if not init or init.get("op") != "init":
        return
    for name in ALLOWED_MODULES + _PRELOADED:
        __import__(name)
    isolation = lock_down(init["limits"], init.get("drop_uid"))
    repl = Repl(channel, str(init["context"]), int(init["limits"]["output_chars"]))
    signal.signal(signal.SIGALRM, repl.on_signal)
    signal.signal(signal.SIGXCPU, repl.on_signal)
    channel.send({"op": "ready", "isolation": isolation})
    while (message := channel.read()) is not None:
        if message.get("op") == "exec":
            channel.send(repl.run(str(message["code"]), float(message["timeout_s"]),
                                  str(message["turn"])))


if __name__ == "__main__":
    main()
