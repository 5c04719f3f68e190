"""Best-of-N, rejection sampling and self-refinement on a scripted engine."""

from __future__ import annotations

from pytest import approx
from test_strategy_support import by_seed, chains, run, solution

from lab.engine.scripted import ScriptedEngine, ScriptedReply, ScriptedRequest
from lab.trace import NodeKind, NodeStatus


def yes_if(*needles: str, high: float = 0.9, low: float = 0.2):
    """P(yes) high when the judged prompt's solution contains one of the needles."""
    return lambda prompt: high if any(n in prompt for n in needles) else low


# -- best-of-n --------------------------------------------------------------------------------
def test_best_of_n_keeps_the_highest_mean_logprob():
    replies = {0: ScriptedReply(solution("41"), -1.0), 1: ScriptedReply(solution("42"), -0.1),
               2: ScriptedReply(solution("43"), -0.5)}
    engine = ScriptedEngine(by_seed(replies))
    trace = run("best-of-n", engine, n=3)
    assert len(engine.calls) == 1
    assert trace.final_answer == "42" and "best of 3 by mean-logprob" in trace.reason
    assert [n.meta["rank"] for n in chains(trace)] == [3, 1, 2]
    assert [n.chosen for n in chains(trace)] == [False, True, False]


def test_lowest_window_punishes_a_confidence_dip():
    work = " ".join(["word"] * 25)  # 30 tokens in all, longer than the 16-token window
    steady = ScriptedReply(solution("41", work), [-0.45])
    dip = ScriptedReply(solution("42", work), [-0.01] * 10 + [-3.0] * 4 + [-0.01])
    engine = ScriptedEngine(by_seed({0: steady, 1: dip}))
    assert run("best-of-n", engine, n=2).final_answer == "42"  # better mean log-prob
    assert run("best-of-n", engine, n=2, scorer="lowest-window").final_answer == "41"


def test_self_certainty_scorer():
    engine = ScriptedEngine(by_seed({0: ScriptedReply(solution("41"), -2.0),
                                     1: ScriptedReply(solution("42"), -0.05)}))
    trace = run("best-of-n", engine, n=2, scorer="self-certainty")
    assert trace.final_answer == "42"


def test_self_verify_scorer_reads_p_yes():
    engine = ScriptedEngine(by_seed({0: solution("41"), 1: solution("42")}),
                            yes_probability=yes_if("is 42"))
    trace = run("best-of-n", engine, n=2, scorer="self-verify")
    assert trace.final_answer == "42"
    assert [n.scores["self-verify"] for n in chains(trace)] == [approx(0.2), approx(0.9)]
    assert trace.compute.engine_calls == 3  # one generation, two yes/no reads


def test_best_of_n_prefers_a_chain_with_an_answer():
    engine = ScriptedEngine(by_seed({0: ScriptedReply("hmm", -0.01),
                                     1: ScriptedReply(solution("42"), -2.0)}))
    trace = run("best-of-n", engine, n=2)
    assert trace.final_answer == "42" and "gave no answer" in trace.reason


def test_self_refinement_inside_best_of_n():
    def respond(request: ScriptedRequest) -> str:
        if "Check the solution" in request.prompt:
            return "The sum is wrong."
        if "Write a corrected solution" in request.prompt:
            return solution("42")
        return solution("41")

    engine = ScriptedEngine(respond, yes_probability=yes_if("is 42."))
    trace = run("best-of-n", engine, n=2, refine_rounds=1, scorer="self-verify")
    assert trace.final_answer == "42"
    best = next(n for n in trace.nodes if n.meta.get("rank") == 1)
    assert best.kind == NodeKind.REVISION and best.chosen


# -- rejection --------------------------------------------------------------------------------
def test_rejection_stops_at_the_first_accepted_sample():
    engine = ScriptedEngine(by_seed({0: solution("41"), 1: solution("40"), 2: solution("42"),
                                     3: solution("42")}), yes_probability=yes_if("is 42."))
    trace = run("rejection", engine, n=8)
    assert len(engine.calls) == 3 and all(len(c.seeds) == 1 for c in engine.calls)
    assert trace.final_answer == "42" and "sample 3 accepted by self-verify" in trace.reason
    statuses = [n.status for n in chains(trace)]
    assert statuses == [NodeStatus.REJECTED, NodeStatus.REJECTED, NodeStatus.ACCEPTED]
    checks = [n for n in trace.nodes if n.kind == NodeKind.VERIFICATION]
    assert len(checks) == 3 and checks[-1].status == NodeStatus.ACCEPTED


def test_rejection_falls_back_to_the_best_scored():
    scores = {"is 41.": 0.3, "is 40.": 0.4}
    engine = ScriptedEngine(by_seed({0: solution("41"), 1: solution("40")}),
                            yes_probability=lambda p: next(v for k, v in scores.items() if k in p))
    trace = run("rejection", engine, n=2, batch=2)
    assert len(engine.calls) == 1
    assert trace.final_answer == "40" and "none of 2 samples accepted" in trace.reason


def test_rejection_respects_the_budget():
    engine = ScriptedEngine("one two three four five six", yes_probability=0.0)
    trace = run("rejection", engine, budget=14, n=10, max_tokens=6)
    assert trace.compute.generated_tokens <= 14
    # each sample keeps one token of the budget for its self-verify verdict
    assert [c.params.max_tokens for c in engine.calls] == [6, 6, 1]
    assert "token budget spent" in trace.reason


def test_rejection_with_the_programmatic_verifier():
    engine = ScriptedEngine(by_seed({0: solution("41", "6 * 7 = 41"), 1: solution("42")}))
    trace = run("rejection", engine, n=4, verifier="programmatic")
    assert trace.final_answer == "42" and len(engine.calls) == 2


# -- self-refine ------------------------------------------------------------------------------
def refining(critique: str, revision: str, draft: str = solution("41")):
    def respond(request: ScriptedRequest) -> str:
        if "Check the solution" in request.prompt:
            return critique
        if "Write a corrected solution" in request.prompt:
            return revision
        return draft
    return respond


def test_refine_accepts_a_revision_that_scores_at_least_as_high():
    engine = ScriptedEngine(refining("The product is wrong.", solution("42")),
                            yes_probability=yes_if("is 42."))
    trace = run("self-refine", engine, rounds=1)
    assert [n.kind for n in trace.nodes[:4]] == [NodeKind.PROMPT, NodeKind.CHAIN,
                                                 NodeKind.CRITIQUE, NodeKind.REVISION]
    revision = trace.nodes[3]
    assert revision.status == NodeStatus.KEPT and revision.chosen
    assert trace.final_answer == "42" and "revision of round 1" in trace.reason
    assert trace.nodes[2].answer is None  # critiques are not answers


def test_refine_rejects_a_worse_revision():
    engine = ScriptedEngine(refining("Wrong.", solution("40")), yes_probability=yes_if("is 41."))
    trace = run("self-refine", engine, rounds=2)
    revisions = [n for n in trace.nodes if n.kind == NodeKind.REVISION]
    assert len(revisions) == 2 and all(r.status == NodeStatus.REJECTED for r in revisions)
    assert trace.final_answer == "41" and "the draft" in trace.reason


def test_refine_stops_when_the_critique_finds_nothing():
    engine = ScriptedEngine(refining("No mistakes.", solution("40")))
    trace = run("self-refine", engine, rounds=3)
    assert len(engine.calls) == 2
    assert "round 1: the critique found nothing to fix" in trace.reason
    assert trace.final_answer == "41"


def test_refine_never_trades_an_answer_for_none():
    engine = ScriptedEngine(refining("Wrong.", "I give up."), yes_probability=0.5)
    trace = run("self-refine", engine, rounds=1)
    assert trace.final_answer == "41"


def test_refine_stays_within_budget():
    engine = ScriptedEngine(refining("It is wrong here and there.", solution("42")))
    trace = run("self-refine", engine, budget=20, rounds=4, scorer="mean-logprob")
    assert trace.compute.generated_tokens <= 20
    assert [c.params.max_tokens for c in engine.calls] == [20, 10, 4]  # what is left, in turn
    assert "token budget spent in round 2" in trace.reason
    assert trace.final_answer == "41"  # the cut-off revision is not accepted
