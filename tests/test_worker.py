"""The run worker: runs in a process of its own, streamed back as deltas, stoppable; a killed
worker is reported and replaced; no worker outlives the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_app_support import scripted_engine, slow_scripted_engine

from lab import config
from lab.engine.scripted import ScriptedEngine
from lab.execution import RunRequest
from lab.store.ledger import Ledger
from lab.store.liveness import is_alive
from lab.strategies.registry import run_strategy
from lab.tasks.problem import Problem
from lab.trace import EventKind, TraceStatus
from lab.worker.client import WorkerClient
from lab.worker.protocol import DeltaTracker, apply_delta

PROBLEM = Problem(id="p1", question="What is 9 + 9?", gold="18", source="test")
TIMEOUT_S = 60


@pytest.fixture
def client() -> Iterator[WorkerClient]:
    client = WorkerClient(scripted_engine)
    yield client
    client.close()


def wait_for(condition, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_deltas_rebuild_the_trace_exactly():
    tracker, mirror = DeltaTracker(), None

    def on_event(event) -> None:
        nonlocal mirror
        tracker.touch(event.node, whole=event.kind == EventKind.NODE_UPDATED)
        if event.kind in (EventKind.TOKEN, EventKind.NODE_UPDATED, EventKind.FINISHED):
            mirror = apply_delta(mirror, tracker.delta(event.trace))

    engine = ScriptedEngine(lambda r: f"Add.\n\nThe answer is {18 - r.seed % 2}.")
    trace = run_strategy("self-consistency", PROBLEM, engine, {"n": 3}, on_event=on_event)
    assert mirror is not None and mirror.to_dict() == trace.to_dict()


def test_a_run_streams_and_is_stored_graded(client: WorkerClient):
    batch = client.submit_runs("any", [RunRequest("self-consistency", PROBLEM, {"n": 3})], "pg")
    assert batch.wait(TIMEOUT_S)
    [run] = batch.runs
    assert run.error is None and run.events > 0 and run.done
    assert run.trace.status == TraceStatus.COMPLETE and run.trace.correct is True
    assert run.trace.meta["vote_correct"] == {"18": True, "17": False}
    stored = Ledger(config.database_url()).get_run(run.run_id)
    assert stored.status == "complete" and stored.correct is True
    assert client.model is not None and client.model.name == "any"


def test_refused_settings_are_said_per_run(client: WorkerClient):
    batch = client.submit_runs("any", [RunRequest("cot", PROBLEM, {"nope": 1})], "pg")
    assert batch.wait(TIMEOUT_S)
    assert batch.runs[0].error.startswith("This run cannot start. Invalid settings: unknown")


def test_stop_cancels_in_the_worker_and_keeps_the_partial_run():
    client = WorkerClient(slow_scripted_engine)
    try:
        batch = client.submit_runs("any", [RunRequest("self-consistency", PROBLEM, {"n": 2}),
                                           RunRequest("cot", PROBLEM)], "cmp")
        wait_for(lambda: batch.runs[0].trace is not None and any(
            n.tokens for n in batch.runs[0].trace.nodes))
        batch.stop()
        assert batch.wait(TIMEOUT_S)
        first, second = batch.runs
        assert first.trace.status == TraceStatus.INTERRUPTED
        assert Ledger(config.database_url()).get_run(first.run_id).status == "interrupted"
        assert second.error == "stopped before it started"
    finally:
        client.close()


def test_a_killed_worker_is_reported_and_the_next_run_gets_a_fresh_one():
    client = WorkerClient(slow_scripted_engine)
    try:
        batch = client.submit_runs("any", [RunRequest("self-consistency", PROBLEM, {"n": 2})],
                                   "pg")
        wait_for(lambda: batch.runs[0].run_id is not None or (
            batch.runs[0].trace is not None and any(n.tokens for n in batch.runs[0].trace.nodes)))
        first_pid = client.pid
        time.sleep(0.6)  # the ledger's recorder has written the running run
        os.kill(first_pid, signal.SIGKILL)
        assert batch.wait(TIMEOUT_S)
        [run] = batch.runs
        assert "worker process was killed (signal 9)" in run.error
        assert run.trace.status == TraceStatus.INTERRUPTED
        [stored] = Ledger(config.database_url()).list_runs()
        assert stored.status == "interrupted"
        again = client.submit_runs("any", [RunRequest("cot", PROBLEM)], "pg")
        assert again.wait(TIMEOUT_S) and again.runs[0].error is None
        assert client.pid != first_pid
    finally:
        client.close()


def test_no_worker_outlives_its_parent(tmp_path: Path):
    """The page's process killed outright (SIGKILL: no atexit): its worker ends too."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_app_support import slow_scripted_engine
        from lab.execution import RunRequest
        from lab.tasks.problem import Problem
        from lab.worker.client import WorkerClient
        client = WorkerClient(slow_scripted_engine)
        client.submit_runs("any", [RunRequest("cot", Problem(id="p", question="q?"))], "pg")
        time.sleep(1.0)
        print(client.pid, flush=True)
        time.sleep(60)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker_pid = int(parent.stdout.readline())
    assert is_alive(worker_pid, None)
    parent.kill()
    parent.wait(10)
    wait_for(lambda: not is_alive(worker_pid, None), timeout_s=10)


def test_closing_the_client_ends_the_worker(client: WorkerClient):
    batch = client.submit_runs("any", [RunRequest("cot", PROBLEM)], "pg")
    assert batch.wait(TIMEOUT_S)
    pid = client.pid
    client.close()
    assert not client.alive and not is_alive(pid, None)
