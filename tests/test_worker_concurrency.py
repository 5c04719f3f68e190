"""`lab ui [--engine-url URL] --concurrency N`: the app's run worker keeps up to N jobs in
flight. Against model servers each has an engine of its own (a scripted model standing in for
the server, then llama-cpp-python's real server on SmolLM2-135M); on a local model they are
lanes of one shared decoder (the real SmolLM2-135M); with 1, one at a time; results are
stored as before."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_app_support import slow_scripted_engine
from test_engine_url import ModelServer, free_port

from lab import config
from lab.engine.openai import OpenAICompatibleEngine
from lab.execution import RunRequest, cannot_start
from lab.store.ledger import Ledger
from lab.strategies.registry import run_strategy
from lab.tasks.datasets import load_set
from lab.tasks.problem import Problem
from lab.worker.client import WorkerBatch, WorkerClient

PROBLEM = Problem(id="p1", question="What is 9 + 9?", gold="18", source="test")
SERVER = f"http://127.0.0.1:{free_port()}/v1"  # a server's address; the scripted engine answers
TIMEOUT_S = 120


def most_running_at_once(batches: Sequence[WorkerBatch], timeout_s: float = TIMEOUT_S) -> int:
    """Watch the batches until they end: the most runs that were running at the same time."""
    most, deadline = 0, time.monotonic() + timeout_s
    while not all(b.done for b in batches):
        assert time.monotonic() < deadline, "the runs did not finish in time"
        most = max(most, sum(r.phase == "running" for b in batches for r in b.runs))
        time.sleep(0.01)
    return most


def two_jobs_at_once(client: WorkerClient, model: str, request: RunRequest) -> tuple[
        list[WorkerBatch], int]:
    batches = [client.submit_runs(model, [request], f"page-{i}") for i in range(2)]
    return batches, most_running_at_once(batches)


@pytest.mark.parametrize("concurrency", [1, 2])
def test_jobs_on_a_server_overlap_up_to_the_concurrency(concurrency: int,
                                                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAB_ENGINE_URL", SERVER)
    monkeypatch.setenv("LAB_CONCURRENCY", str(concurrency))
    client = WorkerClient(slow_scripted_engine)
    try:
        batches, most = two_jobs_at_once(client, SERVER, RunRequest(
            "self-consistency", PROBLEM, {"n": 2}))
        assert most == concurrency
        runs = [b.runs[0] for b in batches]
        assert all(r.error is None and r.trace.status == "complete" for r in runs)
        stored = [Ledger(config.database_url()).get_run(r.run_id) for r in runs]
        assert [s.status for s in stored] == ["complete", "complete"]
        assert all(s.correct is True for s in stored)
    finally:
        client.close()


def test_a_local_model_runs_one_job_at_a_time_by_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LAB_ENGINE_URL", raising=False)
    monkeypatch.delenv("LAB_CONCURRENCY", raising=False)
    client = WorkerClient(slow_scripted_engine)
    try:
        batches, most = two_jobs_at_once(client, "smollm2-135m", RunRequest("cot", PROBLEM))
        assert most == 1
        assert batches[1].runs[0].error is None
    finally:
        client.close()


def test_a_second_job_waits_only_when_the_slots_are_taken(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAB_ENGINE_URL", SERVER)
    monkeypatch.setenv("LAB_CONCURRENCY", "2")
    client = WorkerClient(slow_scripted_engine)
    try:
        request = RunRequest("cot", PROBLEM)
        first = client.submit_runs(SERVER, [request], "a")
        second = client.submit_runs(SERVER, [request], "b")
        third = client.submit_runs(SERVER, [request], "c")
        assert second.runs[0].phase != "waiting" and third.runs[0].phase == "waiting"
        local = client.submit_runs("smollm2-135m", [request], "d")
        assert local.runs[0].phase == "waiting"
        for batch in (first, second, third, local):
            assert batch.wait(TIMEOUT_S) and batch.runs[0].error is None
    finally:
        client.close()


# -- lab ui ------------------------------------------------------------------------------------
def lab_ui(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, dict[str, str]]:
    """`lab ui ARGS` up to the exec of Streamlit: exit code, output, the env it passed."""
    from lab.cli import main
    from lab.commands import ui as ui_command

    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(ui_command.os, "execve", lambda *a: calls.append(a))
    monkeypatch.setattr(ui_command.os, "chdir", lambda path: None)
    result = CliRunner().invoke(main, ["ui", "--headless", *args])
    env = calls[0][2] if calls else {}
    assert isinstance(env, dict)
    return result.exit_code, result.output, env


def test_lab_ui_passes_the_concurrency_and_refuses_too_many_lanes_of_a_local_model(
        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LAB_ENGINE_URL", raising=False)
    monkeypatch.delenv("LAB_CONCURRENCY", raising=False)
    code, output, env = lab_ui(monkeypatch, "--concurrency", "5")
    assert code != 0 and not env
    assert "--concurrency 5: a local model decodes at most 4 runs together" in output
    code, output, env = lab_ui(monkeypatch, "--concurrency", "3")
    assert code == 0 and env["LAB_CONCURRENCY"] == "3"
    assert "3 runs at once, decoded together" in output
    code, output, env = lab_ui(monkeypatch, "--engine-url", "http://127.0.0.1:8080",
                               "--concurrency", "8")
    assert code == 0, output
    assert env["LAB_ENGINE_URL"] == "http://127.0.0.1:8080" and env["LAB_CONCURRENCY"] == "8"
    assert "model server http://127.0.0.1:8080, 8 runs at once" in output


def test_the_default_is_one_job_per_server_as_in_lab_eval(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LAB_CONCURRENCY", raising=False)
    monkeypatch.setenv("LAB_ENGINE_URL", "http://a:1/v1, http://b:2")
    assert config.engine_concurrency() == 2
    monkeypatch.delenv("LAB_ENGINE_URL")
    assert config.engine_concurrency() == 1


# -- a real server ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(smollm_path: Path):
    running = ModelServer(smollm_path)
    yield running
    running.stop()


def overlap_on(url: str, monkeypatch: pytest.MonkeyPatch) -> list[WorkerBatch]:
    """Two self-consistency jobs sent at once to the server at `url` with two slots: they
    overlap and both are stored complete."""
    monkeypatch.setenv("LAB_ENGINE_URL", url)
    monkeypatch.setenv("LAB_CONCURRENCY", "2")
    client = WorkerClient()
    try:
        problem = load_set("arith", limit=1)[0]
        batches, most = two_jobs_at_once(client, url, RunRequest(
            "self-consistency", problem, {"n": 2, "max_tokens": 16}))
        assert most == 2
        for batch in batches:
            [run] = batch.runs
            assert run.error is None and run.trace.status == "complete", run.error
            stored = Ledger(config.database_url()).get_run(run.run_id)
            assert stored.status == "complete" and stored.generated_tokens > 0
        assert client.model is not None and client.model.name == url
        return batches
    finally:
        client.close()


def test_two_jobs_overlap_on_a_real_server_and_are_stored(server, smollm_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    for batch in overlap_on(server.url, monkeypatch):
        stored = Ledger(config.database_url()).get_run(batch.runs[0].run_id)
        assert stored.model == smollm_path.stem


def test_two_jobs_overlap_on_llama_cpps_own_server(smollm_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch):
    """llama.cpp's C++ `llama-server` with two slots (continuous batching across requests),
    where one is built: LAB_TEST_LLAMA_SERVER names its binary (it is not in the wheel)."""
    binary = os.environ.get("LAB_TEST_LLAMA_SERVER")
    if not binary:
        pytest.skip("LAB_TEST_LLAMA_SERVER (a llama-server binary) is not set")
    server = ModelServer(smollm_path, llama_server=binary, slots=2)
    try:
        overlap_on(server.url, monkeypatch)
    finally:
        server.stop()


def test_chains_that_fit_a_slot_run_on_llama_cpps_own_server(smollm_path: Path):
    """Each chain is its own request in its own slot of 2,048 tokens: 4 chains of 600 tokens
    start and finish, where one shared context of 2,048 would not hold them at once."""
    binary = os.environ.get("LAB_TEST_LLAMA_SERVER")
    if not binary:
        pytest.skip("LAB_TEST_LLAMA_SERVER (a llama-server binary) is not set")
    server = ModelServer(smollm_path, llama_server=binary, slots=2)
    try:
        engine = OpenAICompatibleEngine(server.url).connect()
        assert engine.n_ctx == 2048  # llama-server's context per slot
        problem = load_set("arith", limit=1)[0]
        params = {"n": 4, "max_tokens": 600, "early_stop": False}
        assert cannot_start(engine, RunRequest("self-consistency", problem, params)) is None
        trace = run_strategy("self-consistency", problem, engine, params)
        assert trace.status == "complete"
        assert len([n for n in trace.nodes if n.kind == "chain"]) == 4
    finally:
        server.stop()


# -- a local model's lanes ---------------------------------------------------------------------
def test_two_jobs_on_a_local_model_are_decoded_together(smollm_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LAB_ENGINE_URL", raising=False)
    monkeypatch.setenv("LAB_CONCURRENCY", "2")
    client = WorkerClient()
    try:
        problem = load_set("arith", limit=1)[0]
        batches, most = two_jobs_at_once(client, "smollm2-135m", RunRequest(
            "self-consistency", problem, {"n": 2, "max_tokens": 24}))
        assert most == 2
        runs = [batch.runs[0] for batch in batches]
        assert all(r.error is None and r.trace.status == "complete" for r in runs), runs
        # the same request and seed, but not always the same chains: decoded in one batch,
        # a chain may part at a near-tie (tests/test_shared_engine.py checks the engine alone)
        chains = [[n.text for n in r.trace.nodes if n.kind == "chain"] for r in runs]
        assert [len(c) for c in chains] == [2, 2] and all(all(c) for c in chains)
        stored = [Ledger(config.database_url()).get_run(r.run_id) for r in runs]
        assert all(s.status == "complete" and s.model == smollm_path.stem for s in stored)
    finally:
        client.close()


def test_a_sweep_takes_one_lane_of_a_local_model_and_a_single_run_goes_beside_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from lab.evaluation import StrategySpec, SweepSpec, build_cells

    monkeypatch.delenv("LAB_ENGINE_URL", raising=False)
    monkeypatch.setenv("LAB_CONCURRENCY", "2")
    client = WorkerClient(slow_scripted_engine)
    try:
        cells = build_cells(SweepSpec([StrategySpec("cot")]), load_set("arith", limit=4))
        sweep = client.submit_sweep("smollm2-135m", "one-students-sweep", cells)
        single = client.submit_runs("smollm2-135m", [RunRequest("cot", PROBLEM)], "another")
        assert single.runs[0].phase != "waiting"  # a lane is free for it
        assert single.wait(TIMEOUT_S) and single.runs[0].error is None
        assert not sweep.finished.is_set()  # it ended while the sweep still ran
        assert sweep.wait(TIMEOUT_S) and sweep.error is None
    finally:
        client.close()
