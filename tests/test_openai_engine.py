"""OpenAICompatibleEngine against a real server: llama-cpp-python's own, on SmolLM2-135M."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from lab.engine.base import EngineError, SamplingParams
from lab.engine.openai import OpenAICompatibleEngine
from lab.engine.scripted import ScriptedEngine
from lab.execution import RunRequest, cannot_start
from lab.tasks.problem import Problem

PROMPT = [{"role": "user", "content": "Name a colour."}]
PROBLEM = Problem(id="p1", question="What is 9 + 9?", gold="18", source="test")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(smollm_path):
    pytest.importorskip("uvicorn", reason="llama-cpp-python[server] is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.engine.llama_server", "--model", str(smollm_path),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
         "--logits_all", "true", "--verbose", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/v1/models", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"server died: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start within 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_n_samples_with_logprobs(server_url):
    engine = OpenAICompatibleEngine(server_url)
    result = engine.generate(PROMPT, n=3, params=SamplingParams(temperature=1.0, max_tokens=12,
                                                                seed=1))
    # llama-cpp-python's server ignores n: the engine asks for the rest one by one
    assert len(result.completions) == 3
    assert [c.seed for c in result.completions] == [1, 2, 3]
    assert all(c.text for c in result.completions)
    tokens = result.completions[0].tokens
    assert tokens and all(t.logprob <= 0 for t in tokens)


def test_raw_completion_and_stop(server_url):
    engine = OpenAICompatibleEngine(server_url)
    result = engine.generate("One, two, three,", params=SamplingParams(
        temperature=0, max_tokens=20, stop=(",",)))
    completion = result.completions[0]
    assert "," not in completion.text


def test_unreachable_server_is_a_clear_error():
    engine = OpenAICompatibleEngine(f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(EngineError, match="cannot reach the model server"):
        engine.generate(PROMPT, params=SamplingParams(max_tokens=4))


def test_a_servers_slots_are_counted_one_chain_each():
    """A server gives each chain its own slot of n_ctx: 4 chains of 512 tokens fit slots of
    1,024, where the local engine's shared context of 1,024 would not hold them at once."""
    server = OpenAICompatibleEngine(f"http://127.0.0.1:{_free_port()}", n_ctx=1024)
    local = ScriptedEngine(["The answer is 18."], n_ctx=1024)
    four_chains = RunRequest("self-consistency", PROBLEM, {"n": 4, "max_tokens": 512})
    assert cannot_start(server, four_chains) is None
    assert "context holds 1,024" in (cannot_start(local, four_chains) or "")
    one_long_chain = RunRequest("cot", PROBLEM, {"max_tokens": 1024})
    assert "each of its slots holds 1,024" in (cannot_start(server, one_long_chain) or "")
