"""`cot-decoding`: branch on the k most likely first tokens, continue each greedily, keep the
branch whose answer the model was surest of (Wang & Zhou 2024, "Chain-of-Thought Reasoning
Without Prompting"; optillm's cot_decoding.py).

1. One greedy token with `top_logprobs`: the model's k most likely first tokens (the probe).
2. One batched call continues prompt + first token i greedily for every i
   (`continue_prefixes`: the prompt is decoded once and shared), each token with its
   runner-up (`top_logprobs` >= 2).
3. Each branch's margin: over the tokens that spell its extracted answer, the mean of
   p(top1) - p(top2), the gap between the two most likely tokens at that position (from the
   token's own log-prob and its alternatives). A branch without an answer has no margin;
   neither has one cut at its token cap, unless `cut_votes` (its "answer" is whatever number
   it last wrote, not a conclusion: the lab's rule for cut chains, lab.strategies.voting).
4. `aggregate=max` keeps the branch with the highest margin (the paper's CoT-decoding);
   `aggregate=sum` adds the margins of branches whose answers are equivalent (the lab's
   grouping, lab.tasks.answers) and keeps the answer with the largest sum (the paper's
   aggregated variant), represented by its best branch.

A branch's first token was chosen by the probe and fed to the engine as a prefix: it is a
prompt token of the second call, not a generated one, so it is kept in the branch's meta
(`first_token`, `first_logprob`, `first_rank`) and its text, not among its tokens (every
generated token is on exactly one node). The branch's text is first token + continuation, so
its answer and answer span are found in what the branch says as a whole; `branch_tokens`
gives the tokens that spell it (the first one rebuilt from the probe's distribution), which
the margin and this module's views read.

Trace: PROMPT -> STEP (the probe: one token, its alternatives in `top`) -> CHAIN per branch
(scores: margin; meta: first token, its log-prob and rank, why a branch has no margin)
-> ANSWER.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from lab.engine.base import Token
from lab.strategies.base import Demo, Strategy, sampling
from lab.strategies.categories import Category
from lab.strategies.context import RunCancelled, RunContext
from lab.strategies.params import (
    Param,
    cut_votes_param,
    max_tokens_param,
    prompt_param,
    seed_param,
)
from lab.strategies.voting import cut_votes, tally
from lab.trace import Node, NodeKind, NodeStatus, Trace
from lab.views.base import Canvas
from lab.views.blocks import Block, Caption, Heading, Table
from lab.views.candidates import CandidatesView
from lab.views.chains import ChainsView

BRANCH = Category(
    "Branch on the first token",
    "Decode greedily, but from each of the k most likely first tokens instead of the top one "
    "alone, and keep the branch whose answer the model was surest of while writing it "
    "(CoT-decoding). Reasoning paths often hide behind a less likely first token.",
    "k greedy chains decoded side by side in one batch, plus one token to learn the first "
    "tokens; the prompt is decoded once and shared.",
    "When the greedy path answers hastily and a better path starts with another word, and "
    "when the model is surer of right answers than of wrong ones. A small model's certainty "
    "is a noisy signal.",
    order=25,
    how=(
        "One greedy token, read with its alternatives, gives the model's k most likely first "
        "tokens. Each starts a branch, continued greedily (temperature 0) in one batched call. "
        "In each branch the lab finds the extracted answer and the tokens that spell it, and "
        "computes the **margin**: the mean over those tokens of p(top1) − p(top2), the gap "
        "between the two tokens the model found most likely at that position. A branch "
        "without an answer, or cut at its token cap (unless `cut_votes`), has no margin. "
        "`aggregate=max` keeps the branch with the highest margin (Wang & Zhou's "
        "CoT-decoding); `aggregate=sum` adds the margins of branches with equivalent answers "
        "and keeps the answer with the largest sum. Unlike a vote, three unsure branches "
        "lose to two sure ones. The chains view's *Where the chains part ways* shows the "
        "branches parting at their first token."),
)

MARGIN = "margin"  # the score name on each branch
FIRST_TOKEN = "first_token"  # a branch's meta: the text of its first token
FIRST_LOGPROB = "first_logprob"  # ...its log-prob at the first position
FIRST_RANK = "first_rank"  # ...its place among the first tokens (1: the greedy one)
NO_MARGIN = "no_margin"  # ...why it has no margin
ANSWER_TOKENS = "answer_tokens"  # ...how many tokens spell its answer (the margin's tokens)
PROBE = "probe"  # the probe node's meta: True
MARGIN_SUMS = "margin_sums"  # trace.meta with aggregate=sum: answer -> summed margin
SPARE = 3  # alternatives asked beyond k: some may be unusable as a prefix (empty, partial)
RUNNER_UP = 2  # alternatives each branch token reports: itself and its runner-up
SAME_LOGPROB = 1e-9  # a token whose log-prob is in its alternatives is among them


class CotDecoding(Strategy):
    name = "cot-decoding"
    category = BRANCH
    order = 95
    views = ("cot-branches", "cot-chains")  # the candidates and chains views, first tokens in
    sweep_knob = "k"
    demo = Demo({"k": 3})
    summary = "Branch on the k most likely first tokens, decode each greedily, keep the surest."
    params = (
        Param("k", "int", 5, "most likely first tokens to branch on", 1, 10, knob=True),
        Param("aggregate", "choice", "max", "max: the branch with the highest answer margin; "
              "sum: the answer whose branches' margins add up highest", choices=("max", "sum")),
        # The paper asks with the bare question (no CoT prompt). The lab has no bare style:
        # "direct" tells the model to give only the answer, which forbids the reasoning paths
        # CoT-decoding looks for and leaves the margin to read one token that every branch
        # shares; and the lab's small instruct models follow an answer line ("The answer is
        # X.") far more reliably after "Think step by step". So "cot": the branches are k
        # different openings of a reasoning chain, each ending in an answer the lab can find.
        prompt_param("cot"),
        max_tokens_param(what="tokens per branch after its first token"),
        cut_votes_param("have a margin"),
        seed_param(),
    )

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        return int(params["k"])

    def sequence_tokens(self, params: dict[str, Any]) -> int:
        return int(params["max_tokens"]) + 1  # the first token (a prefix), then the branch

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = ctx.solve_messages(p["prompt"])
        root = ctx.add_prompt(messages, style=p["prompt"])
        greedy = sampling(p, 1, temperature=0.0, top_logprobs=p["k"] + SPARE)
        [probe] = ctx.sample(messages, [root], greedy, kind=NodeKind.STEP, extract=False,
                             meta={PROBE: True})
        firsts = first_tokens(probe, p["k"])
        if not firsts:
            ctx.finish(None, "the model gave no first token to branch on")
            return
        n = ctx.affordable(len(firsts))
        if n < 1:
            ctx.finish(None, f"the token budget was spent on the first token; no branch of "
                       f"{len(firsts)} could start")
            return
        cap = ctx.token_cap(p["max_tokens"], n)
        try:
            branches = ctx.sample(messages, [probe] * n,
                                  sampling(p, cap, temperature=0.0, top_logprobs=RUNNER_UP),
                                  prefixes=[text for text, _ in firsts[:n]], extract=False)
        except RunCancelled:  # the partial branches keep their first tokens, then it stops
            label_branches(ctx, ctx.trace.children(probe.id), firsts)
            raise
        label_branches(ctx, branches, firsts)
        for branch in branches:
            self._measure(ctx, branch, probe)
        notes = []
        if n < len(firsts):
            notes.append(f"the token budget afforded {n} of {len(firsts)} branches")
        if len(firsts) < p["k"]:
            notes.append(f"only {len(firsts)} usable first tokens of the {p['k']} asked for")
        finish_branches(ctx, branches, "; ".join(notes))

    def _measure(self, ctx: RunContext, branch: Node, probe: Node) -> None:
        """Record the branch's margin as its score, or why it has none."""
        why = ""
        if branch.answer is None:
            why = "no answer"
        elif branch.cut and not cut_votes(ctx):
            why = "cut at the token cap (cut_votes is off)"
        else:
            margin, used = answer_margin(branch_tokens(branch, probe), branch.answer_span)
            if margin is None:
                why = "no runner-up reported for its answer's tokens"
            else:
                branch.scores[MARGIN] = margin
                branch.meta[ANSWER_TOKENS] = used
        if why:
            branch.meta[NO_MARGIN] = why
        ctx.update(branch)


def label_branches(ctx: RunContext, branches: Sequence[Node],
                   firsts: Sequence[tuple[str, float]]) -> None:
    """Put each branch's first token in front of its text and in its meta, and find its
    answer in the whole text."""
    for rank, (branch, (text, logprob)) in enumerate(zip(branches, firsts, strict=False), 1):
        ctx.update(branch, text=text + branch.text,
                   meta={**branch.meta, FIRST_TOKEN: text, FIRST_LOGPROB: logprob,
                         FIRST_RANK: rank})
        ctx.extract(branch)


def first_tokens(probe: Node, k: int) -> list[tuple[str, float]]:
    """The k most likely first tokens usable as a prefix (text, log-prob), most likely first:
    the probe's alternatives, without empty pieces (special tokens), partial characters and
    repeated texts; the probe's own token where the engine reported no alternatives."""
    if not probe.tokens:
        return []
    token = probe.tokens[0]
    found: list[tuple[str, float]] = []
    seen: set[str] = set()
    for text, logprob in sorted(token.top or [(token.text, token.logprob)],
                                key=lambda alt: -alt[1]):
        if text and "\ufffd" not in text and text not in seen:
            seen.add(text)
            found.append((text, logprob))
    return found[:k]


def finish_branches(ctx: RunContext, branches: Sequence[Node], note: str = "") -> None:
    """Pick by the run's `aggregate` among the branches with a margin, mark and finish."""
    measured = [b for b in branches if MARGIN in b.scores]
    count = f"{len(measured)} of {len(branches)} branches had a margin"
    if not measured:
        ctx.finish(None, _join(f"no branch of {len(branches)} had a margin "
                               f"({_no_margin_summary(branches)})", note))
        return
    if ctx.params.get("aggregate", "max") == "sum":
        groups = tally(measured, ctx.problem.kind, [b.scores[MARGIN] for b in measured],
                       cut_vote=True)
        for group in groups:
            for member in group.members:
                ctx.update(member, meta={**member.meta, "group": group.key})
        ctx.trace.meta[MARGIN_SUMS] = {g.key: g.weight for g in groups}
        # ties: the group holding the branch of the more likely first token
        best = max(groups, key=lambda g: (g.weight, -min(_rank(m) for m in g.members)))
        chosen = max(best.members, key=lambda b: (b.scores[MARGIN], -_rank(b)))
        for member in best.members:
            ctx.update(member, status=NodeStatus.KEPT)
        reason = (f"margins sum to {best.weight:.3f} for {best.key} over "
                  f"{len(best.members)} branch{'es' if len(best.members) > 1 else ''}; {count}")
    else:
        chosen = max(measured, key=lambda b: (b.scores[MARGIN], -_rank(b)))
        ctx.update(chosen, status=NodeStatus.KEPT)
        reason = (f"highest margin {chosen.scores[MARGIN]:.3f}, the branch from first token "
                  f"{chosen.meta.get(FIRST_TOKEN, '')!r} (#{_rank(chosen)}); {count}")
    ctx.finish(chosen.answer, _join(reason, note), chosen)


# -- the margin --------------------------------------------------------------------------------
def token_margin(token: Token) -> float | None:
    """p(top1) - p(top2) at the token's position: the two most likely of its alternatives and
    itself (a token forced as a prefix need not be the most likely); None without a
    runner-up."""
    logprobs = [logprob for _, logprob in token.top]
    if not any(text == token.text or abs(logprob - token.logprob) <= SAME_LOGPROB
               for text, logprob in token.top):
        logprobs.append(token.logprob)
    if len(logprobs) < 2:
        return None
    first, second = sorted(logprobs, reverse=True)[:2]
    return math.exp(first) - math.exp(second)


def answer_margin(tokens: Sequence[Token], span: tuple[int, int] | None
                  ) -> tuple[float | None, int]:
    """The mean token margin over the tokens that spell the answer at `span` (character
    offsets in the tokens' joined text), and how many tokens had one."""
    if span is None:
        return None, 0
    margins = [m for token in answer_tokens(tokens, span)
               if (m := token_margin(token)) is not None]
    if not margins:
        return None, 0
    return sum(margins) / len(margins), len(margins)


def answer_tokens(tokens: Sequence[Token], span: tuple[int, int]) -> list[Token]:
    """The tokens whose text overlaps the character span [start, end)."""
    start, end = span
    found: list[Token] = []
    position = 0
    for token in tokens:
        after = position + len(token.text)
        if position < end and after > start:
            found.append(token)
        position = after
    return found


def first_token(branch: Node, probe: Node | None) -> Token | None:
    """The branch's first token, rebuilt from its meta and the probe's distribution (None for
    a node that is not a branch)."""
    text = branch.meta.get(FIRST_TOKEN)
    if not isinstance(text, str):
        return None
    logprob = float(branch.meta.get(FIRST_LOGPROB, 0.0))
    seen = probe.tokens[0] if probe is not None and probe.tokens else None
    if seen is None:
        return Token(id=-1, text=text, logprob=logprob)
    return Token(id=seen.id if seen.text == text else -1, text=text, logprob=logprob,
                 top=list(seen.top), entropy=seen.entropy, self_certainty=seen.self_certainty)


def branch_tokens(branch: Node, probe: Node | None) -> list[Token]:
    """The tokens that spell the branch's text: its first token, then what it generated."""
    first = first_token(branch, probe)
    return ([first] if first is not None else []) + list(branch.tokens)


def _rank(branch: Node) -> int:
    return int(branch.meta.get(FIRST_RANK, 0))


def _no_margin_summary(branches: Sequence[Node]) -> str:
    whys: dict[str, int] = {}
    for branch in branches:
        why = str(branch.meta.get(NO_MARGIN, "no answer"))
        whys[why] = whys.get(why, 0) + 1
    return ", ".join(f"{count} {why}" for why, count in whys.items())


def _join(reason: str, note: str) -> str:
    return f"{reason}; {note}" if note and reason else reason or note


# -- the views ---------------------------------------------------------------------------------
def with_first_tokens(trace: Trace) -> Trace:
    """A copy of the trace for drawing, each branch's first token put back in front of its
    tokens: the panels shade it and the divergence tree forks at it. (Stored traces keep
    only generated tokens on nodes.)"""
    nodes = list(trace.nodes)
    drawn = copy.copy(trace)
    drawn.nodes = [replace(n, tokens=branch_tokens(n, _parent(nodes, n)))
                   if n.kind == NodeKind.CHAIN and FIRST_TOKEN in n.meta else n for n in nodes]
    return drawn


def _parent(nodes: Sequence[Node], node: Node) -> Node | None:
    return nodes[node.parent] if node.parent is not None and node.parent < len(nodes) else None


def _is_branched(trace: Trace) -> bool:
    return any(FIRST_TOKEN in n.meta for n in list(trace.nodes))


class BranchesView(CandidatesView):
    """The candidates table for cot-decoding: each branch's first token and its probability,
    its answer and margin, and the decision."""

    name = "cot-branches"
    summary = "Each branch's first token, answer and margin, and which one was kept."
    order = 21

    def applies(self, trace: Trace) -> bool:
        return _is_branched(trace)

    def describe(self, trace: Trace, canvas: Canvas) -> Sequence[Block]:
        rows = self.rows(trace, canvas)
        if not rows:
            return [Heading("Branches"), Caption("No branches yet.")]
        how = ("the highest margin is kept" if trace.params.get("aggregate", "max") == "max"
               else "the answer whose branches' margins add up highest is kept")
        blocks: list[Block] = [
            Heading("Branches"),
            Caption("One greedy branch from each of the most likely first tokens. Margin: the "
                    "mean of p(top1) − p(top2) over the tokens of the branch's answer; " + how
                    + "."),
            Table(rows)]
        if sums := trace.meta.get(MARGIN_SUMS):
            blocks.append(Table([{"answer": answer, "summed margin": round(float(total), 3)}
                                 for answer, total in sums.items()]))
        return blocks

    def rows(self, trace: Trace, canvas: Canvas) -> list[dict[str, object]]:
        rows = super().rows(trace, canvas)
        result = []
        for node, row in zip(trace.solutions(), rows, strict=True):
            first = node.meta.get(FIRST_TOKEN)
            logprob = node.meta.get(FIRST_LOGPROB)
            drawn: dict[str, object] = {
                "candidate": row.pop("candidate"),
                "first token": repr(first) if isinstance(first, str) else "—",
                "p(first)": round(math.exp(logprob), 3) if isinstance(logprob, float) else None}
            for key, value in row.items():
                if key == "decision" and MARGIN not in row:  # the column before any margin
                    drawn[MARGIN] = None
                drawn[key] = value
            result.append(drawn)
        return result

    def why_parts(self, node: Node, trace: Trace) -> list[str]:
        parts = super().why_parts(node, trace)
        if node.meta.get(NO_MARGIN) and node.answer is not None:
            parts.insert(0, f"no margin: {node.meta[NO_MARGIN]}")
        if ANSWER_TOKENS in node.meta:
            parts.insert(0, f"margin over {node.meta[ANSWER_TOKENS]} answer token"
                            f"{'s' if node.meta[ANSWER_TOKENS] != 1 else ''}")
        return parts


class BranchChainsView(ChainsView):
    """The chains view for cot-decoding: each branch drawn with its first token (shaded by
    its probability), so the divergence tree parts at the first token."""

    name = "cot-chains"
    summary = "One panel per branch, its first token included, and where the branches part."
    order = 91

    def applies(self, trace: Trace) -> bool:
        return _is_branched(trace)

    def describe(self, trace: Trace, canvas: Canvas) -> Sequence[Block]:
        if canvas.live:  # the live panels draw text only; no copy every second
            return super().describe(trace, canvas)
        return super().describe(with_first_tokens(trace), canvas)

    def caption_parts(self, node: Node) -> list[str]:
        parts = super().caption_parts(node)
        if FIRST_RANK in node.meta:
            parts.insert(0, f"first token #{node.meta[FIRST_RANK]}")
        return parts
