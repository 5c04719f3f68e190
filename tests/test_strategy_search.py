"""Beam search and tree search over blank-line steps on a scripted engine."""

from __future__ import annotations

from test_strategy_support import run

from lab.engine.scripted import ScriptedEngine, ScriptedReply, ScriptedRequest
from lab.trace import NodeKind, NodeStatus


def two_step(request: ScriptedRequest) -> ScriptedReply:
    """Even seeds write good steps (confident, right), odd seeds bad ones."""
    good = request.seed % 2 == 0
    logprob = -0.1 if good else -2.0
    if request.prefix.count("\n\n") == 0:
        return ScriptedReply(f"First, {'six sevens' if good else 'a guess'}.\n\nrest", logprob)
    return ScriptedReply(f"The answer is {42 if good else 40}.", logprob)


def steps_of(trace):
    return [n for n in trace.nodes if n.kind == NodeKind.STEP]


# -- beam search ------------------------------------------------------------------------------
def test_beam_keeps_the_best_width_and_prunes_the_rest():
    engine = ScriptedEngine(two_step)
    trace = run("beam-search", engine, width=2, branch=2, depth=4)
    first, second = engine.calls
    assert first.prefixes == [""] * 4 and first.params.stop == ("\n\n",)
    assert second.prefixes == ["First, six sevens.\n\n"] * 4  # continued from the kept steps
    level1 = [n for n in steps_of(trace) if n.meta["depth"] == 1]
    assert [n.status for n in level1] == [NodeStatus.KEPT, NodeStatus.PRUNED] * 2
    assert all(n.answer is None and not n.meta["done"] for n in level1)
    level2 = [n for n in steps_of(trace) if n.meta["depth"] == 2]
    assert [n.answer for n in level2] == ["42", "40", "42", "40"]
    assert all(n.meta["done"] for n in level2)
    assert trace.final_answer == "42"
    assert "every kept path finished by step 2" in trace.reason
    chosen = [n for n in trace.nodes if n.chosen and n.kind == NodeKind.STEP]
    assert [n.meta["depth"] for n in chosen] == [1, 2]


def test_beam_depth_limit_ends_paths():
    engine = ScriptedEngine("Still thinking.\n\nmore")
    trace = run("beam-search", engine, width=1, branch=2, depth=3)
    assert len(engine.calls) == 3
    assert max(n.meta["depth"] for n in steps_of(trace)) == 3
    assert trace.final_answer is None and "3 steps" in trace.reason


def test_beam_stays_within_budget():
    engine = ScriptedEngine("one two three four five six seven eight")
    trace = run("beam-search", engine, budget=40, width=2, branch=2, depth=8, max_tokens=50)
    assert trace.compute.generated_tokens <= 40
    # what is left is shared fairly with the steps still to come
    assert engine.calls[0].params.max_tokens == 40 // (4 * 8)
    tight = run("beam-search", engine, budget=5, width=2, branch=2, depth=3, max_tokens=50)
    assert tight.compute.generated_tokens <= 5 and "token budget spent" in tight.reason


def test_beam_with_a_verifier_scorer():
    engine = ScriptedEngine(two_step, yes_probability=lambda p: 0.9 if "six sevens" in p else 0.1)
    trace = run("beam-search", engine, width=1, branch=2, depth=3, scorer="self-verify")
    assert trace.final_answer == "42"
    assert any("Partial solution" in prompt for prompt in engine.judged)


# -- tree search ------------------------------------------------------------------------------
def judge_by_path(prompt: str) -> float:
    return 0.9 if "six sevens" in prompt else 0.2


def test_best_first_expands_the_most_valuable_step_and_stops_at_a_finished_path():
    engine = ScriptedEngine(two_step, yes_probability=judge_by_path)
    trace = run("tree-search", engine, search="best-first", branch=2, iterations=6)
    root = trace.nodes[0]
    assert root.meta["selected_at"] == [1]
    level1 = [n for n in steps_of(trace) if n.meta["depth"] == 1]
    good, bad = level1
    assert good.meta["selected_at"] == [2] and "selected_at" not in bad.meta
    assert good.scores["self-verify"] > bad.scores["self-verify"]
    assert trace.final_answer == "42"
    assert "best-first reached a finished path at iteration 3" in trace.reason
    assert len(engine.calls) == 2


def test_mcts_backs_up_values_and_follows_the_most_visited_path():
    engine = ScriptedEngine(two_step, yes_probability=judge_by_path)
    trace = run("tree-search", engine, search="mcts", branch=2, iterations=5, exploration=0.5)
    root = trace.nodes[0]
    level1 = [n for n in steps_of(trace) if n.meta["depth"] == 1]
    good = level1[0]
    assert good.meta["visits"] > level1[1].meta["visits"]
    assert root.meta["visits"] >= sum(n.meta["visits"] for n in level1)
    assert all(0 <= n.meta["value"] <= 1 for n in steps_of(trace))
    assert trace.final_answer == "42" and "most visited path" in trace.reason
    assert root.meta["selected_at"] == [1]


def test_rollout_values():
    def respond(request: ScriptedRequest) -> ScriptedReply:
        if not request.params.stop:  # a rollout finishes the solution
            answer = 42 if "six sevens" in request.prefix else 40
            return ScriptedReply(f"So 6 * 7 = {answer}.\n\nThe answer is {answer}.", -0.2)
        return two_step(request)

    engine = ScriptedEngine(respond, yes_probability=lambda p: 0.9 if "is 42." in p else 0.1)
    trace = run("tree-search", engine, search="mcts", value="rollout", branch=2, iterations=1)
    rollouts = [n for n in trace.nodes if n.meta.get("rollout")]
    assert [n.answer for n in rollouts] == ["42", "40"]
    assert all(trace.node(n.parent).kind == NodeKind.STEP for n in rollouts)
    good, bad = [n for n in steps_of(trace)]
    assert good.meta["value"] > bad.meta["value"]
    assert trace.final_answer == "42"  # the best-valued rollout


def test_tree_search_within_budget():
    engine = ScriptedEngine("a b c d e f g h i j", yes_probability=0.5)
    trace = run("tree-search", engine, budget=30, iterations=10, branch=2, max_tokens=20)
    assert trace.compute.generated_tokens <= 30
    tight = run("tree-search", engine, budget=3, iterations=10, branch=2, max_tokens=20)
    assert tight.compute.generated_tokens <= 3 and "token budget spent" in tight.reason


def test_a_number_inside_a_step_is_not_an_answer():
    def respond(request: ScriptedRequest) -> str:
        if request.prefix.count("\n\n") == 0:
            return "6 * 7 = 42\n\nmore"
        return "The answer is 42."

    trace = run("beam-search", ScriptedEngine(respond), width=1, branch=1, depth=4)
    first, second = steps_of(trace)
    assert first.answer is None and not first.meta["done"]
    assert second.answer == "42" and second.meta["done"]
