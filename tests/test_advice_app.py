"""AppTest of the Playground's "Which strategy for this problem?" panel on a scripted model:
the probe runs like any run (not in the page's script), then the difficulty, the advice and
every option's prediction are shown; without a stored sweep the panel says what to run."""

from __future__ import annotations

import pytest
from test_app_support import TIMEOUT_S, answer_18, open_app, scripted_engine, texts

from lab import config
from lab.engine.scripted import ScriptedEngine
from lab.evaluation import SweepSpec, build_cells, run_sweep
from lab.evaluation.sweep import StrategySpec
from lab.store.ledger import Ledger
from lab.tasks.datasets import load_set
from lab.ui import state
from lab.ui.advice import PROBE, stored_model_name


@pytest.fixture
def worker_engine():
    state.use_worker_engines(scripted_engine)
    yield
    state.close_workers()
    state.use_worker_engines(None)


def store_sweep(engine: ScriptedEngine) -> None:
    spec = SweepSpec([StrategySpec("cot"), StrategySpec("self-consistency")],
                     sweeps={"n": [1, 2, 4, 8]}, params={"max_tokens": 32, "early_stop": False})
    with Ledger(config.database_url()) as ledger:
        run_sweep(build_cells(spec, load_set("arith", limit=4)), engine, ledger, "app-sweep")


def probe(at):
    at.button(key="pg-advice-probe").click().run()
    assert not at.exception, at.exception
    started = at.session_state[PROBE]
    assert started["batch"].wait(TIMEOUT_S), "the probe did not finish in time"
    at.run()
    assert not at.exception, at.exception
    return started


def test_the_panel_probes_and_advises_from_the_stored_sweep(scripted: ScriptedEngine):
    store_sweep(scripted)
    at = open_app("playground")
    assert at.selectbox(key="pg.advice.sweep").value == "app-sweep"
    assert any("The probe: self-consistency n=4" in c for c in texts(at.caption))
    calls_before = len(scripted.calls)
    started = probe(at)
    run = started["batch"].runs[0]
    assert run.spec.params["n"] == 4 and run.spec.params["max_tokens"] == 32
    assert len(scripted.calls) == calls_before + 1  # one batched call
    metrics = {m.label: str(m.value) for m in at.metric}
    assert metrics["Agreement"] == "2/4"  # the scripted chains alternate 18 and 17
    assert metrics["Probe cost"].endswith("tokens") and metrics["Probe cost"] != "0 tokens"
    advice = " ".join(texts(at.success))
    assert "predicted accuracy" in advice and "app-sweep" in advice
    table = at.dataframe[0].value
    assert {"the probe's own vote (n=4, already paid)", "cot",
            "self-consistency n=8"} <= set(table["option"])
    assert list(table[""]).count("advised") == 1
    assert any("Difficulty: **split**" in m for m in texts(at.markdown))


def test_without_a_stored_sweep_the_panel_says_what_to_run(scripted: ScriptedEngine):
    at = open_app("playground")
    assert any("No stored sweep" in i for i in texts(at.info))
    probe(at)
    notes = " ".join(texts(at.info))
    assert "lab eval --set arith --limit 30 -s cot -s self-consistency" in notes
    assert any(m.label == "Agreement" for m in at.metric)
    assert not at.success


def test_the_probe_goes_through_the_run_worker(worker_engine: None):
    """In the app the probe is a run of the worker process; the sweep is looked up under the
    name the chosen model's runs are stored under (its file's stem)."""
    store_sweep(ScriptedEngine(answer_18, model_name=stored_model_name()))
    at = open_app("playground")
    started = probe(at)
    assert state.worker().alive and started["batch"].runs[0].run_id is not None
    assert any("predicted accuracy" in s for s in texts(at.success))
