"""The parent side of the sandbox: starts the child behind its walls, runs turns with a wall-clock
limit, serves the child's `llm()` requests, and kills and cleans up (see lab/sandbox/__init__.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

CHILD = Path(__file__).with_name("child.py")
NOBODY = 65534  # the unprivileged user the child becomes when the lab runs as root
MAX_MESSAGE = 1 << 20  # bytes in one message from the child; more is a protocol violation
MAX_PROMPTS = 64  # prompts in one llm_batch round trip
START_TIMEOUT_S = 20.0
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

# (prompts, context or None) -> one answer per prompt; raise LLMRefused to refuse politely.
LLMHandler = Callable[[list[str], str | None], list[str]]


class SandboxError(RuntimeError):
    """The sandbox could not start or broke its protocol; the message is for the user."""


class LLMRefused(Exception):  # noqa: N818 - a refusal the code sees as LLMError
    """Raised by an LLMHandler: the code's llm() call fails with this message."""


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 5.0  # wall-clock seconds of code per turn (model calls not counted)
    grace_s: float = 1.0  # after the child's own timer, before the parent kills it
    cpu_s: int = 60  # CPU seconds over the child's whole life (turns restart it when spent)
    memory_mb: int = 512  # address space of the child
    output_chars: int = 2000  # printed output kept per turn
    file_mb: int = 8  # largest file the child may write
    open_files: int = 32


@dataclass
class TurnResult:
    output: str = ""
    error: str | None = None
    final: str | None = None  # set by the code's final(...)
    timed_out: bool = False
    state_lost: bool = False  # the child died: the next turn starts a fresh one, variables gone
    code_s: float = 0.0  # wall time of the turn minus time spent serving model calls
    llm_s: float = 0.0


@dataclass
class _Child:
    proc: subprocess.Popen[bytes]
    diagnostics: BinaryIO
    buffer: bytearray = field(default_factory=bytearray)


class _Dead(Exception):  # noqa: N818
    """The child died or broke the protocol; the message says how."""


@functools.cache
def namespace_prefix() -> tuple[str, ...]:
    """The command prefix that walls the child in: `setpriv --pdeathsig KILL` (it dies with
    the lab's thread that started it) and `unshare` with new network, PID and mount namespaces
    (no network; it cannot see or outlive its own processes). The first variant this machine
    allows, or () where it allows none."""
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    if unshare is None:
        return ()
    walls = [unshare, "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        walls.insert(1, "--map-root-user")  # unprivileged: inside a user namespace
    candidates = [[setpriv, "--pdeathsig", "KILL", *walls]] if setpriv else []
    for prefix in [*candidates, walls]:
        try:
            probe = subprocess.run([*prefix, sys.executable, "-I", "-S", "-c", "pass"],
                                   env=_ENV, capture_output=True, timeout=15, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return tuple(prefix)
    return ()


class Sandbox:
    """One REPL in a child process; variables live across `run` calls until the child dies.

        with Sandbox(context, on_llm, SandboxLimits(timeout_s=2)) as box:
            result = box.run("print(len(context))")
    """

    def __init__(self, context: str, on_llm: LLMHandler, limits: SandboxLimits | None = None):
        self.context = context
        self.on_llm = on_llm
        self.limits = limits or SandboxLimits()
        self.isolation: dict[str, Any] = {}
        self.starts = 0
        self._child: _Child | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="lab-sandbox-"))
        self._finalizer = weakref.finalize(self, _cleanup, self._dir, [])

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def workdir(self) -> Path:
        return self._dir

    # -- turns ----------------------------------------------------------------------------------
    def run(self, code: str) -> TurnResult:
        """Run one code block; the code's errors, timeouts and crashes come back in the result."""
        fresh = self._child is None and self.starts > 0
        child = self._child or self._start()
        started = time.monotonic()
        result = TurnResult()
        # Every message of this turn must carry its nonce: stale or forged ones kill the child.
        nonce = secrets.token_hex(8)
        try:
            self._send(child, {"op": "exec", "code": code, "timeout_s": self.limits.timeout_s,
                               "turn": nonce}, started + START_TIMEOUT_S)
            self._converse(child, result, started, nonce)
        except _Dead as dead:
            self._kill()
            result.error, result.state_lost = str(dead), True
        except BaseException:
            self._kill()  # a cancelled run or a failing handler: never leave the child behind
            raise
        result.code_s = max(0.0, time.monotonic() - started - result.llm_s)
        if fresh:
            result.output = "(a fresh sandbox: variables from earlier turns are gone)\n" + \
                result.output
        return result

    def _converse(self, child: _Child, result: TurnResult, started: float, nonce: str) -> None:
        deadline = started + self.limits.timeout_s + self.limits.grace_s
        while True:
            try:
                message = self._receive(child, deadline + result.llm_s)
            except TimeoutError:
                self._kill()
                result.timed_out, result.state_lost = True, True
                result.error = (f"TimeoutError: the turn ran past {self.limits.timeout_s:g} s; "
                                "the sandbox was killed")
                return
            if message.get("turn") != nonce:
                raise _Dead("the sandbox sent a message out of turn")
            if message.get("op") == "done":
                self._read_done(message, result)
                return
            if message.get("op") != "llm":
                raise _Dead(f"the sandbox sent an unknown message {str(message.get('op'))[:40]!r}")
            served = time.monotonic()
            reply = self._serve(message)
            result.llm_s += time.monotonic() - served
            self._send(child, reply, time.monotonic() + START_TIMEOUT_S)

    def _serve(self, message: dict[str, Any]) -> dict[str, Any]:
        prompts, context = message.get("prompts"), message.get("context")
        if (not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts)
                or not isinstance(context, str | None)):
            return {"op": "reply", "ok": False, "error": "llm() takes text prompts"}
        if len(prompts) > MAX_PROMPTS:
            return {"op": "reply", "ok": False,
                    "error": f"at most {MAX_PROMPTS} prompts per llm_batch call"}
        try:
            answers = self.on_llm(prompts, context)
        except LLMRefused as refused:
            return {"op": "reply", "ok": False, "error": str(refused)}
        return {"op": "reply", "ok": True, "answers": [str(a) for a in answers]}

    def _read_done(self, message: dict[str, Any], result: TurnResult) -> None:
        """Take the child's report without trusting its types or sizes."""
        cap = self.limits.output_chars + 200
        output, error, final = message.get("output"), message.get("error"), message.get("final")
        result.output = output[:cap] if isinstance(output, str) else ""
        result.error = error[:cap] if isinstance(error, str) else None
        result.final = final[:cap] if isinstance(final, str) else None

    # -- the child process ----------------------------------------------------------------------
    def _start(self) -> _Child:
        if os.geteuid() == 0:
            os.chown(self._dir, NOBODY, NOBODY)
        prefix = namespace_prefix()
        diagnostics = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _kill_child
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-I", "-S", "-B", str(CHILD)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=diagnostics, cwd=self._dir,
            env=_ENV, start_new_session=True, close_fds=True,
        )
        child = _Child(proc, diagnostics)
        self._child = child
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _cleanup, self._dir, [child])
        self.starts += 1
        limits = {k: v for k, v in asdict(self.limits).items() if k not in ("timeout_s", "grace_s")}
        init = {"op": "init", "context": self.context, "limits": limits,
                "drop_uid": NOBODY if os.geteuid() == 0 else None}
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            self._send(child, init, deadline)
            ready = self._receive(child, deadline)
        except (_Dead, TimeoutError) as exc:
            self._kill()
            raise SandboxError(f"the sandbox did not start: {exc}") from None
        self.isolation = {"namespaces": bool(prefix), "dies_with_parent": "--pdeathsig" in prefix,
                          **dict(ready.get("isolation") or {})}
        return child

    def _send(self, child: _Child, message: dict[str, Any], deadline: float) -> None:
        data = memoryview((json.dumps(message) + "\n").encode())
        fd = child.proc.stdin.fileno()  # type: ignore[union-attr]
        os.set_blocking(fd, False)
        while data:
            if not _wait(fd, select.POLLOUT, deadline):
                raise _Dead("the sandbox stopped reading its input")
            try:
                data = data[os.write(fd, data):]
            except BlockingIOError:
                continue
            except OSError as exc:  # BrokenPipeError: it died
                raise _Dead(self._death()) from exc

    def _receive(self, child: _Child, deadline: float) -> dict[str, Any]:
        """The next message; TimeoutError at the deadline, _Dead when it died or misbehaved."""
        fd = child.proc.stdout.fileno()  # type: ignore[union-attr]
        while b"\n" not in child.buffer:
            if not _wait(fd, select.POLLIN, deadline):
                raise TimeoutError
            chunk = os.read(fd, 65536)
            if not chunk:
                raise _Dead(self._death())
            child.buffer += chunk
            if len(child.buffer) > MAX_MESSAGE:
                raise _Dead(f"the sandbox sent more than {MAX_MESSAGE} bytes in one message")
        line, _, rest = bytes(child.buffer).partition(b"\n")
        child.buffer = bytearray(rest)
        try:
            message = json.loads(line)
        except ValueError:
            raise _Dead("the sandbox sent something that is not a message") from None
        if not isinstance(message, dict):
            raise _Dead("the sandbox sent something that is not a message")
        return message

    def _death(self) -> str:
        """Why the child is gone, in words, with the tail of what it wrote to stderr."""
        child = self._child
        if child is None:
            return "the sandbox process is gone"
        try:
            code = child.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the sandbox process stopped answering"
        how = _describe_exit(code)
        child.diagnostics.seek(0, os.SEEK_END)
        size = child.diagnostics.tell()
        child.diagnostics.seek(max(0, size - 600))
        tail = child.diagnostics.read().decode(errors="replace").strip()
        return f"the sandbox process died ({how})" + (f": {tail[-400:]}" if tail else "")

    def _kill(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            _kill_child(child)

    def close(self) -> None:
        """Kill the child (and everything it started) and remove the working directory."""
        self._kill()
        self._finalizer()


def _wait(fd: int, event: int, deadline: float) -> bool:
    poller = select.poll()
    poller.register(fd, event | select.POLLHUP | select.POLLERR)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if poller.poll(remaining * 1000):
            return True


def _describe_exit(code: int) -> str:
    number = -code if code < 0 else code - 128 if code > 128 else 0
    if number:
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:
            pass
    return f"exit status {code}"


def _kill_child(child: _Child) -> None:
    """SIGKILL the whole process group. The child is PID 1 of its own PID namespace, so its
    death takes every process it started, even ones that left the group."""
    pid = child.proc.pid
    for inner in _children_of(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(inner, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.proc.wait(timeout=5)
    for stream in (child.proc.stdin, child.proc.stdout, child.diagnostics):
        if stream is not None:
            stream.close()


def _children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _cleanup(workdir: Path, children: list[_Child]) -> None:
    for child in children:
        if child.proc.returncode is None:
            _kill_child(child)
    shutil.rmtree(workdir, ignore_errors=True)
