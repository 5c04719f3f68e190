"""bench/picks.py on the shipped gallery: its rows agree with what the runs stored and with
the experiment's own table (lab.evaluation.summarize), so "where the pick lost" is read from
the same chains the ladder counts."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from lab import config
from lab.evaluation import summarize
from lab.store import Ledger
from lab.store.gallery import import_gallery

SHIPPED = config.REPO_ROOT / "data" / "gallery.jsonl.gz"
EXPERIMENT = "ladder-gsm8k50"


def _picks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("picks", config.REPO_ROOT / "bench" / "picks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["picks"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report() -> dict:
    with Ledger() as ledger:
        import_gallery(ledger, SHIPPED)
        rows = summarize(ledger, EXPERIMENT)
        found = _picks().build_report(ledger, [EXPERIMENT], 8)
    found["summary"] = rows
    return found


def _row(rows: list[dict], pick: str, chains: str | None = None) -> dict:
    same = [r for r in rows if r["pick"] == pick and (chains is None or r["chains"] == chains)]
    assert len(same) == 1, (pick, [r["pick"] for r in rows])
    return same[0]


def test_each_configuration_is_its_stored_accuracy_and_holds_its_pass_at_n(report: dict):
    eight = [r for r in report["summary"] if r.strategy == "self-consistency"
             and r.params.get("n") == 8]
    accuracy = next(r for r in eight if r.metric == "accuracy")
    pass_at_8 = next(r for r in eight if r.metric == "pass@k" and r.k == 8)
    vote = _row(report["configurations"], "self-consistency:early_stop=False")
    assert vote["accuracy"] == pytest.approx(accuracy.accuracy)
    assert vote["some chain right"] == pytest.approx(pass_at_8.accuracy)
    assert vote["pick missed it"] > 0  # the right answer was there and the vote lost it
    assert _row(report["configurations"], "cot")["minus cot [95% CI]"] == "+0 [+0, +0]"


def test_other_picks_read_the_same_chains(report: dict):
    picks = report["picks"]
    as_run = _row(picks, "vote (as run: self-consistency)")
    maj = _row(report["configurations"], "self-consistency:early_stop=False")
    assert abs(as_run["accuracy"] - maj["accuracy"]) <= 0.02  # ties counted as coin tosses
    some_prose = _row(picks, "pass@n: some prose chain right")
    assert some_prose["accuracy"] == maj["some chain right"]
    pooled = _row(picks, "pass@2n: some chain or program right")
    assert pooled["accuracy"] >= some_prose["accuracy"]
    hybrid = _row(picks, "prose and programs in one vote (hybrid)", "8 + 8")
    programs = _row(picks, "vote of programs (program)")
    both = some_prose["tokens / problem"] + programs["tokens / problem"]
    assert abs(hybrid["tokens / problem"] - both) <= 1  # each rounded
    assert 0 <= _row(picks, "vote weighted by heuristic")["accuracy"] <= pooled["accuracy"]
    for maj in (r for r in report["summary"] if r.strategy == "self-consistency"
                and r.metric == "maj@k" and r.k < 8):  # lab eval's own maj@k of these chains
        fewer = _row(picks, "vote of fewer chains (self-consistency, maj@k)", f"{maj.k} prose")
        assert fewer["accuracy"] == pytest.approx(maj.accuracy, abs=1e-3)


def test_each_knob_ladder_ends_at_the_stored_run_it_is_derived_from(smollm_engine):
    """On the real engine: the largest setting's derived row is the stored runs' own
    accuracy and generated tokens, and smaller settings cost fewer tokens."""
    from lab.evaluation.sweep import StrategySpec, SweepSpec, build_cells, run_sweep
    from lab.tasks.datasets import load_set

    strategies = [StrategySpec("cot", {"max_tokens": 24}),
                  StrategySpec("cot-decoding", {"k": 3, "max_tokens": 24}),
                  StrategySpec("adaptive-branch", {"max_forks": 2, "threshold": 0.5,
                                                   "max_tokens": 24}),
                  StrategySpec("dvts", {"subtrees": 2, "depth": 2, "max_tokens": 12}),
                  StrategySpec("hybrid", {"n_prose": 2, "n_programs": 2, "max_tokens": 24,
                                          "program_tokens": 24})]
    problems = load_set("arith")[:2]
    with Ledger() as ledger:
        run_sweep(build_cells(SweepSpec(strategies), problems), smollm_engine, ledger, "knobs")
        found = _picks().build_report(ledger, ["knobs"], 8)
        stored = {r.strategy: r for r in summarize(ledger, "knobs")}
    assert found["picks"] == []  # no self-consistency and program runs of n=8 here
    for strategy, knob, largest, named in (("cot-decoding", "k", 3, ""),
                                           ("adaptive-branch", "max_forks", 2, ""),
                                           ("dvts", "subtrees", 2, ""),
                                           ("hybrid", "n_prose", 2, " (n_programs as many)")):
        ladder = [r for r in found["knobs"] if r["pick"].startswith(f"{strategy} {knob}=")
                  and "aggregate=sum" not in r["pick"]]
        assert ladder[-1]["pick"] == f"{strategy} {knob}={largest}{named}"
        assert ladder[-1]["accuracy"] == pytest.approx(stored[strategy].accuracy, abs=1e-3)
        assert abs(ladder[-1]["tokens / problem"] - stored[strategy].tokens) <= 1
        tokens = [r["tokens / problem"] for r in ladder]
        assert tokens == sorted(tokens), strategy
