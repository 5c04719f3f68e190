"""The Ledger API: listing and filtering, delete, export, experiments, resuming an evaluation,
the recorder's batching, recovery of dead runs, schema upgrades and clear errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from test_store_support import BACKENDS, backend_url, replay, sample_problem, sample_trace

from lab.store import Ledger, LedgerError, UnknownRun, migrations, schema
from lab.store.db import parse_url
from lab.trace import Trace, TraceStatus


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_url(request.param, tmp_path)


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    with Ledger(url) as opened:
        yield opened


def sql(url: str, statement: str, **params: Any) -> list[Any]:
    engine = create_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def make(strategy: str = "cot", model: str = "m1", seed: int = 0, source: str = "arith",
         status: TraceStatus = TraceStatus.COMPLETE, correct: bool | None = True) -> Trace:
    trace = sample_trace(seed, problem=sample_problem(seed, source=source), chains=1)
    trace.strategy, trace.model, trace.status, trace.correct = strategy, model, status, correct
    return trace


def test_list_filters_and_order(ledger: Ledger) -> None:
    a = ledger.start_run(make("cot", "m1", source="arith"), experiment="e1")
    b = ledger.start_run(make("sc", "m1", source="gsm8k", correct=False), experiment="e1")
    c = ledger.start_run(make("sc", "m2", status=TraceStatus.RUNNING, correct=None))
    d = ledger.start_run(make("bon", "m2", status=TraceStatus.FAILED, correct=None))

    def ids(**filters: Any) -> list[int]:
        return [run.id for run in ledger.list_runs(**filters)]

    assert ids() == [d, c, b, a]
    assert ids(strategy="sc") == [c, b]
    assert ids(model="m2") == [d, c]
    assert ids(problem_set="gsm8k") == [b]
    assert ids(problem_id="p0") == [d, c, b, a]
    assert ids(status="running") == [c]
    assert ids(status=["running", "failed"]) == [d, c]
    assert ids(correct=True) == [a]
    assert ids(correct=False) == [b]
    assert ids(experiment="e1") == [b, a]
    assert ids(limit=2) == [d, c]
    assert ids(run_ids=[a, c]) == [c, a]
    now = datetime.now(UTC)
    assert ids(since=now - timedelta(minutes=5)) == [d, c, b, a]
    assert ids(until=now - timedelta(minutes=5)) == []
    assert [r.id for r in ledger.runs_in_experiment("e1")] == [b, a]


def test_summary_fields(ledger: Ledger) -> None:
    trace = make("sc", "m1", seed=2)
    run = ledger.get_run(ledger.start_run(trace, experiment="sweep"))
    assert (run.status, run.strategy, run.model, run.answer, run.correct) == (
        "complete", "sc", "m1", "3", True)
    assert (run.problem_set, run.problem_id, run.gold, run.experiment) == (
        "arith", "p2", "4", "sweep")
    assert run.generated_tokens == 321 and run.params == trace.params and run.seed == 2
    assert run.created.tzinfo is not None and run.finished is not None
    data = run.to_dict()
    for key in ("id", "status", "strategy", "model", "answer", "correct", "generated_tokens",
                "created"):
        assert key in data
    json.dumps(data)


def test_unknown_run(ledger: Ledger) -> None:
    for call in (ledger.load_trace, ledger.get_run, ledger.delete_run):
        with pytest.raises(UnknownRun, match="no run 999"):
            call(999)


def test_delete_removes_run_nodes_and_tokens(url: str, ledger: Ledger) -> None:
    keep = ledger.start_run(make(seed=1))
    gone = ledger.start_run(make(seed=2))
    ledger.delete_run(gone)
    assert [r.id for r in ledger.list_runs()] == [keep]
    for table in ("trace_nodes", "node_tokens"):
        assert sql(url, f"SELECT count(*) FROM {table} WHERE run_id = :r", r=gone)[0][0] == 0
        assert sql(url, f"SELECT count(*) FROM {table} WHERE run_id = :r", r=keep)[0][0] > 0
    assert ledger.load_trace(keep) == make(seed=1)


def test_export_jsonl_holds_whole_traces(ledger: Ledger, tmp_path: Path) -> None:
    traces = [make(seed=i) for i in range(3)]
    ids = [ledger.start_run(t) for t in traces]
    out = tmp_path / "out" / "runs.jsonl"
    assert ledger.export_jsonl(out) == 3
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ids  # oldest first
    assert [Trace.from_dict(r["trace"]) for r in records] == traces
    stream = io.StringIO()
    assert ledger.export_jsonl(stream, run_ids=[ids[1]]) == 1
    assert json.loads(stream.getvalue())["id"] == ids[1]


def test_export_csv_is_flat(ledger: Ledger) -> None:
    ledger.start_run(make("cot", seed=0))
    ledger.start_run(make("sc", seed=1, correct=None))
    stream = io.StringIO()
    assert ledger.export_csv(stream, strategy="sc") == 1
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert len(rows) == 1
    assert rows[0]["strategy"] == "sc" and rows[0]["correct"] == ""
    assert json.loads(rows[0]["params"])["n"] == 1


def test_experiments(ledger: Ledger) -> None:
    assert ledger.experiment_id("sweep", create=False) is None
    created = ledger.experiment_id("sweep")
    assert ledger.experiment_id("sweep") == created
    assert ledger.experiment_id("sweep", create=False) == created
    ledger.start_run(make(), experiment="sweep")
    assert len(ledger.runs_in_experiment("sweep")) == 1
    assert ledger.runs_in_experiment("other") == []


def test_find_run_matches_only_a_complete_identical_cell(ledger: Ledger) -> None:
    trace = make("sc", "m1", seed=4)
    run_id = ledger.start_run(trace, experiment="sweep")
    ledger.start_run(make("sc", "m1", seed=5, status=TraceStatus.INTERRUPTED))
    cell: dict[str, Any] = {
        "strategy": "sc", "params": dict(reversed(list(trace.params.items()))),
        "problem_set": "arith", "problem_id": "p4", "model": "m1", "seed": 4, "budget": 512,
    }
    assert ledger.find_run(**cell) == run_id
    assert ledger.find_run(**cell, experiment="sweep") == run_id
    assert ledger.find_run(**cell, experiment="other") is None
    for change in ({"seed": 5}, {"budget": None}, {"model": "m2"}, {"problem_id": "p5"},
                   {"params": {**trace.params, "n": 9}}, {"strategy": "cot"}):
        assert ledger.find_run(**{**cell, **change}) is None, change


def test_register_model(url: str, ledger: Ledger) -> None:
    run_id = ledger.start_run(make(model="smol"))
    model_id = ledger.register_model("smol", path="/m/smol.gguf", sha256="ab" * 32,
                                     metadata={"quant": "Q8_0"})
    rows = sql(url, "SELECT name, path, sha256, metadata FROM models WHERE id = :i", i=model_id)
    assert rows[0][:3] == ("smol", "/m/smol.gguf", "ab" * 32)
    assert json.loads(rows[0][3]) == {"quant": "Q8_0"}
    assert ledger.get_run(run_id).model == "smol"


def test_recorder_batches_token_events(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[int] = []
    update_run = ledger.update_run
    monkeypatch.setattr(ledger, "update_run",
                        lambda run_id, trace, nodes=(): (writes.append(len(nodes)),
                                                         update_run(run_id, trace, nodes)))
    final = sample_trace(1)
    recorder = ledger.recorder(flush_interval_s=3600)
    replay(final, recorder)
    assert sum(len(n.tokens) for n in final.nodes) > 30
    assert writes == [len(final.nodes)]  # run started on STARTED; the rest at FINISHED
    assert ledger.load_trace(recorder.run_id).nodes == final.nodes


def test_recorder_saves_nodes_as_they_arrive(ledger: Ledger) -> None:
    final = sample_trace(2)
    seen: list[int] = []
    recorder = ledger.recorder(flush_interval_s=0)

    def watch(event: Any) -> None:
        recorder(event)
        if recorder.run_id is not None and event.kind == "node_updated":
            stored = ledger.load_trace(recorder.run_id)
            assert stored.nodes == event.trace.nodes
            assert stored.status == TraceStatus.RUNNING
            seen.append(len(stored.nodes))

    replay(final, watch)
    assert seen == list(range(1, len(final.nodes) + 1))


def test_recorder_of_a_started_run(ledger: Ledger) -> None:
    final = sample_trace(3)
    live_start = Trace(strategy=final.strategy, problem=final.problem, params=final.params,
                       budget=final.budget, model=final.model, seed=final.seed)
    run_id = ledger.start_run(live_start)
    assert ledger.get_run(run_id).status == "running"
    recorder = ledger.recorder(run_id, live_start)
    live = replay(final, recorder)
    ledger.finish_run(run_id, live)
    assert ledger.load_trace(run_id) == final
    assert [r.id for r in ledger.list_runs()] == [run_id]


def test_recorder_stops_quietly_when_its_run_is_deleted(ledger: Ledger) -> None:
    recorder = ledger.recorder(flush_interval_s=0)
    final = sample_trace(4)
    events: list[Any] = []
    replay(final, events.append)
    recorder(events[0])
    ledger.delete_run(recorder.run_id)
    for event in events[1:]:
        recorder(event)  # must not raise
    assert isinstance(recorder.error, UnknownRun)


def test_dead_running_runs_become_interrupted(url: str, ledger: Ledger) -> None:
    dead_pid = subprocess.Popen(["true"]).pid
    subprocess.run(["true"], check=True)
    orphan = ledger.start_run(make(seed=1, status=TraceStatus.RUNNING))
    mine = ledger.start_run(make(seed=2, status=TraceStatus.RUNNING))
    elsewhere = ledger.start_run(make(seed=3, status=TraceStatus.RUNNING))
    sql(url, "UPDATE runs SET pid = :p WHERE id = :r", p=dead_pid, r=orphan)
    sql(url, "UPDATE runs SET pid = :p, hostname = 'another-host' WHERE id = :r",
        p=dead_pid, r=elsewhere)
    other_container = ledger.start_run(make(seed=4, status=TraceStatus.RUNNING))
    sql(url, "UPDATE runs SET pid = :p, pid_namespace = 'pid:[1]' WHERE id = :r",
        p=dead_pid, r=other_container)
    with Ledger(url) as reopened:
        statuses = {r.id: r.status for r in reopened.list_runs()}
    assert statuses == {orphan: "interrupted", mine: "running", elsewhere: "running",
                        other_container: "running"}
    assert ledger.load_trace(orphan).nodes == make(seed=1).nodes


def test_older_schema_is_upgraded_in_place(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with Ledger(url) as old:
        run_id = old.start_run(make(seed=1))

    def add_notes(conn: Any) -> None:
        conn.execute(text("ALTER TABLE runs ADD COLUMN notes TEXT"))

    version = schema.SCHEMA_VERSION + 1
    monkeypatch.setattr(schema, "SCHEMA_VERSION", version)
    monkeypatch.setattr(migrations, "MIGRATIONS", {version: add_notes})
    with Ledger(url) as upgraded:
        assert upgraded.load_trace(run_id) == make(seed=1)
    assert sql(url, "SELECT value FROM ledger_meta WHERE key = 'schema_version'") == [
        (str(version),)]
    assert sql(url, "SELECT notes FROM runs WHERE id = :r", r=run_id) == [(None,)]


def test_newer_schema_is_refused(url: str) -> None:
    Ledger(url).close()
    sql(url, "UPDATE ledger_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LedgerError, match="newer than this lab"):
        Ledger(url)


def test_default_ledger_lives_in_the_user_data_dir(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home" / "deeper"))
    with Ledger() as ledger:
        assert ledger.location == str(tmp_path / "home" / "deeper" / "ledger.db")
        ledger.start_run(make())
    assert (tmp_path / "home" / "deeper" / "ledger.db").is_file()
    monkeypatch.setenv("LAB_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    with Ledger() as ledger:
        assert ledger.list_runs() == []


def test_sqlite_settings(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    Ledger(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_locked_database_gives_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    url = f"sqlite:///{path}"
    Ledger(url).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with Ledger(url, busy_timeout_s=0.2) as ledger:
        assert ledger.list_runs() == []  # readers are not blocked
        with pytest.raises(LedgerError) as caught:
            ledger.start_run(make())
        message = str(caught.value)
        assert "locked" in message and "\n" not in message
        recorder = ledger.recorder(flush_interval_s=0.1)
        live = replay(make(seed=1), recorder)  # must not raise, nor wait at every event
        assert recorder.error is not None and recorder.run_id is None
        holder.execute("ROLLBACK")
        recorder.flush()
        assert recorder.error is None
        assert ledger.load_trace(recorder.run_id) == live
    holder.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerError, match="not a lab ledger"):
        Ledger(f"sqlite:///{path}")


def test_bad_url() -> None:
    with pytest.raises(LedgerError, match="not a database URL"):
        Ledger("::nonsense::")
