"""`--engine-url`: lab solve, lab generate and the app's run worker against a real
OpenAI-compatible server (llama-cpp-python's, on SmolLM2-135M): runs stored under the served
model, what a server cannot give noted in the trace or refused before the run, and the judge
scorer from a model server in the app's worker."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.cli import main
from lab.engine.base import EngineUnavailable, SamplingParams
from lab.engine.openai import OpenAICompatibleEngine
from lab.execution import ENGINE_NOTES, RunRequest
from lab.store.ledger import Ledger
from lab.tasks.datasets import load_set

TINY = ["-p", "max_tokens=16"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ModelServer:
    """`python -m lab.engine.llama_server` on a free port, one thread, until stopped; or
    llama.cpp's own `llama-server` binary (`llama_server`), with `slots` parallel slots."""

    def __init__(self, model: Path, llama_server: str | None = None, slots: int = 2):
        port = str(free_port())
        self.url = f"http://127.0.0.1:{port}"
        if llama_server is not None:
            command = [llama_server, "-m", str(model), "--host", "127.0.0.1", "--port", port,
                       "-np", str(slots), "-c", str(2048 * slots), "-t", "1"]
        else:
            pytest.importorskip("uvicorn", reason="llama-cpp-python[server] is not installed")
            command = [sys.executable, "-m", "lab.engine.llama_server", "--model", str(model),
                       "--host", "127.0.0.1", "--port", port, "--n_ctx", "2048",
                       "--n_threads", "1", "--logits_all", "true", "--verbose", "false"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/v1/models", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    pytest.fail(f"server died: {self.proc.stderr.read().decode()[-500:]}")
                time.sleep(0.3)
        self.stop()
        pytest.fail("the model server did not start within 90 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stderr.close()


@pytest.fixture(scope="module")
def server(smollm_path: Path):
    running = ModelServer(smollm_path)
    yield running
    running.stop()


def lab(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_solve_against_the_server_stores_the_run_under_the_served_model(server, smollm_path):
    code, out, err = lab("solve", "--engine-url", server.url, "-s", "self-consistency",
                         "-p", "n=2", *TINY, "--set", "arith", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["status"] == "complete" and summary["model"] == smollm_path.stem
    assert summary["compute"]["generated_tokens"] > 0
    stored = Ledger().load_trace(summary["run_id"])
    chains = [n for n in stored.nodes if n.kind == "chain"]
    assert len(chains) == 2 and all(t.logprob <= 0 for c in chains for t in c.tokens)


def test_the_environment_names_the_server_too(server, monkeypatch):
    monkeypatch.setenv("LAB_ENGINE_URL", server.url)
    code, out, err = lab("generate", "--json", "--n", "2", "--max-tokens", "6", "Say hi.")
    assert code == 0, err
    assert [s["seed"] for s in json.loads(out)] == [0, 1]


def test_what_a_server_cannot_give_is_noted_in_the_trace(server):
    # confidence-vote stops chains from its token callback; a server returns whole completions
    code, out, err = lab("solve", "--engine-url", server.url, "-s", "confidence-vote",
                         "-p", "n=3", "-p", "warmup=2", "-p", "percentile=100", "-p",
                         "window=2", *TINY, "--set", "arith", "--json")
    assert code == 0, err
    summary = json.loads(out)
    notes = summary["meta"][ENGINE_NOTES]
    assert any("stopping a sequence from a callback" in note for note in notes)
    assert Ledger().load_trace(summary["run_id"]).meta[ENGINE_NOTES] == notes


def test_a_scorer_reading_what_a_server_lacks_is_refused(server):
    code, _, err = lab("solve", "--engine-url", server.url, "-s", "best-of-n", "-p", "n=2",
                       "-p", "scorer=self-certainty", *TINY, "--set", "arith")
    assert code != 0 and "self_certainty" in err and "choose another scorer" in err
    assert Ledger().list_runs() == []


def test_bad_and_unreachable_urls_are_one_line_errors():
    code, _, err = lab("solve", "--engine-url", "localhost:1", "-s", "direct", "--set", "arith")
    assert code != 0 and "http:// or https://" in err
    code, _, err = lab("solve", "--engine-url", f"http://127.0.0.1:{free_port()}", "-s",
                       "direct", "--set", "arith")
    assert code != 0 and "cannot reach the model server" in err and "Traceback" not in err
    with pytest.raises(EngineUnavailable):
        OpenAICompatibleEngine(f"http://127.0.0.1:{free_port()}").generate(
            "x", params=SamplingParams(max_tokens=1))


def test_the_app_worker_runs_on_the_server_with_a_judge_from_a_server(server, smollm_path):
    from lab.worker.client import WorkerClient

    problem = load_set("arith", limit=1)[0]
    judged = RunRequest("best-of-n", problem, {"n": 2, "max_tokens": 16, "scorer": "judge",
                                              "cut_votes": True})
    client = WorkerClient()
    try:
        refused = client.submit_runs(server.url, [judged], "test")
        assert refused.wait(120)
        assert "judge scorer needs a second model" in (refused.runs[0].error or "")

        batch = client.submit_runs(server.url, [judged], "test", judge=server.url)
        assert batch.wait(300)
        run = batch.runs[0]
        assert run.error is None and run.trace is not None, run.error
        assert run.trace.status == "complete" and run.trace.model == smollm_path.stem
        verdicts = [n for n in run.trace.nodes if "judge" in n.scores]
        assert len(verdicts) == 2 and run.trace.compute.verdict_tokens == 2
        assert client.model is not None and client.model.name == server.url
    finally:
        client.close()


def test_the_app_runs_on_the_server_with_the_sidebars_judge(server, monkeypatch):
    from test_app_support import open_app, texts

    from lab.ui import state

    monkeypatch.setenv("LAB_ENGINE_URL", server.url)
    try:
        at = open_app()
        assert any(server.url in c for c in texts(at.sidebar.caption))
        assert server.url in at.selectbox(key="sidebar-judge-choice").options
        # AppTest draws the sidebar on the first run only (st.navigation): set what the
        # sidebar's judge choice sets
        at.session_state[state.JUDGE_KEY] = server.url
        at.selectbox(key="pg.strategy").set_value("best-of-n").run()
        for name, value in (("n", 2), ("max_tokens", 16)):
            at.number_input(key=f"pg.best-of-n.{name}").set_value(value)
        at.selectbox(key="pg.best-of-n.scorer").set_value("judge")
        at.checkbox(key="pg.best-of-n.cut_votes").check()
        at.button(key="pg.run").click().run()
        assert not at.error, texts(at.error)
        batch = at.session_state["pg.batch"]
        assert batch.wait(300)
        run = batch.runs[0]
        assert run.error is None, run.error
        assert [n for n in run.trace.nodes if "judge" in n.scores]
    finally:
        state.close_workers()
