"""scripts/rerank.py: best-of-n re-picked from self-consistency's chains. On the real smallest
model: with one seed the two strategies draw the same chains, and the re-pick is best-of-n's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from lab.evaluation.estimators import best_at_k
from lab.execution import RunRequest, execute
from lab.store.ledger import Ledger
from lab.tasks.datasets import load_set
from lab.trace import NodeKind

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "rerank.py"
spec = importlib.util.spec_from_file_location("rerank", SCRIPT)
rerank = importlib.util.module_from_spec(spec)
sys.modules["rerank"] = rerank
spec.loader.exec_module(rerank)  # type: ignore[union-attr]

SETTINGS = {"n": 4, "max_tokens": 48, "seed": 7}


def token_ids(trace) -> list[list[int]]:
    return [[t.id for t in n.tokens] for n in trace.nodes if n.kind == NodeKind.CHAIN]


def test_best_of_n_draws_self_consistencys_chains_and_the_repick_is_its_pick(
        smollm_engine, tmp_path: Path, capsys):
    problem = load_set("arith", limit=3)[2]
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        voted = execute(RunRequest("self-consistency", problem,
                                   SETTINGS | {"early_stop": False, "cut_votes": True},
                                   experiment="sc"), smollm_engine, ledger)
        ranked = execute(RunRequest("best-of-n", problem, SETTINGS | {"cut_votes": True},
                                    experiment="bon"), smollm_engine, ledger)
        runs = rerank.full_draws(ledger, "sc")
        assert list(runs) == [(runs[next(iter(runs))].model, problem.id)]
        drawn = ledger.load_trace(voted.run_id)
        assert token_ids(drawn) == token_ids(ranked.trace)

        chains = rerank.ranked_chains(drawn)
        scores = [c.score for c in chains if c.group is not None]
        if scores and len(set(scores)) == len(scores):  # no tie: the pick is one chain
            assert best_at_k(chains, len(chains)).value == float(bool(ranked.trace.correct))

        rerank.check(ledger, runs, "bon")
    assert "checked 1: identical chains 1, same outcome 1" in capsys.readouterr().out
