"""Several writers at once, and a writer killed mid-run.

The workers run this file as a script (`python test_ledger_concurrency.py write|crash ...`),
so they are real separate processes writing one database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest
from test_store_support import BACKENDS, backend_url, replay, sample_problem, sample_trace

from lab.engine.base import Token
from lab.store import Ledger
from lab.trace import EventKind, Node, NodeKind, Trace, TraceEvent

HERE = Path(__file__).resolve().parent
WORKERS = 4
RUNS_PER_WORKER = 5
CRASH_KEPT_NODES = 4


def expected_trace(worker: int, index: int) -> Trace:
    """What worker `worker` writes as its `index`-th run (one shared problem and model, so
    the writers race to create the same rows)."""
    trace = sample_trace(worker * 100 + index, problem=sample_problem(0))
    trace.strategy = f"worker-{worker}"
    return trace


def write_runs(url: str, worker: int) -> None:
    with Ledger(url) as ledger:
        for index in range(RUNS_PER_WORKER):
            recorder = ledger.recorder(experiment="concurrent", flush_interval_s=0)
            live = replay(expected_trace(worker, index), recorder)
            ledger.finish_run(recorder.run_id, live)
            assert recorder.error is None, recorder.error


def write_until_killed(url: str) -> None:
    """Stream a run, say READY once its first nodes are saved, then keep generating."""
    ledger = Ledger(url)
    recorder = ledger.recorder(flush_interval_s=0.05)
    head = sample_trace(7)
    head.nodes = head.nodes[:CRASH_KEPT_NODES]
    live: list[Trace] = []

    class Pause(Exception):
        pass

    def until_votes(event: TraceEvent) -> None:
        if event.kind == EventKind.VOTES:
            raise Pause
        live[:] = [event.trace]
        recorder(event)

    with contextlib.suppress(Pause):
        replay(head, until_votes)
    trace = live[0]
    recorder.flush()
    print("READY", flush=True)
    node = Node(id=CRASH_KEPT_NODES, parent=0, kind=NodeKind.CHAIN)
    trace.nodes.append(node)
    recorder(TraceEvent(EventKind.NODE_ADDED, trace, node=node))
    for i in count():
        token = Token(id=i, text=f" t{i}", logprob=-0.5)
        node.tokens.append(token)
        node.text += token.text
        recorder(TraceEvent(EventKind.TOKEN, trace, node=node, token=token))
        time.sleep(0.002)


def run_worker(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_url(request.param, tmp_path)


def assert_integrity(url: str) -> None:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def assert_all_runs_stored(url: str) -> None:
    with Ledger(url) as ledger:
        runs = ledger.runs_in_experiment("concurrent")
        assert len(runs) == WORKERS * RUNS_PER_WORKER
        assert {r.status for r in runs} == {"complete"}
        for run in runs:
            worker = int(run.strategy.removeprefix("worker-"))
            index = run.seed - worker * 100
            assert ledger.load_trace(run.id) == expected_trace(worker, index)
    assert_integrity(url)


def test_processes_write_at_once(url: str) -> None:
    # on a new database: the writers race to create the schema too
    workers = [run_worker("write", url, str(w)) for w in range(WORKERS)]
    for worker in workers:
        _, stderr = worker.communicate(timeout=180)
        assert worker.returncode == 0, stderr
    assert_all_runs_stored(url)


def test_threads_share_one_ledger(url: str) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for index in range(RUNS_PER_WORKER):
                recorder = ledger.recorder(experiment="concurrent", flush_interval_s=0)
                live = replay(expected_trace(worker, index), recorder)
                ledger.finish_run(recorder.run_id, live)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    with Ledger(url) as ledger:
        threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
    assert errors == []
    assert_all_runs_stored(url)


def test_killed_writer_leaves_an_interrupted_run(url: str) -> None:
    Ledger(url).close()
    worker = run_worker("crash", url)
    assert worker.stdout is not None
    ready = worker.stdout.readline().strip()
    assert ready == "READY", worker.stderr.read() if worker.stderr else ""
    time.sleep(0.3)  # mid-generation: tokens are being written
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL

    assert_integrity(url)
    with Ledger(url) as ledger:
        (run,) = ledger.list_runs()
        assert run.status == "interrupted"
        trace = ledger.load_trace(run.id)
    expected = sample_trace(7).nodes[:CRASH_KEPT_NODES]
    assert trace.nodes[:CRASH_KEPT_NODES] == expected
    assert len(trace.nodes) == CRASH_KEPT_NODES + 1
    streamed = trace.nodes[-1].tokens
    assert streamed and [t.id for t in streamed] == list(range(len(streamed)))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write_runs(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "crash":
        write_until_killed(sys.argv[2])
