"""`lab solve`: one strategy on one problem, stored in the ledger, errors in one line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lab.cli import main
from lab.engine.scripted import ScriptedEngine
from lab.trace import Trace

STRATEGY_NAMES = ("direct, cot, self-consistency, best-of-n, rejection, self-refine, "
                  "beam-search, tree-search, confidence-vote")


def solve(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["solve", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    engine = ScriptedEngine(lambda r: f"6 * 7 = {42 if r.seed % 3 else 41}\n\nThe answer is "
                                      f"{42 if r.seed % 3 else 41}.", model_name="scripted")
    monkeypatch.setattr("lab.commands.solve.open_engine", lambda name: engine)
    return engine


@pytest.mark.parametrize("args,message", [
    (["-s", "magic", "--problem", "x"], f"unknown strategy 'magic'; valid: {STRATEGY_NAMES}"),
    (["-s", "self-consistency", "-p", "n=0", "--problem", "x"],
     "n must be between 1 and 64 (got 0)"),
    (["-s", "cot", "-p", "width=2", "--problem", "x"], "unknown parameter 'width' for cot; valid:"),
    (["-s", "cot", "-p", "temperature", "--problem", "x"], "--param takes NAME=VALUE"),
    (["-s", "cot", "--budget", "0", "--problem", "x"], "budget must be between 1 and 1000000"),
    (["-s", "cot"], "give either --problem TEXT or --set SET --index I"),
    (["-s", "best-of-n", "-p", "scorer=judge", "--problem", "x"], "needs a second model"),
    ([], "give --strategy NAME"),
])
def test_errors_are_one_line(args: list[str], message: str):
    code, _, err = solve(*args)
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_json_result_with_gold_and_ledger(scripted: ScriptedEngine):
    code, out, err = solve("-s", "self-consistency", "-p", "n=3", "--budget", "60",
                           "--problem", "What is 6 * 7?", "--gold", "42", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["answer"] == "42" and data["correct"] is True
    assert data["strategy"] == "self-consistency" and data["params"]["n"] == 3
    assert data["votes"] == {"42": 2.0, "41": 1.0}
    compute = data["compute"]
    assert 0 < compute["generated_tokens"] <= 60
    assert compute["prompt_tokens"] > 0 and compute["wall_s"] >= 0
    from lab.store.ledger import Ledger

    with Ledger() as ledger:
        stored = ledger.load_trace(data["run_id"])
    assert isinstance(stored, Trace) and stored.final_answer == "42" and stored.correct is True


def test_text_output_and_no_gold(scripted: ScriptedEngine):
    code, out, err = solve("-s", "best-of-n", "-p", "n=2", "--problem", "What is 6 * 7?")
    assert code == 0, err
    assert "answer    " in out and "[no gold answer]" in out
    assert "scores" in out and "mean-logprob" in out
    assert "compute   " in out and "run       #" in out


def test_json_correct_is_null_without_gold(scripted: ScriptedEngine):
    code, out, _ = solve("-s", "direct", "--problem", "What is 6 * 7?", "--json")
    assert code == 0 and json.loads(out)["correct"] is None


def test_problem_from_a_built_in_set(scripted: ScriptedEngine):
    code, out, err = solve("-s", "cot", "--set", "arith", "--index", "1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["problem"]["source"].startswith("arith")
    assert data["correct"] in (True, False)
    code, _, err = solve("-s", "cot", "--set", "arith", "--index", "100000")
    assert code == 1 and "--index must be between 0 and" in err


def test_list_describes_every_strategy():
    code, out, _ = solve("--list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert ", ".join(s["name"] for s in listed).startswith(STRATEGY_NAMES)
    assert all(p["help"] for s in listed for p in s["params"])
    code, out, _ = solve("--list")
    assert "beam-search: " in out and "width=3" in out


@pytest.mark.model
def test_solve_on_the_real_model():
    code, out, err = solve("-s", "self-consistency", "-p", "n=2", "-p", "max_tokens=48",
                           "--budget", "96", "--model", "smollm2-135m", "--set", "arith",
                           "--index", "0", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["compute"]["generated_tokens"] <= 96
    assert data["correct"] in (True, False) and isinstance(data["run_id"], int)
