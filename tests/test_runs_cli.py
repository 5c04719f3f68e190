"""`lab runs list|show|export|delete` against the default ledger (a throwaway LAB_HOME)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_store_support import sample_problem, sample_trace

from lab.cli import main
from lab.commands.runs import set_name
from lab.store import Ledger
from lab.trace import Trace, TraceStatus


def lab(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def run_ids() -> list[int]:
    traces = [sample_trace(i, problem=sample_problem(i), chains=1) for i in range(3)]
    traces[1].strategy, traces[1].model = "self-consistency", "other-model"
    traces[2].status, traces[2].correct = TraceStatus.INTERRUPTED, None
    with Ledger() as ledger:
        return [ledger.start_run(t, experiment="sweep" if i else None)
                for i, t in enumerate(traces)]


def test_list_json_has_the_documented_fields(run_ids: list[int]) -> None:
    result = lab("runs", "list", "--json")
    assert result.exit_code == 0
    runs = json.loads(result.output)
    assert [r["id"] for r in runs] == run_ids[::-1]
    for key in ("id", "status", "strategy", "model", "answer", "correct", "generated_tokens",
                "created"):
        assert key in runs[0]


@pytest.mark.parametrize(("args", "expected"), [
    (["--strategy", "self-consistency"], [1]),
    (["--model", "other-model"], [1]),
    (["--status", "interrupted"], [2]),
    (["--status", "interrupted", "--status", "complete"], [2, 1, 0]),
    (["--correct"], [0]),
    (["--wrong"], [1]),
    (["--experiment", "sweep"], [2, 1]),
    (["--problem-set", "nope"], []),
    (["--limit", "1"], [2]),
])
def test_list_filters(run_ids: list[int], args: list[str], expected: list[int]) -> None:
    result = lab("runs", "list", "--json", *args)
    assert [r["id"] for r in json.loads(result.output)] == [run_ids[i] for i in expected]


def test_list_table(run_ids: list[int]) -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["runs", "list"])
    assert result.exit_code == 0
    assert "self-consistency" in result.output and "interrupted" in result.output
    assert "3 run(s) from" in result.output


def test_list_fits_80_columns_with_a_long_dataset_path(tmp_path: Path) -> None:
    path = tmp_path / "a" / "rather" / "deeply" / "nested" / "folder" / "of" / "datasets"
    problem = replace(sample_problem(12), id="gsm8k_train-00012",
                      source=f"gsm8k:{path / 'gsm8k_train.jsonl'}")
    traces = [sample_trace(i, problem=problem, chains=1) for i in range(3)]
    traces[0].strategy, traces[0].model = "self-consistency", "qwen2.5-coder-1.5b"
    traces[1].status, traces[1].correct = TraceStatus.INTERRUPTED, None
    traces[2].problem = replace(problem, id="p7", source=str(path / "my_questions.jsonl"))
    with Ledger() as ledger:
        ids = [ledger.start_run(t) for t in traces]
    result = CliRunner(env={"COLUMNS": "80"}).invoke(main, ["runs", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines), result.output
    assert lines[0].split()[:2] == ["id", "age"]
    rows = lines[1:4]  # newest first, one line each
    assert [row.split()[0] for row in rows] == [str(i) for i in ids[::-1]], result.output
    assert "my_questions:p7" in rows[0] and "gsm8k_train-00012" in rows[2], result.output
    assert lines[4].startswith("3 run(s) from"), result.output
    assert str(path) not in result.output and "interrupted" in rows[1]
    assert "self-consist" in rows[2] and "qwen2." in rows[2]  # cut to fit, with a "…"
    shown = lab("runs", "show", str(ids[0])).output
    assert f"problem    gsm8k_train-00012 of gsm8k:{path / 'gsm8k_train.jsonl'}" in shown
    listed = json.loads(lab("runs", "list", "--json").output)
    assert listed[-1]["problem_set"] == f"gsm8k:{path / 'gsm8k_train.jsonl'}"


def test_list_names_a_model_shared_by_every_run_once() -> None:
    with Ledger() as ledger:
        for i in range(2):
            ledger.start_run(sample_trace(i, problem=sample_problem(i), chains=1))
    model = sample_trace(0).model
    output = CliRunner(env={"COLUMNS": "80"}).invoke(main, ["runs", "list"]).output
    assert output.splitlines()[0].split() == ["id", "age", "strategy", "problem", "status",
                                              "answer", "tokens"]
    assert f"2 run(s) of model {model} from" in output


@pytest.mark.parametrize(("problem_set", "name"), [
    ("gsm8k:/long/path/gsm8k_train.jsonl", "gsm8k"),
    ("math500:data/test.jsonl", "math500"),
    ("jsonl:/data/my_questions.jsonl", "my_questions"),
    ("csv:sheet.csv", "sheet"),
    ("/data/bare_file.jsonl", "bare_file"),
    ("arith", "arith"),
])
def test_set_name(problem_set: str, name: str) -> None:
    assert set_name(problem_set) == name


def test_list_empty() -> None:
    result = lab("runs", "list")
    assert result.exit_code == 0 and "No runs stored" in result.output


def test_show_json_is_the_whole_trace(run_ids: list[int]) -> None:
    result = lab("runs", "show", str(run_ids[0]), "--json")
    data = json.loads(result.output)
    assert data["id"] == run_ids[0]
    with Ledger() as ledger:
        assert Trace.from_dict(data["trace"]) == ledger.load_trace(run_ids[0])


def test_show_draws_the_tree(run_ids: list[int]) -> None:
    result = lab("runs", "show", str(run_ids[1]))
    assert result.exit_code == 0
    assert "self-consistency" in result.output
    assert "#0 prompt" in result.output and "#8 answer" in result.output


def test_unknown_run_is_a_one_line_error(run_ids: list[int]) -> None:
    for command in (["show", "999"], ["delete", "999"]):
        result = CliRunner().invoke(main, ["runs", *command])
        assert result.exit_code == 1
        assert result.output.strip() == "Error: no run 999 in the ledger"


def test_export_jsonl_to_a_file(run_ids: list[int], tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    result = lab("runs", "export", "--out", str(out), "--experiment", "sweep")
    assert result.exit_code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == run_ids[1:]
    assert all("trace" in r for r in records)


def test_export_csv_to_stdout(run_ids: list[int]) -> None:
    result = lab("runs", "export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [int(r["id"]) for r in rows] == run_ids
    assert rows[1]["strategy"] == "self-consistency"


def test_delete(run_ids: list[int]) -> None:
    result = lab("runs", "delete", str(run_ids[0]), str(run_ids[2]))
    assert result.output.splitlines() == [f"deleted run {run_ids[0]}", f"deleted run {run_ids[2]}"]
    remaining = json.loads(lab("runs", "list", "--json").output)
    assert [r["id"] for r in remaining] == [run_ids[1]]


def test_unreachable_ledger_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    bad = tmp_path / "ledger.db"
    bad.write_text("not a database" * 100)
    monkeypatch.setenv("LAB_DATABASE_URL", f"sqlite:///{bad}")
    result = CliRunner().invoke(main, ["runs", "list"])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {bad} is not a lab ledger (not a SQLite database)"
