"""`dvts`, diverse verifier tree search: independent subtrees (each a width-1 step search
keeping its best of `branch` next steps), all subtrees' steps of one depth in one engine call,
and the leaves' answers voted (weighted by their scores as probabilities, or plain)."""

from __future__ import annotations

import json
import math
import threading

import pytest
from click.testing import CliRunner
from test_strategy_support import PROBLEM, run

from lab import config
from lab.cli import main
from lab.engine.scripted import ScriptedEngine, ScriptedReply, ScriptedRequest
from lab.store.ledger import Ledger
from lab.strategies import categories
from lab.strategies.dvts import LEAF, SUBTREE
from lab.strategies.params import ParamError
from lab.strategies.registry import get_strategy, run_strategy
from lab.strategies.self_consistency import VOTE_WEIGHT
from lab.trace import EventKind, NodeKind, NodeStatus, Trace, TraceEvent, TraceStatus
from lab.views.base import Canvas
from lab.views.blocks import Heading
from lab.views.registry import get_view
from lab.views.tree import layout, tree_nodes


def steps_of(trace: Trace) -> list:
    return [n for n in trace.nodes if n.kind == NodeKind.STEP]


def leaves_of(trace: Trace) -> list:
    return [n for n in steps_of(trace) if n.meta.get(LEAF)]


def step_no(request: ScriptedRequest) -> int:
    """Which step a request writes: 1 from the prompt, 2 after one blank line, ..."""
    return request.prefix.count("\n\n") + 1


def by_first_seed(first: dict[int, ScriptedReply], then: dict[str, ScriptedReply]):
    """Step 1 by the sequence's seed; later steps by the first word of the path's first step."""
    def respond(request: ScriptedRequest) -> ScriptedReply:
        if step_no(request) == 1:
            return first[request.seed]
        return then[request.prefix.split()[0]]
    return respond


# -- what it says of itself ----------------------------------------------------------------------
def test_it_describes_itself_as_a_search_over_subtrees():
    strategy = get_strategy("dvts")
    params = strategy.validate({"subtrees": 3, "branch": 4, "depth": 5, "max_tokens": 20})
    assert strategy.category is categories.SEARCH and strategy.sweep_knob == "subtrees"
    assert strategy.views == ("tree", "votes")
    assert {"subtrees", "branch", "depth", "max_tokens"} <= set(strategy.knobs)
    assert strategy.parallel_sequences(params) == 12  # subtrees x branch in one call
    assert strategy.sequence_tokens(params) == 100  # depth x tokens per step
    assert strategy.prompt_style(params) == "steps"
    defaults = strategy.validate({})
    assert (defaults["subtrees"], defaults["branch"], defaults["depth"], defaults["vote"],
            defaults["scorer"], defaults["temperature"]) == (
        4, 2, 6, "weighted", get_strategy("beam-search").validate({})["scorer"], 0.7)
    assert strategy.demo is not None and strategy.validate(strategy.demo.params)
    assert not strategy.resamplable(defaults, None)  # leaves are searched, not drawn alike
    with pytest.raises(ParamError, match="temperature must be above 0"):
        strategy.validate({"temperature": 0})
    with pytest.raises(ParamError, match="vote must be one of weighted, plain"):
        strategy.validate({"vote": "loudest"})


# -- independent subtrees, one call per depth ---------------------------------------------------
def test_each_subtree_continues_its_own_kept_path_with_seeds_of_its_own():
    def respond(request: ScriptedRequest) -> ScriptedReply:
        if step_no(request) == 1:  # odd seeds write the better first step
            return ScriptedReply(f"Path{request.seed} starts.\n\nx",
                                 -0.1 if request.seed % 2 else -1.0)
        return ScriptedReply("The answer is 42.", -0.2)

    engine = ScriptedEngine(respond)
    trace = run("dvts", engine, subtrees=2, branch=2, depth=4)
    first, second = engine.calls
    assert first.prefixes == [""] * 4 and first.params.stop == ("\n\n",)
    # every sequence of the run has a seed of its own
    assert first.seeds == [0, 1, 2, 3] and second.seeds == [4, 5, 6, 7]
    # each subtree continues the step it kept (seeds 1 and 3), never the other's
    assert second.prefixes == ["Path1 starts.\n\n"] * 2 + ["Path3 starts.\n\n"] * 2
    level1 = [n for n in steps_of(trace) if n.meta["depth"] == 1]
    assert [n.meta[SUBTREE] for n in level1] == [0, 0, 1, 1]
    assert [n.status for n in level1] == [NodeStatus.PRUNED, NodeStatus.KEPT] * 2
    kept = {n.meta[SUBTREE]: n for n in level1 if n.status == NodeStatus.KEPT}
    level2 = [n for n in steps_of(trace) if n.meta["depth"] == 2]
    assert all(n.parent == kept[n.meta[SUBTREE]].id for n in level2)
    assert [n.meta[SUBTREE] for n in level2] == [0, 0, 1, 1]
    # both subtrees' leaves (the first of two equal steps each) vote 42
    leaves = leaves_of(trace)
    assert [(n.meta[SUBTREE], n.meta["depth"], n.status) for n in leaves] == [
        (0, 2, NodeStatus.KEPT), (1, 2, NodeStatus.KEPT)]
    assert trace.final_answer == "42" and set(trace.votes) == {"42"}
    assert "every subtree finished by step 2" in trace.reason


def test_one_engine_call_per_depth_holds_every_live_subtree():
    """Subtree 0 states its answer at step 1; subtree 1 needs three steps; subtree 2, two."""
    def respond(request: ScriptedRequest) -> str:
        subtree = request.prefix.split()[0] if request.prefix else str(request.seed // 2)
        steps_needed = {"0": 1, "1": 3, "2": 2}[subtree]
        if step_no(request) >= steps_needed:
            return "The answer is 42."
        return f"{subtree} step {step_no(request)}.\n\nmore"

    engine = ScriptedEngine(respond)
    trace = run("dvts", engine, subtrees=3, branch=2, depth=6)
    assert [len(call.seeds) for call in engine.calls] == [6, 4, 2]  # live subtrees x branch
    assert trace.compute.engine_calls == 3
    assert sorted((n.meta[SUBTREE], n.meta["depth"]) for n in leaves_of(trace)) == [
        (0, 1), (1, 3), (2, 2)]
    assert trace.votes == pytest.approx({"42": 3 * math.exp(-0.5)})
    assert "every subtree finished by step 3" in trace.reason


# -- the vote ---------------------------------------------------------------------------------
def one_step(answers_and_logprobs: dict[int, tuple[str, float]]):
    return lambda request: ScriptedReply(
        f"The answer is {answers_and_logprobs[request.seed][0]}.",
        answers_and_logprobs[request.seed][1])


def test_the_weighted_leaf_vote_and_the_best_single_leaf_part():
    # one leaf answers 40 with the best score; two answer 42 a little less sure
    engine = ScriptedEngine(one_step({0: ("40", -0.05), 1: ("42", -0.4), 2: ("42", -0.4)}))
    trace = run("dvts", engine, subtrees=3, branch=1, depth=3)
    leaves = leaves_of(trace)
    best_single = max(leaves, key=lambda n: n.scores["mean-logprob"])
    assert best_single.answer == "40"  # what a plain best-of by score would answer
    assert trace.final_answer == "42"
    assert trace.votes == pytest.approx({"42": 2 * math.exp(-0.4), "40": math.exp(-0.05)})
    assert [n.scores[VOTE_WEIGHT] for n in leaves] == pytest.approx(
        [math.exp(-0.05), math.exp(-0.4), math.exp(-0.4)])
    assert trace.reason.startswith("1.34 of 2.29 votes weighted by mean-logprob for 42")
    chosen = [n for n in trace.nodes if n.chosen]
    assert [n.kind for n in chosen] == [NodeKind.PROMPT, NodeKind.STEP, NodeKind.ANSWER]
    assert chosen[1].answer == "42" and chosen[1].meta[SUBTREE] == 1  # the first of equals


def test_plain_and_weighted_votes_part_where_the_many_are_unsure():
    # two unsure leaves say 40 (p = 0.05 each), one sure leaf says 42 (p = 0.9)
    replies = {0: ("40", -3.0), 1: ("40", -3.0), 2: ("42", math.log(0.9))}
    weighted = run("dvts", ScriptedEngine(one_step(replies)), subtrees=3, branch=1, depth=2)
    plain = run("dvts", ScriptedEngine(one_step(replies)), subtrees=3, branch=1, depth=2,
                vote="plain")
    assert weighted.final_answer == "42"
    assert plain.final_answer == "40" and plain.votes == {"40": 2.0, "42": 1.0}
    assert plain.reason.startswith("2 of 3 votes for 40")
    assert all(VOTE_WEIGHT not in n.scores for n in steps_of(plain))


def test_subtrees_keep_a_right_answer_that_one_beam_of_the_same_size_prunes():
    """A confident wrong first step (seeds 0 and 1) crowds the right one (seeds 2 and 3) out
    of a beam of width 2; each subtree keeps its own best, so one subtree reaches 42, and its
    leaf's score (its last step is sure, the wrong path's is not) wins the weighted vote."""
    respond = by_first_seed(
        {0: ScriptedReply("Guess first.\n\nx", -0.1), 1: ScriptedReply("Guess first.\n\nx", -0.1),
         2: ScriptedReply("Six sevens.\n\nx", -1.0), 3: ScriptedReply("Six sevens.\n\nx", -1.0)},
        {"Guess": ScriptedReply("The answer is 40.", -3.0),
         "Six": ScriptedReply("The answer is 42.", -0.05)})
    beam = run("beam-search", ScriptedEngine(respond), width=2, branch=2, depth=3)
    beam_kept = [n for n in steps_of(beam) if n.meta["depth"] == 1 and n.status == NodeStatus.KEPT]
    assert [n.text for n in beam_kept] == ["Guess first."] * 2  # the beam converged
    assert beam.final_answer == "40"

    engine = ScriptedEngine(respond)
    dvts = run("dvts", engine, subtrees=2, branch=2, depth=3)
    assert engine.calls[0].seeds == [0, 1, 2, 3]  # the beam's first step's seeds
    assert [n.text for n in steps_of(dvts) if n.meta["depth"] == 1
            and n.status == NodeStatus.KEPT] == ["Guess first.", "Six sevens."]
    assert dvts.final_answer == "42" and set(dvts.votes) == {"40", "42"}
    assert dvts.votes["42"] > dvts.votes["40"]
    chosen_steps = [n.text for n in steps_of(dvts) if n.chosen]
    assert chosen_steps == ["Six sevens.", "The answer is 42."]


def test_a_leaf_cut_at_its_step_cap_votes_only_with_an_answer_it_stated():
    replies = {0: "The answer is 42 and I am sure of it", 1: "So 40 40 40 40 40 40"}
    engine = ScriptedEngine(lambda request: replies[request.seed])
    trace = run("dvts", engine, subtrees=2, branch=1, depth=1, max_tokens=4)
    leaves = leaves_of(trace)
    assert all(n.cut for n in leaves) and [n.answer for n in leaves] == ["42", "40"]
    assert trace.votes == pytest.approx({"42": math.exp(-0.5)})
    assert trace.final_answer == "42"
    assert ("1 of 2 subtrees' leaves voted (1 cut at the step cap without a stated answer)"
            in trace.reason)


def test_no_answer_reached_says_so():
    trace = run("dvts", ScriptedEngine("Still thinking.\n\nmore"), subtrees=2, branch=2,
                depth=2)
    assert trace.final_answer is None and trace.votes == {}
    # at the depth limit a leaf is done, but "Still thinking." holds no answer
    assert trace.reason.startswith("no subtree's leaf reached an answer")
    assert "0 of 2 subtrees' leaves voted" in trace.reason and "2 steps" in trace.reason


# -- compute and budget --------------------------------------------------------------------------
def test_every_token_and_verdict_is_counted():
    respond = by_first_seed(
        {s: ScriptedReply(f"Step {'alpha' if s % 2 else 'beta'}.\n\nx", -0.3) for s in range(4)},
        {"Step": ScriptedReply("The answer is 42.", -0.2)})
    engine = ScriptedEngine(respond, yes_probability=lambda p: 0.8 if "alpha" in p else 0.3)
    trace = run("dvts", engine, subtrees=2, branch=2, depth=3, scorer="self-verify")
    c = trace.compute
    assert sum(len(n.tokens) for n in trace.nodes) == c.generated_tokens
    assert c.generated_by == {"step": c.generated_tokens, "self-verify": c.verdict_tokens}
    assert c.verdict_tokens == len(engine.judged) > 0
    assert c.engine_calls == len(engine.calls) + len(engine.judged)
    assert any("Partial solution" in prompt for prompt in engine.judged)
    # the verifier keeps "Step alpha." in both subtrees; the vote reads the recorded scores
    assert [n.text for n in steps_of(trace) if n.meta["depth"] == 1
            and n.status == NodeStatus.KEPT] == ["Step alpha."] * 2
    assert trace.final_answer == "42"


def test_the_budget_is_shared_across_depths_and_stops_a_depth_it_cannot_pay():
    engine = ScriptedEngine("one two three four five six seven eight")
    trace = run("dvts", engine, budget=40, subtrees=2, branch=2, depth=8, max_tokens=50)
    assert trace.compute.all_generated <= 40
    assert engine.calls[0].params.max_tokens == 40 // (4 * 8)  # a fair share of the depths
    # 10 tokens pay for two-token steps of 4 sequences once; step 2 needs 4 more, 2 are left
    tight = run("dvts", ScriptedEngine("one two three four five"), budget=10, subtrees=2,
                branch=2, depth=4, max_tokens=5)
    assert tight.compute.generated_tokens == 8 and len(steps_of(tight)) == 4
    assert "the token budget could not pay for step 2 of the 2 live subtrees" in tight.reason
    assert tight.final_answer is None  # the partial leaves hold no answer
    # a budget too small for one whole depth starts nothing
    none = run("dvts", ScriptedEngine("x"), budget=3, subtrees=2, branch=2)
    assert not steps_of(none) and "could not pay for step 1" in none.reason


def test_a_model_scorers_verdicts_are_paid_from_the_budget():
    engine = ScriptedEngine(lambda r: f"Step {r.seed} of many words here.\n\nx",
                            yes_probability=0.6)
    trace = run("dvts", engine, budget=30, subtrees=2, branch=2, depth=3, max_tokens=20,
                scorer="self-verify")
    assert trace.compute.all_generated <= 30 and trace.compute.verdict_tokens > 0


def test_cancelling_keeps_the_steps_generated():
    cancel = threading.Event()

    def on_event(event: TraceEvent) -> None:
        if (event.kind == EventKind.TOKEN and event.node is not None
                and event.node.meta.get("seed") == 4):  # the second depth's first sequence
            cancel.set()

    engine = ScriptedEngine("a b c.\n\nd e f.")
    trace = run_strategy("dvts", PROBLEM, engine, {"subtrees": 2, "branch": 2},
                         on_event=on_event, cancel=cancel)
    assert trace.status == TraceStatus.INTERRUPTED and len(engine.calls) == 2
    assert len([n for n in steps_of(trace) if n.meta.get("depth") == 1]) == 4
    assert sum(len(n.tokens) for n in trace.nodes) == trace.compute.generated_tokens
    assert Trace.from_json(trace.to_json()) == trace


# -- the views ------------------------------------------------------------------------------------
def test_the_tree_draws_the_subtrees_side_by_side_and_the_votes_view_the_leaves_votes():
    engine = ScriptedEngine(one_step({0: ("40", -1.0), 1: ("42", -0.2), 2: ("42", -0.3),
                                      3: ("42", -0.9)}))
    trace = run("dvts", engine, subtrees=2, branch=2, depth=2)
    nodes = tree_nodes(trace)
    positions = layout(nodes)
    kept = [n for n in steps_of(trace) if n.status == NodeStatus.KEPT]
    assert len({positions[n.id][0] for n in kept}) == 2  # one column per subtree
    assert all(positions[n.id][1] == -1 for n in kept)
    canvas = Canvas(key="t")
    tree_blocks = get_view("tree").describe(trace, canvas)
    assert tree_blocks and tree_blocks[0] == Heading("Search tree")
    assert get_view("votes").describe(trace, canvas)
    assert get_view("chains").describe(trace, canvas) == []  # leaves are steps, not chains


# -- the real model -------------------------------------------------------------------------------
@pytest.mark.model
def test_on_the_real_model_subtrees_share_each_depths_call_and_count_every_token():
    result = CliRunner().invoke(main, [
        "solve", "-s", "dvts", "-p", "subtrees=2", "-p", "branch=2", "-p", "depth=2",
        "-p", "max_tokens=16", "--model", "smollm2-135m", "--set", "arith", "--index", "0",
        "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "complete"
    with Ledger(config.database_url()) as ledger:
        trace = ledger.load_trace(data["run_id"])
    steps = steps_of(trace)
    depths = sorted({n.meta["depth"] for n in steps})
    assert trace.compute.engine_calls == len(depths) and depths in ([1], [1, 2])
    level1 = [n for n in steps if n.meta["depth"] == 1]
    live = [n for n in level1 if n.status == NodeStatus.KEPT and not n.meta["done"]]
    # one call per depth: 2 subtrees x 2 branches, then 2 for each subtree still going
    assert len(level1) == 4 and len(steps) == 4 + 2 * len(live)
    assert {n.meta[SUBTREE] for n in steps} == {0, 1}
    assert len({n.meta["seed"] for n in steps}) == len(steps)
    assert all(len(n.tokens) <= 16 for n in steps)
    assert sum(len(n.tokens) for n in trace.nodes) == trace.compute.generated_tokens
    assert len(leaves_of(trace)) == 2
    for leaf in leaves_of(trace):
        depth1 = trace.node(leaf.parent) if leaf.meta["depth"] == 2 else leaf
        assert depth1.meta[SUBTREE] == leaf.meta[SUBTREE] and depth1.status == NodeStatus.KEPT
    assert trace.compute.cached_prompt_tokens > 0  # the prompt is decoded once per call
