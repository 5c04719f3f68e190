"""scripts/rerank.py: best-of-n re-picked from self-consistency's chains: on a scripted model
(identical chains by construction: the pick's logic), and on the real smallest model (the same
seed draws the same chains, or the check says they differ)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from test_strategy_support import PROBLEM, by_seed, solution

from lab.engine.scripted import ScriptedEngine, ScriptedReply
from lab.evaluation.estimators import best_at_k
from lab.execution import RunRequest, execute
from lab.store.ledger import Ledger
from lab.tasks.datasets import load_set

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "rerank.py"
spec = importlib.util.spec_from_file_location("rerank", SCRIPT)
rerank = importlib.util.module_from_spec(spec)
sys.modules["rerank"] = rerank
spec.loader.exec_module(rerank)  # type: ignore[union-attr]


def both(engine, problem, settings: dict, ledger: Ledger):
    voted = execute(RunRequest("self-consistency", problem, settings | {"early_stop": False},
                               experiment="sc"), engine, ledger)
    ranked = execute(RunRequest("best-of-n", problem, settings, experiment="bon"), engine,
                     ledger)
    return ledger.load_trace(voted.run_id), ranked.trace


def test_the_repick_is_best_of_ns_pick_where_the_vote_is_not(tmp_path: Path, capsys):
    # two chains say 41, one says 42 with the highest mean log-prob: the vote and the pick part
    replies = {0: ScriptedReply(solution("41"), -1.0), 1: ScriptedReply(solution("41"), -1.5),
               2: ScriptedReply(solution("42"), -0.2)}
    engine = ScriptedEngine(by_seed(replies))
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        drawn, ranked = both(engine, PROBLEM, {"n": 3, "seed": 0}, ledger)
        assert drawn.final_answer == "41" and ranked.final_answer == "42" and ranked.correct
        chains = rerank.ranked_chains(drawn)
        assert best_at_k(chains, 3).value == 1.0  # the 42 chain ranks first
        assert best_at_k(chains, 1).value == 1 / 3  # one chain in three is right
        runs = rerank.full_draws(ledger, "sc")
        assert rerank.check(ledger, runs, "bon") == (1, 1, 1)
    assert "t1: chains identical, best-of-n said '42' (right)" in capsys.readouterr().out


def test_the_programmatic_repick_and_the_wins_it_lists(tmp_path: Path, capsys):
    # two chains say 41 with wrong arithmetic, one says 42 with arithmetic that checks out
    replies = {0: solution("41", "6 * 7 = 41"), 1: solution("41", "6 * 7 = 41"),
               2: solution("42")}
    engine = ScriptedEngine(by_seed(replies))
    settings = {"n": 3, "seed": 0, "scorer": "programmatic"}
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        drawn, ranked = both(engine, PROBLEM, settings, ledger)
        assert drawn.final_answer == "41" and ranked.final_answer == "42"
        chains = rerank.ranked_chains(drawn, "programmatic")
        assert [c.score for c in chains] == [0.0, 0.0, 1.0]
        assert best_at_k(chains, 3).value == 1.0
        runs = rerank.full_draws(ledger, "sc")
        rerank.table(ledger, runs, [1, 3], "programmatic", wins=True)
        assert rerank.check(ledger, runs, "bon", "programmatic") == (1, 1, 1)
    out = capsys.readouterr().out
    assert "t1: the pick is right 1.00 of the time (ties uniform), the vote 0.00" in out
    assert "best-of-n (programmatic)" in out


def test_on_the_real_model_the_same_seed_draws_best_of_ns_chains(smollm_engine, tmp_path: Path):
    problem = load_set("arith", limit=3)[2]
    settings = {"n": 4, "max_tokens": 48, "seed": 7, "cut_votes": True}
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        drawn, ranked = both(smollm_engine, problem, settings, ledger)
        compared, identical, same = rerank.check(ledger, rerank.full_draws(ledger, "sc"), "bon")
    assert compared == 1
    # numerics can tip a near-tie (a prompt decoded, then served from the cache); the check
    # must say which, and where the chains are the same, so is the outcome
    assert identical == (rerank.chain_token_ids(drawn) == rerank.chain_token_ids(ranked))
    assert same == identical
