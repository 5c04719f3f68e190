"""The model is loaded in the run worker when the app starts, before any run: the first page
view starts the worker and the load in the background (the page is not kept waiting); a run
sent while it loads waits for it and says so; a change of model in the sidebar loads that one;
on the real model (SmolLM2-135M), the worker reports it loaded before a run is sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_app_support import TIMEOUT_S, answer_18, open_app, scripted_engine, texts

from lab import config
from lab.engine.scripted import ScriptedEngine
from lab.execution import RunRequest
from lab.store.ledger import Ledger
from lab.tasks.problem import Problem
from lab.ui import live, state
from lab.worker.client import WorkerClient

PROBLEM = Problem(id="p1", question="What is 9 + 9?", gold="18", source="test")
LOAD_S = 3.0  # how long slow_loading_engine takes to "load"


def slow_loading_engine(model: str) -> ScriptedEngine:
    """A scripted model that takes LOAD_S to load (picklable: the worker builds it)."""
    time.sleep(LOAD_S)
    return ScriptedEngine(answer_18, model_name="scripted")


def wait_for(condition, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def loaded_name(client: WorkerClient) -> str | None:
    """The model the worker says it has loaded (asked over its connection)."""
    info = client.status()
    return info.name if info is not None else None


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two local models, model-a (the default) and model-b; the worker's engines are scripted,
    so the files are never read."""
    for name in ("model-a", "model-b"):
        (tmp_path / f"{name}.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("LAB_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("LAB_MODEL", "model-a")
    monkeypatch.setenv("LAB_PRELOAD", "on")


@pytest.fixture
def worker_engine(request: pytest.FixtureRequest, models: None) -> Iterator[None]:
    state.close_workers()
    state.use_worker_engines(getattr(request, "param", scripted_engine))
    yield
    state.close_workers()
    state.use_worker_engines(None)


def test_the_first_page_view_loads_the_model_before_any_run(worker_engine: None):
    at = open_app()
    client = state.worker()
    assert client.alive, "the first page view starts the worker"
    wait_for(lambda: loaded_name(client) == "model-a")
    assert Ledger(config.database_url()).list_runs() == []  # no run was needed
    at.button(key="pg.run").click().run()
    batch = at.session_state["pg.batch"]
    assert batch.runs[0].phase != "loading"
    assert batch.wait(TIMEOUT_S) and batch.runs[0].error is None
    assert batch.runs[0].trace.status == "complete"


@pytest.mark.parametrize("worker_engine", [slow_loading_engine], indirect=True)
def test_the_page_does_not_wait_for_the_load_and_a_run_sent_meanwhile_waits_for_it(
        worker_engine: None):
    at = open_app()
    client = state.worker()
    assert client.loading == "model-a" and client.model is None  # the page did not wait
    assert any("Loading the model" in c for c in texts(at.sidebar.caption))
    at.button(key="pg.run").click().run()  # at once, while the model loads
    batch = at.session_state["pg.batch"]
    assert batch.runs[0].phase == "loading"
    assert any(i.value == live.LOADING for i in at.info)
    assert batch.wait(TIMEOUT_S) and batch.runs[0].error is None
    assert client.model is not None and client.model.name == "model-a"
    stored = Ledger(config.database_url()).get_run(batch.runs[0].run_id)
    assert stored.status == "complete" and stored.correct is True


def sidebar_model() -> None:
    """The sidebar's model section alone (AppTest draws app.py's sidebar on its first run
    only, so a change of its selectbox is tried here)."""
    from lab.ui.sidebar import model_section

    model_section()


def test_switching_model_in_the_sidebar_loads_that_one(worker_engine: None):
    at = AppTest.from_function(sidebar_model, default_timeout=TIMEOUT_S).run()
    client = state.worker()
    wait_for(lambda: loaded_name(client) == "model-a")
    at.run()
    assert any("model ready" in c for c in texts(at.caption))
    at.selectbox(key=state.MODEL_KEY).set_value("model-b").run()
    wait_for(lambda: loaded_name(client) == "model-b")
    at.run()  # another redraw of the same choice loads nothing again
    assert any("model ready" in c for c in texts(at.caption))
    assert client.loading is None and client.model.name == "model-b"


def test_nothing_is_loaded_with_preload_off_or_a_model_that_is_not_there(
        worker_engine: None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAB_PRELOAD", "off")
    AppTest.from_function(sidebar_model, default_timeout=TIMEOUT_S).run()
    assert not state.worker().alive
    monkeypatch.setenv("LAB_PRELOAD", "on")
    state.use_worker_engines(None)  # the real loader: the file must be a model
    monkeypatch.setenv("LAB_MODEL", "qwen2.5-coder-0.5b")
    monkeypatch.setenv("LAB_MODELS_DIR", str(Path(config.models_dir()) / "none-here"))
    at = AppTest.from_function(sidebar_model, default_timeout=TIMEOUT_S).run()
    assert any("not downloaded" in w for w in texts(at.warning))
    assert not state.worker().alive and not at.error


def test_on_the_real_model_it_is_loaded_before_the_first_run(smollm_path: Path):
    client = WorkerClient()
    try:
        started = time.monotonic()
        client.preload(str(smollm_path))
        assert time.monotonic() - started < 5.0  # returns at once; the worker loads
        wait_for(lambda: loaded_name(client) == str(smollm_path), timeout_s=120)
        assert client.model.load_s > 0 and client.model.tokens_per_s
        batch = client.submit_runs(str(smollm_path), [RunRequest(
            "self-consistency", PROBLEM, {"n": 2, "max_tokens": 16})], "pg")
        assert batch.runs[0].phase != "loading"  # it is loaded
        assert batch.wait(120)
        [run] = batch.runs
        assert run.error is None and run.trace.status == "complete", run.error
        assert Ledger(config.database_url()).get_run(run.run_id).status == "complete"
    finally:
        client.close()


def test_the_warm_up_runs_a_whole_run_on_no_model_and_stores_nothing(tmp_path: Path,
                                                                      monkeypatch) -> None:
    """What the worker runs after a load so that the first Run finds every module imported:
    a complete, graded self-consistency run on a scripted engine, kept out of the ledger."""
    from lab.worker.server import warm_up_run

    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    outcome = warm_up_run()
    assert outcome.trace.status == "complete"
    assert outcome.trace.final_answer == "2" and outcome.trace.correct is True
    assert outcome.run_id is None
    assert not (tmp_path / "ledger.db").exists()
