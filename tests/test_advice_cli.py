"""`lab advise` end to end on the real SmolLM2-135M (tiny budgets): a tiny stored sweep made
by `lab eval`, the probe drawn with its settings (its chains are the stored runs' first
chains), the advice as JSON and as text, and the message when no sweep is stored."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lab.cli import main
from lab.store.ledger import Ledger

SWEEP = ["eval", "--set", "arith", "--limit", "4", "-s", "cot", "-s", "self-consistency",
         "--sweep", "n=2,4,8", "-p", "early_stop=false", "-p", "max_tokens=24",
         "--experiment", "tiny", "--model", "smollm2-135m"]


def lab(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def engine(smollm_engine, monkeypatch: pytest.MonkeyPatch):
    """The session's real engine for `lab advise`, so it does not load the model again
    (`lab eval` loads its own: it closes its engine when done)."""
    monkeypatch.setattr("lab.commands.advise.open_engine", lambda name, **_: smollm_engine)
    return smollm_engine


def test_advice_from_a_tiny_stored_sweep(engine):
    code, _, err = lab(*SWEEP)
    assert code == 0, err
    code, out, err = lab("advise", "--set", "arith", "--index", "0", "--model", "smollm2-135m",
                         "--json")
    assert code == 0, err
    advice = json.loads(out)
    assert advice["experiment"] == "tiny" and advice["stored"] == 4
    assert advice["probe"]["strategy"] == "self-consistency"
    assert advice["probe"]["params"]["n"] == 4 and advice["probe"]["params"]["max_tokens"] == 24
    assert advice["difficulty"]["samples"] == 4 and advice["probe_tokens"] > 0
    keys = [p["option"]["key"] for p in advice["predictions"]]
    assert {"probe", "cot", "self-consistency n=2", "self-consistency n=8"} <= set(keys)
    assert advice["chosen"]["option"]["key"] in keys
    assert all(0 <= p["low"] <= p["accuracy"] <= p["high"] <= 1 for p in advice["predictions"])

    # the probe drew exactly the first 4 chains of the stored 8-sample run of that problem
    with Ledger() as ledger:
        probe = ledger.load_trace(advice["probe_run_id"])
        stored = next(r for r in ledger.runs_in_experiment("tiny")
                      if r.strategy == "self-consistency" and r.problem_id == "arith-0001")
        stored_chains = [n.text for n in ledger.load_trace(stored.id).nodes
                         if n.kind == "chain"][:4]
    assert [n.text for n in probe.nodes if n.kind == "chain"] == stored_chains
    assert probe.meta["advice_probe"] == "tiny"

    code, out, err = lab("advise", "--set", "arith", "--id", "arith-0002", "--model",
                         "smollm2-135m", "--experiment", "tiny")
    assert code == 0, err
    assert "probe     self-consistency (n=4" in out and "advice    " in out
    assert "option" in out and "> " in out and "the probe's own vote" in out


def test_without_a_stored_sweep_it_says_which_command_makes_one(engine):
    code, out, err = lab("advise", "--problem", "What is 2 + 3?", "--model", "smollm2-135m")
    assert code == 0, err
    assert "No stored sweep" in out
    assert ("lab eval --set arith --limit 30 -s cot -s self-consistency --sweep n=1,2,4,8 "
            "-p early_stop=false --model smollm2-135m") in out
    assert "cost " in out and "tokens generated" in out
    code, _, err = lab("advise", "--problem", "What is 2 + 3?", "--model", "smollm2-135m",
                       "--experiment", "missing")
    assert code != 0 and "no experiment named 'missing'" in err


def test_bad_problem_choices_get_one_line_errors():
    assert "give either --problem" in lab("advise")[2]
    assert "not both" in lab("advise", "--set", "arith", "--index", "1", "--id", "x")[2]
    assert "no problem with id 'x'" in lab("advise", "--set", "arith", "--id", "x")[2]
    assert "--index must be between" in lab("advise", "--set", "arith", "--index", "99999")[2]
