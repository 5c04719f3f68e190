"""The report to hand out (lab.evaluation.handout): a stored run, a comparison and an
experiment as one self-contained HTML file each, and `lab runs report`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lab.cli import main
from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.evaluation.handout import ledger_report, report_name
from lab.execution import RunRequest, execute
from lab.store import Ledger
from lab.tasks.problem import Problem

PROBLEM = Problem("p-18", "Zoe has 9 crayons and gets 9 more. How many has she?", gold="18",
                  source="arith")


def reply(request: ScriptedRequest) -> str:
    """Chains that share "Add them:" and part ways on the answer (seed 1 is wrong)."""
    if "Is this" in request.prompt or "Check the solution" in request.prompt:
        return "Yes."
    return f"Add them: 9 + 9.\n\nThe answer is {17 if request.seed % 3 == 1 else 18}."


@pytest.fixture
def stored() -> list[int]:
    """A self-consistency run of 3 chains and a best-of-n run of 2, stored."""
    engine = ScriptedEngine(reply, yes_probability=0.8)
    with Ledger() as ledger:
        runs = [execute(RunRequest("self-consistency", PROBLEM, {"n": 3, "max_tokens": 32}),
                        engine, ledger),
                execute(RunRequest("best-of-n", PROBLEM, {"n": 2, "max_tokens": 32}),
                        engine, ledger)]
    assert all(r.run_id is not None and r.save_error is None for r in runs)
    return [r.run_id for r in runs if r.run_id is not None]


def assert_self_contained(page: str) -> None:
    """One HTML document with Plotly inlined and nothing fetched from the network."""
    assert page.startswith("<!DOCTYPE html>") and page.count("</html>") == 1
    assert 'src="http' not in page and "src='http" not in page
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)="(https?:)?//', page)
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js itself, inlined


def test_a_stored_run_is_one_self_contained_file(stored: list[int]) -> None:
    with Ledger() as ledger:
        page = ledger_report(ledger, stored[:1])
    assert_self_contained(page)
    assert f"Run #{stored[0]} · self-consistency on p-18" in page
    assert "Zoe has 9 crayons" in page and "Correct answer: <code>18</code>" in page
    assert page.count("Chain 3</b>") == 2  # its panel and its leaf in the tree
    assert "> them:<" in page and "<mark" in page  # the chains, the answer highlighted
    assert "<h3>Votes</h3>" in page and "Where the chains part ways" in page
    assert "17 ✗" in page and "<h3>Compute</h3>" in page


def test_a_comparison_shows_the_problem_once_and_every_run(stored: list[int]) -> None:
    with Ledger() as ledger:
        page = ledger_report(ledger, stored)
    assert_self_contained(page)
    assert "<title>Comparison of 2 runs</title>" in page
    assert page.count("Zoe has 9 crayons") == 1
    assert f"Run #{stored[1]} · best-of-n on p-18" in page
    assert "<h3>Candidates</h3>" in page and "mean-logprob" in page
    assert report_name(stored) == f"runs-{stored[0]}-{stored[1]}.html"


def lab(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_lab_runs_report_writes_the_file(stored: list[int], tmp_path: Path) -> None:
    out = tmp_path / "handout.html"
    result = lab("runs", "report", *map(str, stored), "--out", str(out), "--title", "Week 3")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    page = out.read_text(encoding="utf-8")
    assert_self_contained(page)
    assert "<title>Week 3</title>" in page


@pytest.mark.parametrize(("args", "message"), [
    (["runs", "report", "999"], "999"),
    (["runs", "report", "1", "--out", "x.pdf"], "--out must end in .html"),
])
def test_lab_runs_report_errors_are_one_line(args: list[str], message: str) -> None:
    result = lab(*args)
    assert result.exit_code != 0 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_lab_plot_writes_the_curve_and_table_self_contained(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    engine = ScriptedEngine(reply)
    monkeypatch.setattr("lab.commands.evaluate.open_engine", lambda name: engine)
    monkeypatch.setattr("lab.commands.evaluate._model_name", lambda name: "scripted")
    sweep = ["eval", "--set", "arith", "--limit", "2", "-s", "self-consistency",
             "--sweep", "n=1,2", "-p", "max_tokens=24", "--experiment", "handout"]
    assert lab(*sweep).exit_code == 0
    out = tmp_path / "curve.html"
    result = lab("plot", "handout", "--out", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert_self_contained(page)
    assert "<h2>Scaling table</h2>" in page and "accuracy [95% CI]" in page
    assert "maj@1 *" in page and "self-consistency pass@k" in page


def test_an_experiment_report_pairs_every_point_with_greedy(tmp_path: Path):
    from gallery_support import make_gallery

    from lab.evaluation import summarize
    from lab.evaluation.handout import experiment_report
    from lab.store import Ledger
    from lab.store.gallery import import_gallery

    with Ledger() as ledger:
        import_gallery(ledger, make_gallery(tmp_path, problems=3))
        page = experiment_report(summarize(ledger, "ladder-gsm8k50"), "ladder")
    assert "<h2>Against cot (accuracy), problem by problem</h2>" in page
    assert "minus baseline [95% CI]" in page and "only baseline right" in page
