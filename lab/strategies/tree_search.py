"""`tree-search`: best-first or Monte Carlo tree search over reasoning steps.

Every new step gets a value in [0, 1]: the scorer on the partial path (`value=scorer`), or
the scorer on a rollout that finishes the solution from there (`value=rollout`).
- best-first expands the open step with the highest value, and ends when it selects a
  finished path;
- mcts selects down the tree by UCT (mean value + exploration bonus), expands the leaf,
  and backs the new values up to the root; the answer follows the most visited path.
Every node keeps its visits, mean value and the iterations that selected it (node.meta)."""

from __future__ import annotations

import math
from typing import Any

from lab.prompts import STEP_SEPARATOR, PromptStyle
from lab.scorers import SCORERS, Candidate
from lab.strategies import categories
from lab.strategies.base import Strategy, sampling
from lab.strategies.context import BudgetExhausted, RunContext
from lab.strategies.params import (
    Param,
    branch_param,
    depth_param,
    max_tokens_param,
    scorer_param,
    seed_param,
    temperature_param,
    top_p_param,
)
from lab.strategies.steps import expand, is_done, path_candidate, path_text, path_tokens, prefix
from lab.trace import Node, NodeKind, NodeStatus, TraceView


class TreeSearch(Strategy):
    name = "tree-search"
    category = categories.SEARCH
    order = 80
    views = (TraceView.TREE, TraceView.CHAINS)
    sweep_knob = "iterations"
    summary = "Best-first or Monte Carlo tree search over steps, valued by a verifier or rollouts."
    params = (
        Param("search", "choice", "mcts", "mcts (UCT with backed-up values) or best-first",
              choices=("mcts", "best-first")),
        Param("iterations", "int", 6, "expansions, each sampling `branch` next steps", 1, 64,
              knob=True),
        branch_param(2),
        depth_param(6),
        Param("value", "choice", "scorer", "a step's value: the scorer on the partial path, "
              "or on a rollout to the end", choices=("scorer", "rollout")),
        scorer_param("self-verify", SCORERS, "values steps (mapped to [0, 1])"),
        Param("exploration", "float", 1.0, "MCTS exploration constant (c in UCT)", 0.0, 10.0),
        temperature_param(0.7),
        top_p_param(),
        max_tokens_param(96, "tokens per step"),
        Param("rollout_tokens", "int", 192, "most tokens of one rollout", 1, 4096, knob=True),
        seed_param(),
    )

    def prompt_style(self, params: dict[str, Any]) -> PromptStyle:
        return "steps"

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        return int(params["branch"])

    def sequence_tokens(self, params: dict[str, Any]) -> int:
        return int(params["max_tokens"]) * int(params["depth"])

    def scorers_used(self, params: dict[str, Any]) -> list[str]:
        return [params["scorer"]]

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = ctx.solve_messages("steps")
        root = ctx.add_prompt(messages, style="steps")
        root.meta.update(visits=0, value=0.0, value_sum=0.0, depth=0,
                         open=p["search"] == "best-first")
        select = self._best_first if p["search"] == "best-first" else self._mcts
        note, found = f"{p['iterations']} iterations", None
        try:
            for iteration in range(1, p["iterations"] + 1):
                found = select(ctx, messages, root, iteration)
                if found is not None:
                    note = f"best-first reached a finished path at iteration {iteration}"
                    break
        except BudgetExhausted:
            note = "token budget spent"
        except _Exhausted:
            note = "nothing left to expand"
        self._finish(ctx, root, found, note)

    # -- best-first ---------------------------------------------------------------------------
    def _best_first(self, ctx: RunContext, messages: Any, root: Node, iteration: int
                    ) -> Node | None:
        frontier = [n for n in ctx.trace.nodes if n.meta.get("open")]
        if not frontier:
            raise _Exhausted()
        node = max(frontier, key=lambda n: (n.meta["value"], -n.id))
        node.meta["open"] = False
        _select(ctx, node, iteration)
        _backup(ctx, [node], [node.meta["value"]])
        if is_done(node):
            return node
        for child in self._grow(ctx, messages, node, iteration):
            child.meta["open"] = True
        return None

    # -- Monte Carlo tree search --------------------------------------------------------------
    def _mcts(self, ctx: RunContext, messages: Any, root: Node, iteration: int) -> Node | None:
        path = [root]
        exploration = ctx.params["exploration"]
        while not is_done(path[-1]):
            children = _step_children(ctx, path[-1])
            if not children:
                break
            path.append(max(children, key=lambda c: _uct(path[-1], c, exploration)))
        leaf = path[-1]
        _select(ctx, leaf, iteration)
        if is_done(leaf) or leaf.meta["depth"] >= ctx.params["depth"]:
            _backup(ctx, path, [leaf.meta["value"]])
            return None
        values = [c.meta["value"] for c in self._grow(ctx, messages, leaf, iteration)]
        _backup(ctx, path, values)
        return None

    # -- growing the tree ---------------------------------------------------------------------
    def _grow(self, ctx: RunContext, messages: Any, node: Node, iteration: int) -> list[Node]:
        """Sample `branch` next steps of `node` and give each its value."""
        p = ctx.params
        calls_left = (p["iterations"] - iteration + 1) * (2 if p["value"] == "rollout" else 1)
        # each step is valued, and with rollouts its rollout too
        verdicts = ctx.verdict_cost(p["scorer"]) * (2 if p["value"] == "rollout" else 1)
        count = ctx.affordable(p["branch"], verdicts)
        if count < 1:
            raise BudgetExhausted()
        cap = ctx.token_cap(p["max_tokens"], count, calls_left, verdicts)
        children = expand(ctx, messages, [node] * count, cap, p["depth"])
        values = self._values(ctx, messages, children, calls_left - 1)
        for child, value in zip(children, values, strict=True):
            child.scores[p["scorer"]] = value
            child.meta.update(visits=1, value=value, value_sum=value)
            ctx.update(child)
        return children

    def _values(self, ctx: RunContext, messages: Any, children: list[Node], calls_left: int
                ) -> list[float]:
        scorer = ctx.params["scorer"]
        values = [ctx.scoring.probability(scorer, path_candidate(ctx, c)) for c in children]
        pending = [i for i, c in enumerate(children) if not is_done(c)]
        if ctx.params["value"] != "rollout" or not pending:
            return values
        try:
            cap = ctx.token_cap(ctx.params["rollout_tokens"], len(pending), max(1, calls_left),
                                ctx.verdict_cost(scorer))
        except BudgetExhausted:
            return values  # no budget for rollouts: keep the scorer's values
        parents = [children[i] for i in pending]
        rollouts = ctx.sample(messages, parents, sampling(ctx.params, cap),
                              prefixes=[prefix(ctx, c) for c in parents], meta={"rollout": True})
        for i, rollout in zip(pending, rollouts, strict=True):
            whole = Candidate(path_text(ctx, children[i]) + STEP_SEPARATOR + rollout.text,
                              path_tokens(ctx, children[i]) + rollout.tokens, rollout.answer)
            values[i] = ctx.scoring.probability(scorer, whole)
            ctx.update(rollout, scores={scorer: values[i]})
        return values

    # -- the answer ---------------------------------------------------------------------------
    def _finish(self, ctx: RunContext, root: Node, found: Node | None, note: str) -> None:
        scorer = ctx.params["scorer"]
        if found is not None:
            ctx.finish(found.answer, f"{note}; value {found.meta['value']:.3f}", found)
            return
        leaf = _most_visited_leaf(ctx, root) if ctx.params["search"] == "mcts" else None
        if leaf is not None and leaf.answer is not None:
            ctx.finish(leaf.answer, f"the most visited path ({leaf.meta['visits']} visits, "
                       f"value {leaf.meta['value']:.3f}); {note}", leaf)
            return
        answered = [n for n in ctx.trace.nodes if n.answer is not None and scorer in n.scores]
        if not answered:
            ctx.finish(None, f"no path reached an answer; {note}", leaf)
            return
        best = max(answered, key=lambda n: n.scores[scorer])
        ctx.finish(best.answer, f"the best-valued answer ({scorer} {best.scores[scorer]:.3f}); "
                   f"{note}", best)


class _Exhausted(Exception):  # noqa: N818 - internal signal: the tree has nothing open
    pass


def _step_children(ctx: RunContext, node: Node) -> list[Node]:
    return [c for c in ctx.trace.children(node.id) if c.kind == NodeKind.STEP]


def _uct(parent: Node, child: Node, exploration: float) -> float:
    bonus = math.sqrt(math.log(max(1, parent.meta["visits"])) / max(1, child.meta["visits"]))
    return child.meta["value"] + exploration * bonus


def _select(ctx: RunContext, node: Node, iteration: int) -> None:
    node.meta.setdefault("selected_at", []).append(iteration)
    if node.status != NodeStatus.KEPT and node.kind == NodeKind.STEP:
        node.status = NodeStatus.KEPT
    ctx.update(node)


def _backup(ctx: RunContext, path: list[Node], values: list[float]) -> None:
    """Add each value as one visit to every node on the path (root included)."""
    for node in path:
        node.meta["visits"] = node.meta.get("visits", 0) + len(values)
        node.meta["value_sum"] = node.meta.get("value_sum", 0.0) + sum(values)
        node.meta["value"] = node.meta["value_sum"] / node.meta["visits"]
        ctx.update(node)


def _most_visited_leaf(ctx: RunContext, root: Node) -> Node | None:
    node, leaf = root, None
    while children := _step_children(ctx, node):
        node = leaf = max(children, key=lambda c: (c.meta["visits"], c.meta["value"]))
    return leaf
