"""One engine computing at a time on the machine, in the order they asked: the queue
llama.cpp engines join for each request is shared across processes, served first come first
served, survives a holder or a waiter that dies, and can be turned off."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lab.engine import turn


@pytest.fixture(autouse=True)
def own_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A queue of the test's own, so that a lab running on this machine is not in it."""
    monkeypatch.setenv("LAB_ENGINE_LOCK_DIR", str(tmp_path / "queue"))
    monkeypatch.delenv("LAB_ENGINE_LOCK", raising=False)
    return tmp_path / "queue"


def in_another_process(seconds: float, label: str = "held") -> subprocess.Popen[str]:
    """A process that waits for its turn, prints `label` when it has it, holds it `seconds`."""
    code = textwrap.dedent(f"""
        import time
        from lab.engine.turn import TurnLock
        print("asking", flush=True)
        with TurnLock():
            print({label!r}, time.monotonic(), flush=True)
            time.sleep({seconds})
            print("releasing", time.monotonic(), flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "asking"
    return process


def wait_for_tickets(queue: Path, count: int) -> None:
    deadline = time.monotonic() + 20
    while not queue.is_dir() or len([n for n in os.listdir(queue) if turn.TICKET.match(n)]) < count:
        assert time.monotonic() < deadline, "the other processes never joined the queue"
        time.sleep(0.02)


def turn_time(process: subprocess.Popen[str]) -> float:
    assert process.stdout is not None
    label, when = process.stdout.readline().split()
    process.wait(20)
    return float(when)


def test_a_request_waits_for_another_process_engine():
    holder = in_another_process(1.0)
    assert holder.stdout is not None and holder.stdout.readline().startswith("held")
    start = time.monotonic()
    with turn.TurnLock():
        waited = time.monotonic() - start
    holder.wait(10)
    assert waited >= 0.5


def test_turns_are_served_in_the_order_they_were_asked(own_queue: Path):
    first = in_another_process(0.6, "first")
    wait_for_tickets(own_queue, 1)
    waiters = []
    for k in range(3):  # each asks while the ones before it still wait
        waiters.append(in_another_process(0.2, f"waiter{k}"))
        wait_for_tickets(own_queue, k + 2)
    times = [turn_time(p) for p in [first, *waiters]]
    assert times == sorted(times)
    assert not [n for n in os.listdir(own_queue) if turn.TICKET.match(n)]


def holder_and_waiter(queue: Path, hold_s: float,
                      kill: str) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """A process holding its turn for `hold_s` and one queued behind it; `kill` ("holder"
    or "waiter") is killed once both are in the queue."""
    holder = in_another_process(hold_s)
    assert holder.stdout is not None and holder.stdout.readline().startswith("held")
    waiter = in_another_process(0.0, "next")
    wait_for_tickets(queue, 2)
    victim = holder if kill == "holder" else waiter
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    return holder, waiter


def test_a_holder_that_dies_lets_the_next_one_in(own_queue: Path):
    _, waiter = holder_and_waiter(own_queue, 60.0, kill="holder")
    start = time.monotonic()
    turn_time(waiter)
    assert time.monotonic() - start < 10


def test_a_waiter_that_dies_is_skipped(own_queue: Path):
    holder, _ = holder_and_waiter(own_queue, 1.0, kill="waiter")
    with turn.TurnLock():
        our_turn = time.monotonic()
    assert holder.stdout is not None
    releasing, when = holder.stdout.readline().split()
    holder.wait(10)
    assert releasing == "releasing" and float(when) <= our_turn  # after the holder, not never
    assert not [n for n in os.listdir(own_queue) if turn.TICKET.match(n)]


def test_the_lock_can_be_turned_off(monkeypatch: pytest.MonkeyPatch):
    holder = in_another_process(2.0)
    assert holder.stdout is not None and holder.stdout.readline().startswith("held")
    monkeypatch.setenv("LAB_ENGINE_LOCK", "0")
    start = time.monotonic()
    with turn.TurnLock():
        waited = time.monotonic() - start
    holder.wait(10)
    assert waited < 0.5
