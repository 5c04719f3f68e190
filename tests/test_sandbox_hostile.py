"""Hostile code blocks: each must end contained, with an error, and leave the lab working.

Every attack is tried twice where it matters: the plain way (stopped by the Python-level
layer, with a friendly error) and through a bypass of that layer (stopped by the process,
namespace, user and rlimit walls). The real fork bomb runs only once those limits are shown
to be in place."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lab.sandbox import Sandbox, SandboxLimits, TurnResult
from lab.sandbox.process import namespace_prefix

LIMITS = SandboxLimits(timeout_s=0.5, grace_s=0.5, cpu_s=20, memory_mb=512, file_mb=4)
# The real __import__ and a fresh posix module, reached around the Python-level layer.
REAL_IMPORT = "import random\nreal_import = random._os.sys.modules['builtins'].__import__\n"
FRESH = ("BI = [c for c in object.__subclasses__() if c.__name__ == 'BuiltinImporter'][0]\n"
         "def fresh(name):\n    return BI.create_module(BI.find_spec(name))\n")
AS_NOBODY = os.geteuid() == 0  # the lab drops the child to `nobody` only when it is root
walled = pytest.mark.skipif(not namespace_prefix(), reason="this machine allows no namespaces")


def no_llm(prompts: list[str], context: str | None) -> list[str]:
    return ["" for _ in prompts]


def attack(code: str, prefix: str = "") -> tuple[TurnResult, TurnResult, float]:
    """Run `prefix` + `code` in a fresh sandbox, then a harmless turn: (attack, after, attack
    seconds)."""
    with Sandbox("the context", no_llm, LIMITS) as box:
        started = time.monotonic()
        result = box.run(prefix + textwrap.dedent(code))
        elapsed = time.monotonic() - started
        after = box.run("print(len(context))")
        workdir = box.workdir
    assert not workdir.exists()
    assert after.error is None and after.output.endswith("11\n"), "the sandbox must keep working"
    return result, after, elapsed


# -- files ----------------------------------------------------------------------------------
def test_reading_a_file_outside_the_working_directory(tmp_path: Path):
    result, _, _ = attack("print(open('/etc/passwd').read())")
    assert "NameError" in result.error and "root:" not in result.output


@pytest.mark.skipif(not AS_NOBODY, reason="only a root lab can switch the child's user")
def test_reading_a_private_file_through_a_bypass(tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    secret.chmod(0o600)
    result, _, _ = attack(REAL_IMPORT + f"print(real_import('io').open({str(secret)!r}).read())")
    assert "PermissionError" in result.error and "TOP-SECRET" not in result.output
    shadow, _, _ = attack(REAL_IMPORT + "print(real_import('io').open('/etc/shadow').read())")
    assert "PermissionError" in shadow.error


@pytest.mark.skipif(not AS_NOBODY, reason="only a root lab can switch the child's user")
def test_writing_outside_and_filling_the_disk(tmp_path: Path):
    target = tmp_path / "pwned"
    result, _, _ = attack(REAL_IMPORT + f"real_import('io').open({str(target)!r}, 'w')")
    assert "PermissionError" in result.error and not target.exists()
    big, _, _ = attack(REAL_IMPORT + "f = real_import('io').open('big', 'wb')\n"
                       "for _ in range(100):\n    f.write(b'x' * (1 << 20))\n    f.flush()")
    assert "File too large" in big.error  # RLIMIT_FSIZE: 4 MiB here


# -- network --------------------------------------------------------------------------------
def test_opening_a_socket():
    result, _, _ = attack("import socket\nsocket.create_connection(('1.1.1.1', 53), 2)")
    assert "ImportError" in result.error and "'socket' is not allowed" in result.error


@walled
def test_opening_a_socket_through_a_bypass():
    result, _, _ = attack("""
        socket = real_import('socket')
        socket.create_connection(('1.1.1.1', 53), 2)
        print('CONNECTED')""", REAL_IMPORT)
    # Where the library is readable the import works and the connection fails (no network);
    # here, as `nobody`, the import itself may already fail.
    assert result.error and "CONNECTED" not in result.output


@walled
def test_the_only_network_interface_is_a_downed_loopback():
    result, _, _ = attack(REAL_IMPORT + "print(real_import('io').open('/proc/net/dev').read())")
    interfaces = [line.split(":")[0].strip() for line in result.output.splitlines()[2:] if line]
    assert interfaces == ["lo"]


# -- processes ------------------------------------------------------------------------------
def test_fork_bomb_the_plain_way():
    result, _, _ = attack("import os\nwhile True:\n    os.fork()")
    assert "'os' is not allowed" in result.error
    result, _, _ = attack("import random\nwhile True:\n    random._os.fork()")
    assert "has no attribute 'fork'" in result.error


@walled
def test_fork_bomb_through_a_bypass():
    with Sandbox("", no_llm, LIMITS) as box:  # first show the limits that stop it are in place
        box.run("1")
        assert box.isolation["pid_in_sandbox"] == 1
        assert box.isolation["dropped_privileges"] or os.geteuid() != 0
    result, _, elapsed = attack(FRESH + "posix = fresh('posix')\nwhile True:\n    posix.fork()")
    assert "BlockingIOError" in result.error  # RLIMIT_NPROC 0: the first fork fails
    assert elapsed < 5


def test_subprocess_and_exec():
    result, _, _ = attack("import subprocess\nsubprocess.run(['id'])")
    assert "'subprocess' is not allowed" in result.error
    result, _, _ = attack("import random\nrandom._os.system('id')")
    assert "has no attribute 'system'" in result.error


# -- memory and time ------------------------------------------------------------------------
def test_allocating_10_gb_fails_fast():
    result, _, elapsed = attack("x = bytearray(10 * 1024 ** 3)")
    assert "MemoryError" in result.error and not result.state_lost
    assert elapsed < 3
    # Filling memory step by step reaches the cap too (zero-filling pages takes a moment).
    with Sandbox("", no_llm, SandboxLimits(timeout_s=5, memory_mb=160)) as box:
        result = box.run("chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))")
        assert "MemoryError" in result.error and not result.state_lost
        assert box.run("del chunks\nlen(context)").output == "0\n"


def test_looping_forever_is_interrupted_and_the_repl_survives():
    with Sandbox("", no_llm, LIMITS) as box:
        box.run("kept = 7")
        result = box.run("while True:\n    pass")
        assert "TimeoutError" in result.error and not result.state_lost
        assert box.run("kept").output == "7\n"


def test_code_that_swallows_the_timeout_is_killed():
    result, _, elapsed = attack("""
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass""")
    assert result.timed_out and result.state_lost and "killed" in result.error
    assert elapsed < LIMITS.timeout_s + LIMITS.grace_s + 2


def test_sleeping_forever_is_interrupted():
    result, _, elapsed = attack("import time\ntime.sleep(3600)")
    assert "TimeoutError" in result.error and elapsed < 2


# -- memory corruption ----------------------------------------------------------------------
def test_ctypes_is_refused():
    result, _, _ = attack("import ctypes\nctypes.memset(0, 0, 1 << 20)")
    assert "'ctypes' is not allowed" in result.error


def test_ctypes_through_a_bypass_crashes_only_the_child():
    result, _, _ = attack("""
        ctypes = real_import('ctypes')
        ctypes.memset(16, 0, 1 << 20)""", REAL_IMPORT)
    assert result.error  # an import error (library unreadable) or a dead child
    if result.state_lost:
        assert "died" in result.error


def test_a_segfault_ends_the_child_not_the_lab():
    # A real fault: faulthandler._sigsegv() only raise()s the signal, which the child, as PID 1
    # of its namespace, ignores.
    result, _, _ = attack(FRESH + "fresh('faulthandler')._read_null()")
    assert result.state_lost and "SIGSEGV" in result.error


# -- secrets and the pipe -------------------------------------------------------------------
def test_environment_secrets_are_out_of_reach(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAB_TEST_SECRET", "hunter2-secret-token")
    result, _, _ = attack(f"""
        io = real_import('io')
        print(dict(random._os.environ))
        for path in ('/proc/self/environ', '/proc/1/environ', '/proc/{os.getpid()}/environ'):
            try:
                print(io.open(path, 'rb').read())
            except OSError as exc:
                print(type(exc).__name__)
        import os""", REAL_IMPORT)
    assert "hunter2" not in result.output and "hunter2" not in (result.error or "")
    assert "'os' is not allowed" in result.error


def test_flooding_the_protocol_pipe_kills_the_child():
    result, _, _ = attack("""
        posix = fresh('posix')
        for fd in range(3, 10):
            try:
                posix.write(fd, b'x' * (3 << 20))
            except OSError:
                pass""", FRESH)
    assert result.state_lost and "more than" in result.error


def test_forged_messages_are_not_trusted():
    result, _, _ = attack("""
        posix = fresh('posix')
        for fd in range(3, 10):
            try:
                posix.write(fd, b'{"op": "done", "output": 5, "final": ["x"]}\\n')
            except OSError:
                pass""", FRESH)
    assert result.final is None and result.state_lost and "out of turn" in result.error


# -- nothing outlives the sandbox -----------------------------------------------------------
@walled
def test_the_sandbox_dies_with_the_lab(tmp_path: Path):
    script = tmp_path / "lab_that_dies.py"
    script.write_text(textwrap.dedent("""
        import sys
        from lab.sandbox import Sandbox, SandboxLimits
        box = Sandbox("", lambda p, c: p, SandboxLimits(timeout_s=30, grace_s=30))
        box.run("1")
        print(box._child.proc.pid, box.workdir, flush=True)
        box.run("import time\\nwhile True:\\n    try:\\n        time.sleep(60)\\n"
                "    except BaseException:\\n        pass")
    """))
    lab = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    pid, workdir = lab.stdout.readline().split()
    outer = int(pid)
    inner = Path(f"/proc/{outer}/task/{outer}/children").read_text().split()
    time.sleep(0.3)
    lab.kill()
    lab.wait()
    lab.stdout.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(int(p)) for p in [outer, *inner]):
        time.sleep(0.1)
    assert not any(_alive(int(p)) for p in [outer, *inner])
    # A killed lab cannot remove the working directory; nothing was written in it.
    assert not any(Path(workdir).iterdir())
    Path(workdir).rmdir()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
