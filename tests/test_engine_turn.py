"""One engine computing at a time on the machine: the lock file llama.cpp engines hold for
each request is taken across processes, and can be turned off."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from lab.engine import turn


def hold_in_another_process(seconds: float) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import time
        from lab.engine.turn import TurnLock
        lock = TurnLock()
        with lock:
            print("held", flush=True)
            time.sleep({seconds})
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_request_waits_for_another_process_engine():
    holder = hold_in_another_process(1.0)
    start = time.monotonic()
    with turn.TurnLock():
        waited = time.monotonic() - start
    holder.wait(10)
    assert waited >= 0.5


def test_the_lock_can_be_turned_off(monkeypatch: pytest.MonkeyPatch):
    holder = hold_in_another_process(2.0)
    monkeypatch.setenv("LAB_ENGINE_LOCK", "0")
    start = time.monotonic()
    with turn.TurnLock():
        waited = time.monotonic() - start
    holder.wait(10)
    assert waited < 0.5
