"""`adaptive-branch`: one greedy chain that forks only where the model was unsure
(entropy-triggered branching: optillm's entropy decoding, ThinkBooster's uncertainty
strategies).

1. One greedy chain (temperature 0), each token with its `top_logprobs` alternatives and the
   entropy of the next-token distribution it was chosen from: `Token.entropy`, in nats, from
   the model's full distribution (the llama.cpp engine always reports it); where an engine
   reports none (a model server), it is computed from the top-k log-probs, the rest of the
   probability lumped into one outcome: a lower bound (`trace.meta["entropy_from"]` says
   which).
2. The forks: the `max_forks` tokens of highest entropy above `threshold`, among those before
   the end of the greedy chain's answer (a fork after the answer is written cannot change
   it) and with room left under `max_tokens`.
3. One batched call continues every fork greedily from the greedy chain's exact prefix
   before the fork, followed by one of the `branch` next most likely tokens instead of the
   greedy one (`continue_prefixes`: the prompt is decoded once, each prefix found in the
   cache). Each chain, forked or not, is at most `max_tokens` long, its prefix included.
4. The greedy chain and every forked chain vote (lab.strategies.voting); ties are broken like
   self-consistency's, by the `scorer` of each chain's whole path.

A forked chain's prefix and its fork token were fed to the engine, not generated: its node
holds only the tokens it generated (every generated token is on exactly one node), its text
is the whole solution (prefix, fork token, continuation) so its answer is found in what it
says as a whole, and its meta `fork` says where it forked: the token position, the fork
token and its log-prob, the greedy token it replaced, that position's entropy and the greedy
chain's node id. `ForkedChainsView` rebuilds each forked chain's whole token path from that,
so the chain panels shade the prefix and the divergence tree parts at the forks.

Trace: PROMPT -> CHAIN (greedy; meta: greedy, forked_at) and one CHAIN per fork
alternative (meta: fork) -> ANSWER.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from lab.engine.base import Token
from lab.scorers import SCORERS, Candidate
from lab.strategies.base import Demo, Strategy, sampling
from lab.strategies.categories import Category
from lab.strategies.context import BudgetExhausted, RunCancelled, RunContext
from lab.strategies.params import (
    CHAIN_TOKENS,
    Param,
    cut_votes_param,
    max_tokens_param,
    prompt_param,
    scorer_param,
)
from lab.strategies.voting import TIE_EPSILON, cut_votes, finish_vote, tally
from lab.trace import CUT, CUT_FINISH, Node, NodeKind, NodeStatus, Trace, TraceView
from lab.views.base import Canvas
from lab.views.blocks import Block, Caption, Heading, Table
from lab.views.chains import ChainsView

UNSURE = Category(
    "Branch where unsure",
    "Decode one greedy chain and note how unsure the model was at each token (the entropy "
    "of its next-token distribution). Where it was most unsure, go back and continue from "
    "the same prefix with its next most likely tokens instead; the greedy chain and its "
    "forks vote.",
    "One greedy chain, plus `branch` continuations at each of at most `max_forks` forks. "
    "A fork reuses the cached prefix and generates only the rest of its chain, so a late "
    "fork is cheap; a confident chain does not fork at all.",
    "When a wrong answer hinges on a few tokens the model hesitated over; a model that is "
    "confidently wrong never forks. Whether it beats self-consistency at equal tokens is what "
    "the Scaling page measures: sweep `max_forks` beside self-consistency's `n` and read "
    "accuracy against generated tokens.",
    order=35,
    how=(
        "Entropy-triggered branching (optillm's entropy decoding, ThinkBooster's uncertainty "
        "strategies). Each token of the greedy chain comes with the entropy, in nats, of the "
        "distribution it was chosen from (a model server that reports only the top "
        "log-probabilities gives a lower bound computed from them). The `max_forks` tokens of "
        "highest entropy above `threshold`, before the end of the chain's answer, become "
        "forks. One batched call continues the prefix before each fork, followed by each of "
        "the `branch` next most likely tokens, greedily; every chain is at most `max_tokens` "
        "long. All chains vote, ties broken by the scorer. The chains view's *Where the "
        "chains part ways* shows each fork parting from the greedy chain, and the Forks "
        "table what was replaced where. Whether branching where unsure spends tokens better "
        "than sampling whole chains is the question: on the Scaling page, sweep `max_forks` "
        "beside self-consistency's `n` at equal generated tokens."),
)

FORK = "fork"  # a forked chain's meta: {at, token, logprob, replaces, entropy, from}
GREEDY = "greedy"  # the greedy chain's meta: True
FORKED_AT = "forked_at"  # the greedy chain's meta: the token positions it forked at
GENERATED = "generated"  # meta of a drawn copy of a forked chain: tokens it generated
ENTROPY_FROM = "entropy_from"  # trace.meta: where the entropies came from
FULL, TOP_K = "full distribution", "top-k log-probs (a lower bound)"
ALTERNATIVES = 8  # alternatives asked per greedy token (at least branch + 1)


@dataclass(frozen=True)
class Fork:
    """Where the greedy chain forks: its token position, that token's entropy, the greedy
    token, and the alternatives (text, log-prob) continued instead."""

    at: int
    entropy: float
    replaces: str
    alternatives: tuple[tuple[str, float], ...]


class AdaptiveBranch(Strategy):
    name = "adaptive-branch"
    category = UNSURE
    order = 92
    views = (TraceView.VOTES, "forked-chains")
    sweep_knob = "max_forks"
    demo = Demo({"max_forks": 3})
    summary = ("One greedy chain that forks where the model is unsure (high entropy); the "
               "chains vote. Scaling compares it with self-consistency at equal tokens.")
    params = (
        Param("max_forks", "int", 3, "most tokens to fork at: those of highest entropy above "
              "the threshold (0: the greedy chain alone)", 0, 16, knob=True),
        Param("branch", "int", 2, "next most likely tokens continued at each fork, instead "
              "of the greedy one", 1, 8, knob=True),
        # Greedy chains on arith (lab/engine entropies, max_tokens 160): the default
        # Qwen2.5-Coder-0.5B is sure of most tokens (median 0.01 nats, 90th percentile 0.88,
        # 95th 1.24; 7.6% of 458 tokens above 1.0, 2.4% above 1.5: 1 to 5 a chain), SmolLM2-135M
        # much less (median 0.74, 90th percentile 2.37; 38% of 885 tokens above 1.0). At 1.0
        # the default model has about 12 candidate forks in 160 tokens, so a sweep of
        # max_forks up to 8 still grows; the highest-entropy ones are taken first.
        Param("threshold", "float", 1.0, "entropy (nats) of the next-token distribution a "
              "token must pass to fork (1.0: as unsure as between ~3 equally likely tokens; "
              "the 0.5B Qwen passes it at ~8% of its tokens)", 0.0, 12.0),
        prompt_param("cot"),
        max_tokens_param(CHAIN_TOKENS, "tokens per chain, a fork's prefix included"),
        scorer_param("mean-logprob", SCORERS, "breaks ties between answers"),
        cut_votes_param(),
    )

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        return max(1, int(params["max_forks"]) * int(params["branch"]))

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = ctx.solve_messages(p["prompt"])
        root = ctx.add_prompt(messages, style=p["prompt"])
        verdicts = ctx.verdict_cost(p["scorer"])  # a tie may score any chain
        cap = ctx.token_cap(p["max_tokens"], verdicts=verdicts)
        asked = max(ALTERNATIVES, p["branch"] + 1)
        [greedy] = ctx.sample(messages, [root], sampling(p, cap, temperature=0.0,
                                                         top_logprobs=asked),
                              meta={GREEDY: True})
        entropies = [token_entropy(t) for t in greedy.tokens]
        above = [i for i, h in enumerate(entropies) if h is not None and h > p["threshold"]]
        ctx.trace.meta.update({
            ENTROPY_FROM: FULL if all(t.entropy is not None for t in greedy.tokens) else TOP_K,
            "above_threshold": len(above), "threshold": p["threshold"]})
        forks = plan_forks(greedy, entropies, p["threshold"], p["max_forks"], p["branch"], cap)
        chains, note = [greedy], ""
        if forks:
            try:
                forked, note = fork(ctx, messages, root, greedy, forks, cap, verdicts)
                chains += forked
            except BudgetExhausted:
                note = "the token budget was spent on the greedy chain: no fork could start"
        ctx.trace.meta["forks"] = sorted({c.meta[FORK]["at"] for c in chains[1:]})
        ctx.update(greedy, meta={**greedy.meta, FORKED_AT: ctx.trace.meta["forks"]})
        note = _join(describe_forks(p, len(above), len(forks), chains), note)
        break_ties(ctx, chains)
        finish_vote(ctx, chains, p["scorer"], note=note)


# -- entropy and the forks ---------------------------------------------------------------------
def token_entropy(token: Token) -> float | None:
    """The entropy (nats) of the distribution the token was chosen from: the engine's, else
    one computed from its top-k alternatives with the rest of the probability as one outcome
    (a lower bound); None when the engine reported neither."""
    if token.entropy is not None:
        return float(token.entropy)
    if not token.top:
        return None
    probabilities = [math.exp(min(0.0, lp)) for _, lp in token.top]
    rest = max(0.0, 1.0 - sum(probabilities))
    return -sum(p * math.log(p) for p in [*probabilities, rest] if p > 0)


def usable(text: str, replaces: str, seen: set[str]) -> bool:
    """May `text` be fed as the fork token? Not empty (a special token), not a partial
    character, not the greedy token again, not one already taken."""
    return bool(text) and "\ufffd" not in text and text != replaces and text not in seen


def alternatives(token: Token, branch: int) -> tuple[tuple[str, float], ...]:
    """The `branch` most likely tokens other than the greedy one, usable as a prefix."""
    found: list[tuple[str, float]] = []
    seen: set[str] = set()
    for text, logprob in sorted(token.top, key=lambda alt: -alt[1]):
        if usable(text, token.text, seen):
            seen.add(text)
            found.append((text, logprob))
    return tuple(found[:branch])


def answer_end(greedy: Node) -> int:
    """The first token position after the greedy chain's answer (all of them without one, or
    when the chain was cut at its token cap: its last number is no conclusion): a fork at
    or after it cannot change the answer."""
    if greedy.answer_span is None or greedy.cut:
        return len(greedy.tokens)
    position = 0
    for index, token in enumerate(greedy.tokens):
        if position >= greedy.answer_span[1]:
            return index
        position += len(token.text)
    return len(greedy.tokens)


def plan_forks(greedy: Node, entropies: Sequence[float | None], threshold: float,
               max_forks: int, branch: int, cap: int) -> list[Fork]:
    """The forks, in token order: the `max_forks` positions of highest entropy above
    `threshold` before the end of the answer that have alternatives and room to continue."""
    candidates = []
    for at in range(min(answer_end(greedy), len(entropies))):
        entropy = entropies[at]
        if entropy is None or entropy <= threshold or cap - at - 1 < 1:
            continue
        token = greedy.tokens[at]
        alts = alternatives(token, branch)
        if alts:
            candidates.append(Fork(at, entropy, token.text, alts))
    chosen = sorted(candidates, key=lambda f: (-f.entropy, f.at))[:max_forks]
    return sorted(chosen, key=lambda f: f.at)


def prefix_text(greedy: Node, at: int) -> str:
    """The greedy chain's text before token `at`, exactly as its tokens spell it."""
    return "".join(t.text for t in greedy.tokens[:at])


def fork(ctx: RunContext, messages: Any, root: Node, greedy: Node, forks: Sequence[Fork],
         cap: int, verdicts: int) -> tuple[list[Node], str]:
    """One engine call continuing every fork alternative greedily; each forked chain is cut
    where the whole chain reaches `cap` tokens. When the budget affords fewer, the forks of
    lowest entropy are dropped first."""
    wanted = [(f, alt) for f in sorted(forks, key=lambda f: -f.entropy) for alt in f.alternatives]
    count = ctx.affordable(len(wanted), verdicts)
    if count < 1:
        raise BudgetExhausted()
    todo = sorted(wanted[:count], key=lambda item: item[0].at)
    rooms = [cap - f.at - 1 for f, _ in todo]
    call_cap = ctx.token_cap(max(rooms), len(todo), verdicts=verdicts)
    first = len(ctx.trace.nodes)  # the call's nodes take the next ids, in order

    def at_room(node: Node, token: Token) -> bool:
        return len(node.tokens) >= rooms[node.id - first]

    p = ctx.params
    try:
        nodes = ctx.sample(messages, [root] * len(todo),
                           sampling(p, call_cap, temperature=0.0),
                           prefixes=[prefix_text(greedy, f.at) + text for f, (text, _) in todo],
                           on_token=at_room, extract=False)
    except RunCancelled:  # what the forks wrote so far keeps its prefix, then it stops
        for node, (f, alt), room in zip(ctx.trace.nodes[first:], todo, rooms, strict=False):
            label_fork(ctx, node, greedy, f, alt, room)
        raise
    for node, (f, alt), room in zip(nodes, todo, rooms, strict=True):
        label_fork(ctx, node, greedy, f, alt, room)
    note = ""
    if count < len(wanted):
        note = f"the token budget afforded {count} of {len(wanted)} forked chains"
    return nodes, note


def label_fork(ctx: RunContext, node: Node, greedy: Node, f: Fork, alt: tuple[str, float],
               room: int) -> None:
    """Put the prefix and fork token in front of the chain's text, say where it forked,
    count a chain stopped at its room as cut at its token cap, and find its answer."""
    text, logprob = alt
    if node.finish_reason == "stopped" and len(node.tokens) >= room:
        node.finish_reason, node.status = CUT_FINISH, NodeStatus.OPEN
        node.meta[CUT] = True
    node.meta[FORK] = {"at": f.at, "token": text, "logprob": logprob, "replaces": f.replaces,
                       "entropy": f.entropy, "from": greedy.id}
    ctx.update(node, text=prefix_text(greedy, f.at) + text + node.text)
    ctx.extract(node)


def fork_path(trace_nodes: Sequence[Node], node: Node) -> list[Token] | None:
    """A forked chain's whole token path: the greedy prefix, the fork token, what it
    generated (None for a chain that did not fork)."""
    info = node.meta.get(FORK)
    if not isinstance(info, dict):
        return None
    source = int(info.get("from", -1))
    if not 0 <= source < len(trace_nodes):
        return None
    at = int(info["at"])
    token = Token(id=-1, text=str(info["token"]), logprob=float(info["logprob"]))
    return [*trace_nodes[source].tokens[:at], token, *node.tokens]


def break_ties(ctx: RunContext, chains: Sequence[Node]) -> None:
    """Where the vote is tied, score the tied chains by their whole paths (a forked chain's
    prefix included) before `finish_vote` reads the scores."""
    scorer = ctx.params["scorer"]
    groups = tally(chains, ctx.problem.kind, cut_vote=cut_votes(ctx))
    tied = [g for g in groups if groups[0].weight - g.weight <= TIE_EPSILON]
    if len(tied) < 2:
        return
    nodes = list(ctx.trace.nodes)
    for node in (n for g in tied for n in g.members if scorer not in n.scores):
        tokens = fork_path(nodes, node) or node.tokens
        ctx.score(node, scorer, Candidate(node.text, tokens, node.answer))


def describe_forks(params: dict[str, Any], above: int, planned: int,
                   chains: Sequence[Node]) -> str:
    """The reason's words on forking: how many forks, where, what the greedy chain said."""
    threshold = f"{params['threshold']:g} nats"
    if params["max_forks"] == 0:
        return "max_forks is 0: the greedy chain alone"
    forked = chains[1:]
    if not planned:
        return (f"no token before the answer passed {threshold} with an alternative: the "
                "greedy chain alone")
    if not forked:
        return "the greedy chain alone"  # the note says why the planned forks did not run
    positions = sorted({c.meta[FORK]["at"] for c in forked})
    words = (f"{len(forked)} forked chain{'s' if len(forked) != 1 else ''} from "
             f"{len(positions)} fork{'s' if len(positions) != 1 else ''} (tokens "
             f"{', '.join(str(at + 1) for at in positions)}; {above} token"
             f"{'s' if above != 1 else ''} above {threshold})")
    greedy = chains[0]
    said = greedy.answer if greedy.answer is not None else "nothing"
    return f"{words}; the greedy chain said {said}{' (cut at the token cap)' if greedy.cut else ''}"


def _join(reason: str, note: str) -> str:
    return f"{reason}; {note}" if note and reason else reason or note


# -- the view ----------------------------------------------------------------------------------
def with_fork_paths(trace: Trace) -> Trace:
    """A copy of the trace for drawing, each forked chain's prefix and fork token put back in
    front of its tokens: the panels shade the whole chain and the divergence tree parts at the
    forks. (Stored traces keep only generated tokens on nodes.)"""
    nodes = list(trace.nodes)
    drawn = copy.copy(trace)
    drawn.nodes = []
    for node in nodes:
        path = fork_path(nodes, node) if node.kind == NodeKind.CHAIN else None
        if path is None or "".join(t.text for t in path) != node.text:
            drawn.nodes.append(node)
            continue
        drawn.nodes.append(replace(node, tokens=path,
                                   meta={**node.meta, GENERATED: len(node.tokens)}))
    return drawn


def _is_forked(trace: Trace) -> bool:
    return any(GREEDY in n.meta or FORK in n.meta for n in list(trace.nodes))


class ForkedChainsView(ChainsView):
    """The chains view for adaptive-branch: a table of the forks, then each chain whole (a
    forked chain's prefix shaded like the greedy chain's), captioned with where it forked;
    the divergence tree parts at the forks."""

    name = "forked-chains"
    summary = "Where the greedy chain forked and why, each chain whole, and the forks' tree."
    order = 92

    def applies(self, trace: Trace) -> bool:
        return _is_forked(trace)

    def describe(self, trace: Trace, canvas: Canvas) -> Sequence[Block]:
        forks = fork_rows(trace)
        blocks: list[Block] = []
        if forks:
            threshold = trace.meta.get("threshold", trace.params.get("threshold"))
            source = trace.meta.get(ENTROPY_FROM, FULL)
            blocks += [Heading("Forks"), Caption(
                f"Tokens of the greedy chain whose entropy passed {threshold:g} nats "
                f"({source}); each alternative was continued greedily from the same prefix."
                if isinstance(threshold, int | float) else "Where the greedy chain forked."),
                Table(forks)]
        if canvas.live:  # the live panels draw text only; no copy every second
            return [*blocks, *super().describe(trace, canvas)]
        return [*blocks, *super().describe(with_fork_paths(trace), canvas)]

    def caption_parts(self, node: Node) -> list[str]:
        parts = super().caption_parts(node)
        info = node.meta.get(FORK)
        if isinstance(info, dict):
            if GENERATED in node.meta:
                parts[0] += f" ({node.meta[GENERATED]:,} generated after the fork)"
            parts.insert(0, f"forked at token {int(info['at']) + 1}: {info['token']!r} "
                            f"instead of {info['replaces']!r} (entropy "
                            f"{float(info['entropy']):.2f} nats)")
        elif node.meta.get(GREEDY):
            at = node.meta.get(FORKED_AT) or []
            where = (f"forks at token{'s' if len(at) != 1 else ''} "
                     f"{', '.join(str(int(a) + 1) for a in at)}" if at else "no fork")
            parts.insert(0, f"greedy chain; {where}")
        return parts


def fork_rows(trace: Trace) -> list[dict[str, object]]:
    """One row per fork alternative: where, the entropy, what it replaced, its answer."""
    rows: list[dict[str, object]] = []
    for node in list(trace.nodes):
        info = node.meta.get(FORK)
        if node.kind != NodeKind.CHAIN or not isinstance(info, dict):
            continue
        rows.append({
            "token": int(info["at"]) + 1,
            "entropy (nats)": round(float(info["entropy"]), 2),
            "greedy token": repr(info["replaces"]),
            "fork token": repr(info["token"]),
            "p(fork token)": round(math.exp(min(0.0, float(info["logprob"]))), 3),
            "answer": node.answer or "—",
            "decision": "★ chosen" if node.chosen else (
                "voted" if node.meta.get("group") is not None else "no vote"),
        })
    return rows
