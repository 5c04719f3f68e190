"""`lab eval` and `lab plot` on a scripted engine: a resumable sweep, its table as JSON, the
figure, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.cli import main
from lab.engine.scripted import ScriptedEngine

SWEEP = ["eval", "--set", "arith", "--limit", "3", "-s", "cot", "-s", "self-consistency",
         "--sweep", "n=1,2", "-p", "max_tokens=40", "--experiment", "cli"]


def lab(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    engine = ScriptedEngine(lambda r: f"Some work.\n\nThe answer is {18 if r.seed % 2 else 7}.")
    monkeypatch.setattr("lab.commands.evaluate.open_engine", lambda name: engine)
    monkeypatch.setattr("lab.commands.evaluate._model_name", lambda name: "scripted")
    return engine


def test_a_second_call_runs_nothing_and_prints_the_same_table(engine: ScriptedEngine):
    code, out, err = lab(*SWEEP, "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["experiment"] == "cli" and first["ran"] == 6 and not first["interrupted"]
    assert len(engine.calls) == 6  # self-consistency ran n=2 only; n=1 is derived
    metrics = [(r["strategy"], r["metric"], r["k"]) for r in first["rows"]]
    assert ("self-consistency", "maj@k", 1) in metrics and ("cot", "accuracy", None) in metrics

    code, out, err = lab(*SWEEP, "--json")
    assert code == 0 and "all 6 runs of cli are stored" in err
    second = json.loads(out)
    assert second["ran"] == 0 and second["rows"] == first["rows"] and len(engine.calls) == 6

    code, out, _ = lab(*SWEEP)
    assert "accuracy [95% CI]" in out and "maj@1 *" in out


def test_the_default_experiment_name_follows_the_arguments(engine: ScriptedEngine):
    args = ["eval", "--set", "arith", "--limit", "1", "-s", "direct", "--json"]
    first = json.loads(lab(*args)[1])["experiment"]
    assert first.startswith("eval-arith-")
    assert json.loads(lab(*args)[1])["experiment"] == first
    assert json.loads(lab(*args, "--seed", "1")[1])["experiment"] != first


def test_plot_writes_html_and_explains_a_png_failure(engine: ScriptedEngine, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    assert lab(*SWEEP)[0] == 0
    html = tmp_path / "fig.html"
    code, out, err = lab("plot", "cli", "--out", str(html))
    assert code == 0, err
    text = html.read_text()
    assert "plotly" in text and "self-consistency pass@k" in text

    def no_kaleido(*args: object, **kwargs: object) -> None:
        raise ValueError("Image export using the \"kaleido\" engine requires the kaleido package")

    monkeypatch.setattr("plotly.graph_objects.Figure.write_image", no_kaleido)
    code, _, err = lab("plot", "cli", "--out", str(tmp_path / "fig.png"))
    assert code == 1
    [line] = err.strip().splitlines()
    assert "PNG needs the kaleido package" in line and "write fig.html instead" in line


@pytest.mark.parametrize("args,message", [
    (["eval", "--set", "arith", "-s", "magic"], "unknown strategy 'magic'"),
    (["eval", "--set", "arith", "-s", "cot", "--sweep", "n"], "--sweep takes PARAM=V1,V2"),
    (["eval", "--set", "arith", "-s", "cot", "--sweep", "n=1,2"], "--sweep n: none of cot"),
    (["eval", "--set", "nope", "-s", "cot"], "cannot load set 'nope'"),
    (["eval", "--set", "arith", "-s", "best-of-n:scorer=judge"], "needs a second model"),
    (["plot", "missing"], "no experiment named 'missing'"),
    (["plot", "cli", "--out", "fig.svg"], None),
])
def test_errors_are_one_line(engine: ScriptedEngine, args: list[str], message: str | None):
    if message is None:  # an experiment is needed before the file name is checked
        assert lab(*SWEEP)[0] == 0
        message = "--out must end in .html or .png"
    code, _, err = lab(*args)
    assert code != 0
    assert message in err and len(err.strip().splitlines()) == 1


def test_baseline_prints_the_paired_difference(engine: ScriptedEngine):
    args = ["eval", "--set", "arith", "--limit", "4", "-s", "cot",
            "-s", "program:n=1,temperature=0", "-p", "max_tokens=40", "--experiment", "paired",
            "--baseline", "cot"]
    code, out, err = lab(*args)
    assert code == 0, err
    assert "paired against cot (accuracy), on the problems both ran:" in out
    assert "minus baseline [95% CI]" in out and "only baseline right" in out
    code, out, err = lab(*args, "--json")
    paired = json.loads(out)["paired"]
    assert paired["baseline"] == "cot (accuracy)"
    (row,) = paired["rows"]
    assert row["problems"] == 4 and set(row) >= {"difference", "low", "high", "only_a",
                                                 "only_b", "shown", "words"}
    code, _, err = lab(*args[:-1], "budget-forcing")
    assert code != 0 and "--baseline budget-forcing: no such row" in err


def test_range_runs_a_slice_of_the_set(engine: ScriptedEngine):
    code, out, err = lab("eval", "--set", "arith", "--range", "3-5", "-s", "cot",
                         "-p", "max_tokens=40", "--experiment", "slice", "--json")
    assert code == 0, err
    (row,) = json.loads(out)["rows"]
    assert sorted(row["outcomes"]) == ["arith-0003", "arith-0004", "arith-0005"]
    for bad in ("5-3", "0-2", "seven"):
        code, _, err = lab("eval", "--set", "arith", "--range", bad, "-s", "cot")
        assert code != 0 and "--range: a slice is FROM-TO" in err
