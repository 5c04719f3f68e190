"""Self-consistency's `weight`: each chain's vote weighted by a token scorer's score mapped to
[0, 1]; "none" (the default) is one chain, one vote, with the parameters (and ledger identity)
of runs stored before the parameter existed; weighted runs are not resampled for smaller k;
once on the real SmolLM2."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from test_strategy_support import by_seed, chains, run, solution

from lab.cli import main
from lab.engine.scripted import ScriptedEngine, ScriptedReply
from lab.evaluation.sweep import StrategySpec, SweepSpec, build_configs
from lab.execution import RunRequest, execute
from lab.store.convert import params_key
from lab.store.ledger import Ledger
from lab.strategies.registry import get_strategy
from lab.strategies.self_consistency import VOTE_WEIGHT, weight_choices
from lab.tasks.problem import AnswerKind, Problem
from lab.trace import NodeStatus

PROBLEM = Problem(id="w1", question="What is 9 + 9?", gold="18", kind=AnswerKind.NUMBER,
                  source="test")
UNSURE, SURE = -3.0, -0.1  # every token's log-prob: the chain's mean log-prob
# Three unsure chains say 17, two confident ones say 18.
REPLIES = {0: ScriptedReply(solution("17", "9 + 9 is 17"), UNSURE),
           1: ScriptedReply(solution("17", "9 + 9 is 17"), UNSURE),
           2: ScriptedReply(solution("17", "9 + 9 is 17"), UNSURE),
           3: ScriptedReply(solution("18", "9 + 9 = 18"), SURE),
           4: ScriptedReply(solution("18", "9 + 9 = 18"), SURE)}
# The parameters every self-consistency run was stored with before `weight` existed.
BEFORE_WEIGHT = {"n", "batch", "early_stop", "prompt", "temperature", "top_p", "max_tokens",
                 "scorer", "cut_votes", "seed"}


def vote(**params: object):  # noqa: ANN201 - a Trace
    return run("self-consistency", ScriptedEngine(by_seed(REPLIES)), problem=PROBLEM, n=5,
               early_stop=False, **params)


def test_confident_chains_outweigh_a_majority_of_unsure_ones():
    plain = vote()
    assert plain.final_answer == "17" and plain.votes == {"17": 3.0, "18": 2.0}
    assert plain.reason == "3 of 5 votes for 17"
    weighted = vote(weight="mean-logprob")
    # by hand: exp(mean log-prob) per chain, summed per answer
    low, high = 3 * math.exp(UNSURE), 2 * math.exp(SURE)
    assert (round(low, 4), round(high, 4)) == (0.1494, 1.8097)
    assert weighted.final_answer == "18"
    assert weighted.votes == pytest.approx({"18": high, "17": low})
    assert weighted.reason == ("1.81 of 1.96 weighted votes for 18; each vote weighted by its "
                               "mean-logprob as a probability")
    for chain in chains(weighted):  # each chain's score and its weight, on the node
        assert chain.scores["mean-logprob"] == pytest.approx(
            UNSURE if chain.answer == "17" else SURE)
        assert chain.scores[VOTE_WEIGHT] == pytest.approx(math.exp(chain.scores["mean-logprob"]))
    assert [c.meta["seed"] for c in chains(weighted) if c.status == NodeStatus.KEPT] == [3, 4]


def test_every_token_scorer_weighs_votes_within_zero_and_one():
    assert weight_choices() == ("none", "mean-logprob", "lowest-window", "self-certainty",
                                "heuristic")
    for weight in weight_choices()[1:]:
        trace = vote(weight=weight)
        assert all(0.0 <= c.scores[VOTE_WEIGHT] <= 1.0 for c in chains(trace))
        assert sum(trace.votes.values()) == pytest.approx(
            sum(c.scores[VOTE_WEIGHT] for c in chains(trace)))
    # the confidence scorers side with the confident chains; heuristic (format, a number,
    # brevity) scores all five chains about alike, so the majority keeps it
    assert vote(weight="lowest-window").final_answer == "18"
    assert vote(weight="self-certainty").final_answer == "18"
    assert vote(weight="heuristic").final_answer == "17"


def test_no_weight_is_todays_vote_with_todays_parameters():
    strategy = get_strategy("self-consistency")
    default, explicit = vote(), vote(weight="none")
    for trace in (default, explicit):
        assert trace.final_answer == "17" and trace.votes == {"17": 3.0, "18": 2.0}
        assert trace.reason == "3 of 5 votes for 17"
        assert all(not c.scores for c in chains(trace))  # no tie, nothing scored
        assert set(trace.params) == BEFORE_WEIGHT
    assert default.params == explicit.params == strategy.validate({"n": 5, "early_stop": False})
    assert [n.text for n in default.nodes] == [n.text for n in explicit.nodes]
    assert set(strategy.validate({})) == BEFORE_WEIGHT
    assert strategy.validate({"weight": "heuristic"})["weight"] == "heuristic"


def test_a_run_stored_before_weight_existed_is_found_by_a_default_run(tmp_path):
    strategy = get_strategy("self-consistency")
    before = {name: value for name, value in strategy.validate({"n": 2}).items()
              if name != "weight"}
    engine = ScriptedEngine(solution("18"))
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        run_id = execute(RunRequest("self-consistency", PROBLEM, before, experiment="old"),
                         engine, ledger).run_id
        for asked in ({"n": 2}, {"n": 2, "weight": "none"}):
            params = strategy.validate(asked)
            assert params_key(params) == params_key(before)
            assert ledger.find_run(strategy="self-consistency", params=params,
                                   problem_set="test", problem_id="w1", model="scripted",
                                   seed=0, experiment="old") == run_id
        weighted = strategy.validate({"n": 2, "weight": "mean-logprob"})
        assert ledger.find_run(strategy="self-consistency", params=weighted,
                               problem_set="test", problem_id="w1", model="scripted", seed=0,
                               experiment="old") is None


def test_early_stop_counts_each_chain_to_come_as_at_most_one_vote():
    sure = ScriptedEngine(ScriptedReply(solution("18"), SURE))
    trace = run("self-consistency", sure, problem=PROBLEM, n=8, batch=2,
                weight="mean-logprob")
    # after 6: 6 * 0.905 = 5.43 against at most 2 more
    assert [len(c.seeds) for c in sure.calls] == [2, 2, 2]
    assert "stopped early after 6 of 8" in trace.reason
    unsure = ScriptedEngine(ScriptedReply(solution("18"), UNSURE))
    trace = run("self-consistency", unsure, problem=PROBLEM, n=8, batch=2,
                weight="mean-logprob")
    assert len(chains(trace)) == 8  # 8 * 0.05 never outweighs the chains to come
    assert trace.final_answer == "18"


def test_weighted_runs_are_not_resampled_for_smaller_k():
    strategy = get_strategy("self-consistency")
    plain = strategy.validate({"n": 8, "early_stop": False})
    weighted = strategy.validate({"n": 8, "early_stop": False, "weight": "mean-logprob"})
    assert strategy.resamplable(plain, None) and not strategy.resamplable(weighted, None)
    for params, ladders in ((plain, [(1, 2, 4)]), (weighted, [(), (), ()])):
        spec = SweepSpec([StrategySpec("self-consistency", params)], sweeps={"n": [1, 2, 4]})
        assert [c.ladder for c in build_configs(spec)] == ladders


def test_the_weight_scorer_is_checked_before_the_run():
    strategy = get_strategy("self-consistency")
    params = strategy.validate({"weight": "self-certainty"})
    assert strategy.scorers_used(params) == ["mean-logprob", "self-certainty"]
    assert strategy.scorers_used(strategy.validate({})) == ["mean-logprob"]
    with pytest.raises(Exception, match="weight must be one of none, mean-logprob"):
        strategy.validate({"weight": "self-verify"})  # a model verdict per chain: not offered


@pytest.mark.model
def test_lab_solve_runs_a_weighted_vote_on_the_real_model():
    result = CliRunner().invoke(main, [
        "solve", "-s", "self-consistency", "--set", "arith", "--index", "0", "--model",
        "smollm2-135m", "-p", "n=2", "-p", "max_tokens=16", "-p", "weight=mean-logprob",
        "-p", "cut_votes=true", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["strategy"] == "self-consistency" and data["status"] == "complete"
    assert data["params"]["weight"] == "mean-logprob"
    assert all(0 < weight <= 2 for weight in data["votes"].values())


def test_a_weighted_sweep_is_not_derived_from_unweighted_samples(
        monkeypatch: pytest.MonkeyPatch):
    """Sample reuse is decided for each swept setting: the plain vote runs only its largest n,
    the weighted one runs every n (a k-subset of weighted chains is not a weighted k-run)."""
    engine = ScriptedEngine(lambda r: f"Some work.\n\nThe answer is {18 if r.seed % 2 else 7}.")
    monkeypatch.setattr("lab.commands.evaluate.open_engine", lambda name: engine)
    monkeypatch.setattr("lab.commands.evaluate._model_name", lambda name: "scripted")
    result = CliRunner().invoke(main, [
        "eval", "--set", "arith", "--limit", "2", "-s", "self-consistency:early_stop=false",
        "--sweep", "n=1,2", "--sweep", "weight=none,mean-logprob", "-p", "max_tokens=20",
        "--experiment", "weighted", "--json"])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    weighted = [r for r in rows if r["params"].get("weight") == "mean-logprob"]
    assert sorted(r["params"]["n"] for r in weighted if r["metric"] == "accuracy") == [1, 2]
    assert not any(r["derived"] for r in weighted)
    plain = [r for r in rows if "weight" not in r["params"]]
    assert [r["k"] for r in plain if r["derived"] and r["metric"] == "maj@k"] == [1]
