"""Learn's ladder: its steps read from an experiment's own table, one problem at every step;
on the shipped gallery its numbers are exactly what `lab eval --json` prints."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from gallery_support import make_gallery

from lab import config
from lab.cli import main
from lab.evaluation import summarize
from lab.evaluation.ladder import (
    ORACLE,
    climbing_problems,
    ladder_files,
    ladder_steps,
    load_spec,
    load_specs,
    rungs,
)
from lab.store import Ledger
from lab.store.gallery import import_gallery

SHIPPED = config.REPO_ROOT / "data" / "gallery.jsonl.gz"


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger() as opened:
        import_gallery(opened, make_gallery(tmp_path))
        yield opened


def test_every_step_has_its_row_and_the_oracle_comes_last(ledger: Ledger):
    spec = load_spec()
    assert spec is not None
    steps = ladder_steps(spec, summarize(ledger, spec.experiment))
    assert [s.spec.title for s in steps] == [*(s.title for s in spec.steps), spec.oracle.title]
    assert all(s.row is not None for s in steps)
    direct, cot, one, two, four, eight, oracle = (s.row for s in steps)
    assert (direct.accuracy, cot.accuracy) == (0.0, 1.0)  # the scripted model's pattern
    assert one.metric == "maj@k" and one.k == 1 and one.derived
    assert eight.metric == "accuracy" and eight.params["n"] == 8 and not eight.derived
    assert oracle.metric == ORACLE and oracle.k == 8
    assert one.tokens < two.tokens < four.tokens < eight.tokens


def test_rungs_show_one_problem_at_every_step(ledger: Ledger):
    spec = load_spec()
    assert spec is not None
    steps = ladder_steps(spec, summarize(ledger, spec.experiment))
    problems = climbing_problems(steps)
    assert problems and problems[0] == "arith-0001"  # wrong at once, right by the vote
    climbed = rungs(ledger, steps, problems[0])
    assert [r.spec.title for r in climbed] == [s.title for s in spec.steps]
    direct, cot, one, two, four, eight = climbed
    assert (direct.correct, cot.correct, eight.correct) == (False, True, True)
    assert one.node is eight.trace.solutions()[0] or one.node.text == (
        eight.trace.solutions()[0].text)  # the run's first sampled chain
    assert one.params["n"] == 1 and two.params["n"] == 2 and eight.params["n"] == 8
    assert two.node is None and two.chance is not None and 0 <= two.chance <= 1
    assert four.run_id == eight.run_id  # votes of fewer chains come from the 8-chain run


def test_every_ladder_file_is_read_and_measured_by_its_own_command():
    specs = load_specs()
    assert [s.experiment for s in specs] == ["ladder-gsm8k50", "ladder-math500"]
    assert len(specs) == len(ladder_files())
    for spec in specs:
        arguments = shlex.split(spec.command)
        assert arguments[:2] == ["lab", "eval"]
        assert arguments[arguments.index("--experiment") + 1] == spec.experiment
        assert spec.oracle is not None and spec.steps[0].strategy == "direct"


def test_each_step_shows_its_paired_change_from_the_step_before(ledger: Ledger):
    from lab.ui.ladder import step_table

    spec = load_spec()
    assert spec is not None
    table = step_table(ladder_steps(spec, summarize(ledger, spec.experiment)))
    changes = [row.get("change") for row in table]
    assert changes[0] == ""  # the first step has none before it
    assert changes[1] == "+100 [+100, +100]"  # cot right, direct wrong on all 6 problems
    assert changes[-1] == ""  # the oracle is not a step
    assert all("[" in c for c in changes[2:-1])


@pytest.mark.parametrize("spec", load_specs(), ids=lambda spec: spec.experiment)
def test_the_shipped_ladder_equals_lab_eval_json(spec, shared_data: Path,
                                                monkeypatch: pytest.MonkeyPatch):
    with Ledger() as ledger:
        import_gallery(ledger, SHIPPED)
        if spec.experiment not in ledger.experiments():
            pytest.fail(f"the gallery lacks {spec.experiment}: a ladder file without its "
                        "measured experiment shows nothing on a first start")
        steps = ladder_steps(spec, summarize(ledger, spec.experiment, spec.ladders()))
    monkeypatch.chdir(config.REPO_ROOT)  # the set is named as measured: ../shared/data/...
    arguments = shlex.split(spec.command)[2:]  # without "lab eval"
    result = CliRunner().invoke(main, ["eval", *arguments, "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["ran"] == 0  # every cell is stored: nothing was run
    for step in steps:
        assert step.row is not None
        same = [r for r in printed["rows"] if r["strategy"] == step.row.strategy
                and r["metric"] == step.row.metric and r["k"] == step.row.k
                and r["params"] == step.row.params]
        assert len(same) == 1, step.spec.title
        assert same[0]["accuracy"] == step.row.accuracy
        assert same[0]["tokens"] == step.row.tokens
        assert (same[0]["low"], same[0]["high"]) == (step.row.low, step.row.high)
