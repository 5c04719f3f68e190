"""`lab eval --engine-url ... --concurrency K` against real model servers (llama-cpp-python's,
on SmolLM2-135M): K runs in flight over the servers round-robin, one consistent ledger, and a
server that dies mid-sweep: its runs are stored interrupted and the same command, run again
against a live server, completes the sweep."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_engine_url import ModelServer

from lab.cli import main
from lab.engine.openai import OpenAICompatibleEngine
from lab.store.ledger import Ledger

SWEEP = ["eval", "--set", "arith", "--limit", "3", "-s", "cot", "-p", "max_tokens=12",
         "--experiment", "servers"]


def lab(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def two_servers(smollm_path: Path) -> Iterator[list[ModelServer]]:
    """Two servers of the same model: two parallel slots, one process each."""
    servers = [ModelServer(smollm_path), ModelServer(smollm_path)]
    yield servers
    for server in servers:
        server.stop()


class Requests:
    """Counts the generation requests sent to the servers and the most in flight at once;
    `before(count)` runs just before request number `count` goes out."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.sent, self.in_flight, self.most = 0, 0, 0
        self.lock = threading.Lock()
        self.hooks: dict[int, object] = {}
        send = OpenAICompatibleEngine._send

        def counted(engine, request, path, timeout_s=None):
            if "completions" not in path:
                return send(engine, request, path, timeout_s)
            with self.lock:
                self.sent += 1
                hook = self.hooks.get(self.sent)
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
            try:
                if hook is not None:
                    hook()
                return send(engine, request, path, timeout_s)
            finally:
                with self.lock:
                    self.in_flight -= 1

        monkeypatch.setattr(OpenAICompatibleEngine, "_send", counted)


def test_two_runs_in_flight_over_two_servers_one_ledger(two_servers, monkeypatch, smollm_path):
    requests = Requests(monkeypatch)
    urls = [arg for server in two_servers for arg in ("--engine-url", server.url)]
    code, out, err = lab(*SWEEP, *urls, "--concurrency", "2", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["ran"] == 3 and not result["interrupted"] and result["failed"] == 0
    assert requests.sent == 3 and requests.most == 2
    runs = Ledger().list_runs(experiment="servers")
    assert sorted(r.problem_id for r in runs) == ["arith-0001", "arith-0002", "arith-0003"]
    assert {r.status for r in runs} == {"complete"} and {r.model for r in runs} == {
        smollm_path.stem}
    assert all(r.generated_tokens > 0 for r in runs)

    code, _, err = lab(*SWEEP, *urls, "--concurrency", "2")
    assert code == 0 and "all 3 runs of servers are stored" in err and requests.sent == 3


def test_a_local_model_runs_up_to_four_runs_decoded_together(smollm_path):
    code, _, err = lab(*SWEEP, "--concurrency", "5")
    assert code != 0 and "a local model decodes at most 4 runs together" in err
    local = [*SWEEP[:-2], "--model", str(smollm_path), "--json", "--experiment"]
    code, out, err = lab(*local, "local-lanes", "--concurrency", "2")
    assert code == 0, err
    assert json.loads(out)["ran"] == 3
    code, _, err = lab(*local, "local-alone")
    assert code == 0, err
    ledger = Ledger()
    together, alone = ({r.problem_id: r for r in ledger.list_runs(experiment=name)}
                       for name in ("local-lanes", "local-alone"))
    assert sorted(together) == sorted(alone) == ["arith-0001", "arith-0002", "arith-0003"]
    for problem_id, run in together.items():  # greedy: the same text decoded beside others
        assert run.status == "complete"
        assert run.answer == alone[problem_id].answer
        assert run.generated_tokens == alone[problem_id].generated_tokens


def test_a_server_that_dies_mid_sweep_leaves_interrupted_runs_and_a_resumable_sweep(
        smollm_path, monkeypatch):
    # self-consistency n=2: llama-cpp-python's server ignores n, so each run sends two
    # requests; the server dies before the third, inside a run
    sweep = ["eval", "--set", "arith", "--limit", "2", "-s", "self-consistency", "-p", "n=2",
             "-p", "max_tokens=12", "--experiment", "dying", "--concurrency", "2"]
    dying = ModelServer(smollm_path)
    requests = Requests(monkeypatch)
    requests.hooks[3] = dying.stop
    try:
        code, _, err = lab(*sweep, "--engine-url", dying.url)
    finally:
        dying.stop()
    assert code == 130, err
    assert "cannot reach the model server" in err and "run the same command again" in err
    runs = Ledger().list_runs(experiment="dying")
    interrupted = [r for r in runs if r.status == "interrupted"]
    assert interrupted and all(r.status in ("complete", "interrupted") for r in runs)
    kept = Ledger().load_trace(interrupted[-1].id)
    assert "cannot reach the model server" in (kept.reason or "")

    live = ModelServer(smollm_path)
    try:
        complete_before = sum(r.status == "complete" for r in runs)
        code, out, err = lab(*sweep, "--engine-url", live.url, "--json")
    finally:
        live.stop()
    assert code == 0, err
    assert json.loads(out)["ran"] == 2 - complete_before
    complete = [r for r in Ledger().list_runs(experiment="dying") if r.status == "complete"]
    assert sorted(r.problem_id for r in complete) == ["arith-0001", "arith-0002"]
