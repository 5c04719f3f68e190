"""The app on its run worker (a process of its own), through AppTest: a run, Stop, a reloaded
page that reattaches to the running run, and a killed worker reported in the page."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from test_app_support import open_app, scripted_engine, slow_scripted_engine, texts

from lab import config
from lab.store.ledger import Ledger
from lab.ui import scaling, state

TIMEOUT_S = 60


@pytest.fixture
def worker_engine(request: pytest.FixtureRequest) -> Iterator[None]:
    state.use_worker_engines(getattr(request, "param", scripted_engine))
    yield
    state.close_workers()
    state.use_worker_engines(None)


def start_run(strategy: str = "self-consistency", n: int = 2):
    at = open_app()
    at.selectbox(key="pg.strategy").set_value(strategy).run()
    at.number_input(key=f"pg.{strategy}.n").set_value(n)
    at.button(key="pg.run").click().run()
    assert not at.error, texts(at.error)
    return at, at.session_state["pg.batch"]


def wait_for_tokens(batch) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not (batch.runs[0].trace and any(n.tokens for n in batch.runs[0].trace.nodes)):
        assert time.monotonic() < deadline, "no tokens came"
        time.sleep(0.05)


def test_a_run_goes_through_the_worker_and_is_drawn(worker_engine: None):
    at, batch = start_run()
    assert batch.wait(TIMEOUT_S)
    at.run()
    assert state.worker().pid != os.getpid() and state.worker().alive
    assert sum(m.startswith("**Chain ") for m in texts(at.markdown)) == 2
    assert any("Answer: 18" in s for s in texts(at.success))
    run = batch.runs[0]
    assert Ledger(config.database_url()).get_run(run.run_id).correct is True


@pytest.mark.parametrize("worker_engine", [slow_scripted_engine], indirect=True)
def test_stop_a_reloaded_page_reattaches_and_stops_the_run(worker_engine: None):
    _, batch = start_run()
    wait_for_tokens(batch)
    reloaded = open_app()  # a new session: a reload, or a second tab
    assert reloaded.session_state["pg.batch"] is batch
    assert any(b.label == "Stop" for b in reloaded.button)
    reloaded.button(key="pg-stop").click().run()
    assert batch.wait(TIMEOUT_S)
    reloaded.run()
    assert any("Stopped." in w for w in texts(reloaded.warning))
    stored = Ledger(config.database_url()).get_run(batch.runs[0].run_id)
    assert stored.status == "interrupted"


@pytest.mark.parametrize("worker_engine", [slow_scripted_engine], indirect=True)
def test_a_killed_worker_is_said_in_one_sentence_and_replaced(worker_engine: None):
    at, batch = start_run()
    wait_for_tokens(batch)
    time.sleep(0.6)  # the running run is in the ledger
    first = state.worker().pid
    os.kill(first, signal.SIGKILL)
    assert batch.wait(TIMEOUT_S)
    at.run()
    assert any("worker process was killed" in e for e in texts(at.error))
    assert Ledger(config.database_url()).list_runs()[0].status == "interrupted"
    at.button(key="pg.run").click().run()
    again = at.session_state["pg.batch"]
    assert again is not batch and state.worker().pid != first
    assert again.wait(TIMEOUT_S) and again.runs[0].error is None


def test_a_scaling_sweep_runs_in_the_worker(worker_engine: None):
    at = open_app("scaling")
    at.number_input(key="sc.count").set_value(2)
    at.text_input(key="sc.ladder").set_value("1, 2")
    at.text_input(key="sc.experiment").set_value("worker-sweep").run()
    at.button(key="sc.run").click().run()
    assert not at.error, texts(at.error)
    job = scaling.jobs()["worker-sweep"]
    assert job.wait(TIMEOUT_S) and job.error is None
    assert len(job.result.run_ids) == len(job.cells) == 4  # 2 problems x (cot, sc n=2)
    at.run()
    assert any("worker-sweep" in s and "done" in s for s in texts(at.success))
    table = next(d.value for d in at.dataframe if "accuracy [95% CI]" in d.value.columns)
    assert {"cot", "self-consistency"} == set(table["strategy"])
