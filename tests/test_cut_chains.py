"""Chains cut at their token cap: marked in the trace and the ledger, left out of votes and
rankings unless `cut_votes`, counted in the run view and the eval table (scripted engine)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_strategy_support import PROBLEM, by_seed, chains, run, solution

from lab.engine.scripted import ScriptedEngine, ScriptedReply, ScriptedRequest
from lab.evaluation import summarize, table_text
from lab.evaluation.resample import chains_of
from lab.execution import RunRequest, execute
from lab.store.ledger import Ledger
from lab.trace import CUT, NodeKind, NodeStatus, Trace

CAP = 12  # tokens per chain: solution("42") takes 10, a rambling chain is cut at 12
RAMBLING = "Zoe gets 2 and then" + " more" * 30  # cut at the cap after "... 2 and then more"


def cut_then_right(cut_seeds: set[int], n: int = 4) -> ScriptedEngine:
    replies: dict[int, str | ScriptedReply] = {
        seed: RAMBLING if seed in cut_seeds else solution("42") for seed in range(n)}
    return ScriptedEngine(by_seed(replies))


def sc(engine: ScriptedEngine, **params: object) -> Trace:
    return run("self-consistency", engine, n=4, batch=4, max_tokens=CAP, **params)


def test_a_chain_that_ends_at_its_cap_is_marked_cut():
    trace = sc(cut_then_right({0, 1, 2}))
    marks = [(n.finish_reason, n.meta.get(CUT, False), n.cut) for n in chains(trace)]
    assert marks == [("length", True, True)] * 3 + [("eos", False, False)]
    assert [n.answer for n in chains(trace)] == ["2", "2", "2", "42"]


def test_cut_chains_do_not_vote_by_default():
    trace = sc(cut_then_right({0, 1, 2}))
    assert trace.final_answer == "42"
    assert trace.votes == {"42": 1.0}
    assert trace.reason == ("1 of 1 votes for 42; 3 chains cut at the token cap were "
                            "left out")
    assert trace.params["cut_votes"] is False


def test_cut_votes_lets_cut_chains_vote():
    trace = sc(cut_then_right({0, 1, 2}), cut_votes=True)
    assert trace.final_answer == "2"
    assert trace.votes == {"2": 3.0, "42": 1.0}
    assert trace.reason == "3 of 4 votes for 2"


def test_when_every_chain_is_cut_nothing_votes():
    trace = sc(cut_then_right({0, 1, 2, 3}))
    assert trace.final_answer is None and trace.votes == {}
    assert trace.reason == ("no chain gave an answer; 4 chains cut at the token cap were "
                            "left out")


def test_a_cut_chain_round_trips_through_the_ledger(tmp_path: Path):
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        outcome = execute(RunRequest("self-consistency", PROBLEM,
                                     {"n": 4, "batch": 4, "max_tokens": CAP}),
                          cut_then_right({1}), ledger)
        assert outcome.run_id is not None
        stored = ledger.load_trace(outcome.run_id)
    assert stored == outcome.trace
    assert [n.cut for n in chains(stored)] == [False, True, False, False]
    assert [n.meta.get(CUT) for n in chains(stored)] == [None, True, None, None]


def test_best_of_n_neither_scores_nor_ranks_a_cut_chain():
    # the cut chain is the most confident one: it would win if it were ranked
    replies = {0: ScriptedReply(RAMBLING, -0.01), 1: ScriptedReply(solution("42"), -1.0),
               2: ScriptedReply(solution("41"), -2.0)}
    engine = ScriptedEngine(by_seed(replies))
    trace = run("best-of-n", engine, n=3, max_tokens=CAP)
    cut, right, wrong = chains(trace)
    assert trace.final_answer == "42" and right.chosen
    assert "mean-logprob" not in cut.scores and "rank" not in cut.meta
    assert (right.meta["rank"], wrong.meta["rank"]) == (1, 2)
    assert trace.reason == ("best of 3 by mean-logprob: -1.000; 1 chain cut at the token cap "
                            "was left out")
    counted = run("best-of-n", ScriptedEngine(by_seed(replies)), n=3, max_tokens=CAP,
                  cut_votes=True)
    assert counted.final_answer == "2" and chains(counted)[0].meta["rank"] == 1


def test_best_of_n_with_every_chain_cut_gives_no_answer():
    trace = run("best-of-n", ScriptedEngine(RAMBLING), n=2, max_tokens=CAP)
    assert trace.final_answer is None
    assert trace.reason == "every one of the 2 chains was cut at the token cap"


def test_rejection_neither_verifies_nor_accepts_a_cut_sample():
    engine = ScriptedEngine(by_seed({0: RAMBLING, 1: solution("42")}), yes_probability=0.9)
    trace = run("rejection", engine, n=4, max_tokens=CAP)
    cut, right = chains(trace)
    assert trace.final_answer == "42" and trace.reason == "sample 2 accepted by self-verify"
    assert not trace.children(cut.id) and cut.status == NodeStatus.OPEN
    assert [c.kind for c in trace.children(right.id)][0] == NodeKind.VERIFICATION
    counted = run("rejection", ScriptedEngine(by_seed({0: RAMBLING, 1: solution("42")}),
                                              yes_probability=0.9),
                  n=4, max_tokens=CAP, cut_votes=True)
    assert counted.final_answer == "2" and counted.reason == "sample 1 accepted by self-verify"


def test_rejection_with_every_sample_cut_gives_no_answer():
    trace = run("rejection", ScriptedEngine(RAMBLING, yes_probability=0.9), n=2,
                max_tokens=CAP)
    assert trace.final_answer is None
    assert trace.reason == ("all 2 samples were cut at the token cap; 2 chains cut at the "
                            "token cap were left out")


def test_confidence_vote_leaves_cut_chains_out():
    engine = cut_then_right({0, 2}, n=6)
    trace = run("confidence-vote", engine, n=6, warmup=3, max_tokens=CAP, percentile=0.0)
    assert trace.final_answer == "42"
    assert set(trace.votes) == {"42"}
    assert "2 chains cut at the token cap were left out" in trace.reason


def _draft_critique_revision(request: ScriptedRequest) -> str:
    """The draft and the revision ramble to the cap; the critique asks for a fix."""
    return "The second step is wrong." if request.call == 1 else RAMBLING


def test_self_refine_keeps_no_cut_revision():
    engine = ScriptedEngine(_draft_critique_revision, yes_probability=0.9)
    trace = run("self-refine", engine, rounds=1, max_tokens=CAP)
    [draft] = chains(trace)
    [revision] = [n for n in trace.nodes if n.kind == NodeKind.REVISION]
    assert draft.cut and revision.cut
    assert revision.status == NodeStatus.REJECTED and draft.chosen
    assert trace.reason.startswith("the draft (cut at the token cap) (self-verify 0.900)")
    counted = run("self-refine", ScriptedEngine(_draft_critique_revision, yes_probability=0.9),
                  rounds=1, max_tokens=CAP, cut_votes=True)
    [kept] = [n for n in counted.nodes if n.kind == NodeKind.REVISION]
    assert kept.status == NodeStatus.KEPT and kept.chosen


def test_cot_keeps_its_one_answer_and_says_it_was_cut():
    trace = run("cot", ScriptedEngine(RAMBLING), max_tokens=CAP)
    assert trace.final_answer == "2"
    assert trace.reason == "the greedy answer (last-number); the chain was cut at the token cap"


def test_resampling_treats_cut_chains_as_the_run_did():
    default = chains_of(sc(cut_then_right({0, 1, 2})))
    assert [c.group for c in default] == [None, None, None, 0]
    counted = chains_of(sc(cut_then_right({0, 1, 2}), cut_votes=True))
    assert [c.group for c in counted] == [0, 0, 0, 1]
    old = sc(cut_then_right({0, 1, 2}))
    del old.params["cut_votes"]  # stored before the parameter existed: cut chains voted
    assert [c.group for c in chains_of(old)] == [0, 0, 0, 1]


def test_the_run_view_says_how_many_chains_were_cut():
    from lab.views.chains import cut_caption

    assert cut_caption(sc(cut_then_right({0, 1, 2}))) == (
        "3 of 4 chains cut at the token cap: cut chains neither vote nor are ranked "
        "(cut_votes is off).")
    assert cut_caption(sc(cut_then_right({0}), cut_votes=True)) == (
        "1 of 4 chains cut at the token cap: cut chains vote and are ranked like the others "
        "(cut_votes is on).")
    assert cut_caption(sc(cut_then_right(set()))) == "0 of 4 chains cut at the token cap."
    assert cut_caption(run("cot", ScriptedEngine(RAMBLING), max_tokens=CAP)) == (
        "1 of 1 chain cut at the token cap.")


@pytest.mark.parametrize(("cut_seeds", "cell"), [({0, 1, 2}, "75%"), (set(), "0%")])
def test_the_eval_table_has_a_percent_cut_column(tmp_path: Path, cut_seeds: set[int],
                                                 cell: str):
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        for problem_id in ("a", "b"):
            execute(RunRequest("self-consistency", replace(PROBLEM, id=problem_id),
                               {"n": 4, "batch": 4, "max_tokens": CAP}, experiment="exp"),
                    cut_then_right(cut_seeds), ledger)
        [row] = summarize(ledger, "exp")
    assert row.cut_share == len(cut_seeds) / 4
    assert row.to_dict()["cut_share"] == len(cut_seeds) / 4
    header, body = table_text([row]).splitlines()[0], table_text([row]).splitlines()[2]
    assert "% cut" in header and f" {cell} " in body
