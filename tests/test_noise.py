"""The noise floor: one configuration rerun with other seeds, and how far its accuracy moves,
checked against a hand computation and through `lab eval --repeat`."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from lab.cli import main
from lab.engine.scripted import ScriptedEngine
from lab.evaluation.noise import reruns

# Four problems, three reruns: p1 right in all, p2 in none, p3 only in seed 0, p4 in seeds
# 0 and 1.
OUTCOMES = {
    "seed=0": {"p1": 1.0, "p2": 0.0, "p3": 1.0, "p4": 1.0},
    "seed=1": {"p1": 1.0, "p2": 0.0, "p3": 0.0, "p4": 1.0},
    "seed=2": {"p1": 1.0, "p2": 0.0, "p3": 0.0, "p4": 0.0, "p5": 1.0},  # p5: not shared
}


def test_the_spread_of_reruns_by_hand():
    found = reruns(OUTCOMES, "self-consistency", "n=8")
    assert found.problems == 4 and found.accuracies == [0.75, 0.5, 0.25]
    assert found.mean == pytest.approx(0.5) and found.range == pytest.approx(0.5)
    assert found.sd == pytest.approx(0.25)  # sqrt(((.25)^2 + 0 + (.25)^2) / 2)
    assert found.moved == 2  # p3 and p4
    # the widest pair, seed 0 against seed 2: differences (0, 0, 1, 1), mean 0.5, sd of the
    # differences sqrt(1/3), standard error sqrt(1/3)/2
    widest = found.widest
    assert widest.difference == pytest.approx(0.5)
    assert widest.standard_error == pytest.approx(math.sqrt(1 / 3) / 2)
    assert (widest.only_a, widest.only_b) == (2, 0)


def test_one_rerun_is_no_noise_floor():
    with pytest.raises(ValueError, match="at least two reruns"):
        reruns({"seed=0": {"p1": 1.0}})


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    engine = ScriptedEngine(lambda r: f"Some work.\n\nThe answer is {18 if r.seed % 3 else 7}.")
    monkeypatch.setattr("lab.commands.evaluate.open_engine", lambda name: engine)
    monkeypatch.setattr("lab.commands.evaluate._model_name", lambda name: "scripted")
    return engine


def lab(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_lab_eval_repeat_runs_seeds_and_prints_the_noise_floor(engine: ScriptedEngine):
    command = ["eval", "--set", "arith", "--limit", "4", "-s", "self-consistency:n=2",
               "-p", "max_tokens=40", "--repeat", "3", "--seed", "5", "--experiment", "noise"]
    code, out, err = lab(*command)
    assert code == 0, err
    assert "the same configuration rerun (the noise floor)" in out
    assert "seed=5, seed=6, seed=7" in out
    code, out, err = lab(*command, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["ran"] == 0  # every seed stored: nothing to run again
    seeds = sorted({r["params"]["seed"] for r in data["rows"]})
    assert seeds == [5, 6, 7]
    [vote, *_] = [r for r in data["reruns"] if r["metric"] == "accuracy"]
    assert vote["names"] == ["seed=5", "seed=6", "seed=7"] and vote["problems"] == 4
    assert vote["range"] == max(vote["accuracies"]) - min(vote["accuracies"])


def test_repeat_refuses_a_seed_sweep_of_its_own(engine: ScriptedEngine):
    code, _, err = lab("eval", "--set", "arith", "--limit", "2", "-s", "cot", "--repeat", "2",
                       "--sweep", "seed=1,2")
    assert code != 0 and "--repeat sweeps the seed itself" in err


def test_the_scaling_page_shows_the_noise_floor_of_an_experiment_with_reruns(
        scripted: ScriptedEngine):
    from test_app_support import open_app, texts

    from lab import config
    from lab.evaluation.sweep import StrategySpec, SweepSpec, build_cells, run_sweep
    from lab.store.ledger import Ledger
    from lab.tasks.datasets import load_set

    spec = SweepSpec([StrategySpec("self-consistency")], sweeps={"seed": ["0", "1"]},
                     params={"n": 2, "max_tokens": 16})
    run_sweep(build_cells(spec, load_set("arith", limit=3)), scripted,
              Ledger(config.database_url()), "noise-test")
    at = open_app("scaling")
    assert "##### The same configuration rerun: the noise floor" in texts(at.markdown)
    table = next(d.value for d in at.dataframe if "problems that moved" in d.value.columns)
    assert list(table["reruns"])[0] == "seed=0, seed=1"
