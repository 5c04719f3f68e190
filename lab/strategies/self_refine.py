"""`self-refine`: draft, then rounds of critique and revision by the same model.

A revision replaces the current solution only if the scorer rates it at least as high (and
it still states an answer where the current one does, and was not cut at its token cap;
with `cut_votes`, a cut revision may replace a solution that was cut too); the loop stops
early when a critique finds nothing to fix."""

from __future__ import annotations

from typing import Any

from lab.prompts import (
    critique_is_clean,
    critique_messages,
    revision_messages,
)
from lab.scorers import SCORERS
from lab.strategies import categories
from lab.strategies.base import Demo, Strategy, sampling
from lab.strategies.context import BudgetExhausted, RunContext
from lab.strategies.params import (
    cut_votes_param,
    rounds_param,
    sampling_params,
    scorer_param,
    seed_param,
)
from lab.strategies.voting import cut_votes
from lab.trace import Node, NodeKind, NodeStatus, TraceView


def refine(ctx: RunContext, draft: Node, rounds: int, scorer: str, max_tokens: int
           ) -> tuple[Node, str]:
    """Critique and revise `draft` for up to `rounds` rounds; returns the solution standing at
    the end and why the loop ended."""
    current = draft
    best = ctx.score(current, scorer)
    for round_no in range(1, rounds + 1):
        try:
            critique = _ask(ctx, current, critique_messages(ctx.problem, current.text),
                            NodeKind.CRITIQUE, max_tokens, round_no)
            if critique_is_clean(critique.text):
                ctx.update(critique, meta={**critique.meta, "clean": True})
                return current, f"round {round_no}: the critique found nothing to fix"
            revision = _ask(ctx, critique, revision_messages(ctx.problem, current.text,
                                                              critique.text),
                            NodeKind.REVISION, max_tokens, round_no)
        except BudgetExhausted:
            return current, f"token budget spent in round {round_no}"
        value = ctx.score(revision, scorer)
        if value >= best and _no_worse_shaped(revision, current, cut_votes(ctx)):
            ctx.update(revision, status=NodeStatus.KEPT)
            current, best = revision, value
        else:
            ctx.update(revision, status=NodeStatus.REJECTED)
    return current, f"{rounds} rounds done"


def _no_worse_shaped(revision: Node, current: Node, cut_vote: bool = False) -> bool:
    """A revision must not lose the answer, nor be cut at its token cap (with `cut_vote`:
    nor be cut off where the current one was not)."""
    finished = ("eos", "stop")
    keeps_answer = revision.answer is not None or current.answer is None
    keeps_ending = revision.finish_reason in finished or current.finish_reason not in finished
    return keeps_answer and keeps_ending and (cut_vote or not revision.cut)


def _ask(ctx: RunContext, parent: Node, messages: Any, kind: NodeKind, max_tokens: int,
         round_no: int) -> Node:
    # Each call may use what is left (but the revision's verdict): a cut-off critique or
    # revision is of no use.
    cap = ctx.token_cap(max_tokens, verdicts=ctx.verdict_cost(ctx.params["scorer"]))
    [node] = ctx.sample(messages, [parent], sampling(ctx.params, cap), kind=kind,
                        meta={"round": round_no, "prompt": messages[-1]["content"]},
                        extract=kind is not NodeKind.CRITIQUE)
    return node


class SelfRefine(Strategy):
    name = "self-refine"
    category = categories.REVISE
    order = 60
    views = (TraceView.CANDIDATES, TraceView.CHAINS)
    sweep_knob = "rounds"
    demo = Demo({"rounds": 1})
    summary = "Draft, then critique and revise; keep a revision only if it scores as high."
    params = (
        rounds_param(2),
        scorer_param("self-verify", SCORERS, "decides whether a revision replaces the answer"),
        *sampling_params(temperature=0.0),
        cut_votes_param("replace the solution"),
        seed_param(),
    )

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = ctx.solve_messages("cot")
        root = ctx.add_prompt(messages, style="cot")
        cap = ctx.token_cap(p["max_tokens"], verdicts=ctx.verdict_cost(p["scorer"]))
        [draft] = ctx.sample(messages, [root], sampling(p, cap))
        final, why = refine(ctx, draft, p["rounds"], p["scorer"], p["max_tokens"])
        revised = "the draft" if final is draft else f"revision of round {final.meta['round']}"
        ctx.update(final, status=NodeStatus.KEPT)
        cut = " (cut at the token cap)" if final.cut else ""
        ctx.finish(final.answer, f"{revised}{cut} ({p['scorer']} "
                   f"{final.scores[p['scorer']]:.3f}); {why}", final)
