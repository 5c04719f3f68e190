"""The gallery in the app (AppTest): Scaling opens with its curves, a point opens its runs and
a run its shaded chains; History lists it apart and read-only; Learn climbs its ladder."""

from __future__ import annotations

from pathlib import Path

import pytest
from gallery_support import make_gallery
from test_app_support import open_app
from test_store_support import sample_trace

from lab.evaluation import summarize
from lab.evaluation.ladder import ladder_steps, load_spec
from lab.store import Ledger
from lab.store.gallery import import_gallery
from lab.ui.controls import SOURCES
from lab.ui.presets import PENDING

SHADED = "background:#e63946"  # a token shaded by its log-prob (lab.trace_html)


@pytest.fixture
def gallery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = make_gallery(tmp_path)
    monkeypatch.setenv("LAB_GALLERY", str(path))
    return path


def by_label(elements, label: str):
    return next(e for e in elements if e.label == label)


def html_of(at) -> str:
    return "".join(str(e.proto.body) for e in at.get("html"))


def test_scaling_opens_on_the_gallery_and_a_point_opens_its_runs(gallery: Path):
    spec = load_spec()
    assert spec is not None
    at = open_app("scaling")
    assert by_label(at.multiselect, "Experiments").value == [spec.experiment]
    assert any("(gallery)" in c.value for c in at.caption)
    assert at.get("plotly_chart")
    baseline = by_label(at.selectbox, "Baseline")  # greedy step by step, by default
    assert baseline.value is not None and "cot" in baseline.options[baseline.index]
    paired = at.dataframe[1].value
    assert list(paired["strategy"])[:1] == ["direct"]
    assert list(paired["minus baseline [95% CI]"])[0].startswith("-100 [")
    point = by_label(at.selectbox, "Point")
    vote = next(i for i, label in enumerate(point.options)
                if "self-consistency" in label and "maj@4" in label)
    point.select_index(vote).run()
    assert not at.exception, at.exception
    assert any("Not run as such" in c.value for c in at.caption)
    runs = by_label(at.selectbox, "Open a run")
    assert len(runs.options) == 1 + 6  # "choose", then the runs of the 6 problems
    runs.select_index(1).run()
    assert not at.exception, at.exception
    assert SHADED in html_of(at)  # the chains shaded by log-prob


def test_a_users_experiment_comes_first_and_the_gallery_stays_listed(gallery: Path):
    with Ledger() as ledger:
        import_gallery(ledger, gallery)
        ledger.start_run(sample_trace(1), experiment="mine")
    at = open_app("scaling")
    shown = by_label(at.multiselect, "Experiments")
    assert shown.value == ["mine"]
    assert "ladder-gsm8k50 (gallery)" in shown.options


def test_history_lists_the_gallery_apart_and_read_only(gallery: Path):
    at = open_app("history")
    whose = by_label(at.radio, "Runs")
    assert whose.value == "Gallery"  # a new lab: nothing of the user's yet
    opened = by_label(at.selectbox, "Open a run")
    opened.select_index(1).run()
    assert not at.exception, at.exception
    assert any("read-only" in c.value for c in at.caption)
    assert not [b for b in at.button if b.label == "Delete"]
    whose.set_value("Your runs").run()
    assert any("No runs yet" in i.value for i in at.info)


def test_learn_climbs_the_ladder_from_the_gallerys_runs(gallery: Path):
    spec = load_spec()
    assert spec is not None
    at = open_app("learn")
    table = at.dataframe[0].value
    with Ledger() as ledger:
        steps = ladder_steps(spec, summarize(ledger, spec.experiment))
    shown = list(table["accuracy [95% CI]"])
    for step, cell in zip(steps, shown, strict=True):
        assert step.row is not None and step.row.accuracy is not None
        assert cell.startswith(f"{step.row.accuracy:.2f} [")
    assert [c for c in at.caption if "go from wrong at the first step" in c.value]
    assert SHADED in html_of(at)
    live = [b for b in at.button if b.label == "Run this step live"]
    assert len(live) == 6  # every step reruns live
    live[1].click().run()
    assert not at.exception, at.exception
    assert at.session_state["pg.source"] == SOURCES[2]
    assert at.session_state["pg.strategy"] == "cot"
    assert PENDING not in at.session_state


def test_learn_offers_each_stored_ladder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAB_GALLERY", str(make_gallery(
        tmp_path, experiments=("ladder-gsm8k50", "ladder-math500"))))
    at = open_app("learn")
    which = by_label(at.radio, "Ladder")
    assert [o.rsplit("(", 1)[1] for o in which.options] == ["ladder-gsm8k50)", "ladder-math500)"]
    assert any("ladder-gsm8k50:" in c.value for c in at.caption)
    which.set_value("ladder-math500").run()
    assert not at.exception, at.exception
    assert any("ladder-math500:" in c.value for c in at.caption)
    assert any("MATH-500" in m.value for m in at.markdown)
    changes = list(at.dataframe[0].value["change"])
    assert changes[1].startswith("+100 [")  # paired against the step before


def test_learn_opens_a_demonstrations_measured_run_in_history(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    from lab.engine.scripted import ScriptedEngine
    from lab.execution import RunRequest, execute
    from lab.store.gallery import export_gallery
    from lab.tasks.datasets import load_set
    from lab.ui.presets import sections

    demo = next(s.preset for s in sections() if s.preset is not None)
    problem = load_set(demo.problem_set, limit=1)[0]
    out = tmp_path / "demos.jsonl.gz"
    with Ledger(f"sqlite:///{tmp_path / 'measured.db'}") as measured:
        engine = ScriptedEngine(lambda r: "Work.\n\nThe answer is 7.")
        execute(RunRequest(demo.strategy, problem, experiment="learn-demos"), engine, measured)
        export_gallery(measured, ["learn-demos"], out)
    monkeypatch.setenv("LAB_GALLERY", str(out))
    at = open_app("learn")
    buttons = [b for b in at.button if b.label == "Open the measured run"]
    assert len(buttons) == 1
    buttons[0].click().run()
    assert not at.exception, at.exception
    assert at.session_state["hist.whose"] == "Gallery" and at.session_state["hist.open"] == 1
    assert any("read-only" in c.value for c in at.caption)  # History opened the run


def test_compare_quotes_the_paired_difference_measured_on_many_problems(gallery: Path):
    at = open_app("compare")
    assert at.multiselect[0].value == ["cot", "self-consistency"]
    said = " ".join(m.value for m in at.markdown)
    assert "`ladder-gsm8k50` (gallery)" in said
    assert "self-consistency n=8 (accuracy) minus cot (accuracy)" in said
    assert "95% interval" in said
