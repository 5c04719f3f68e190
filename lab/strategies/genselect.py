"""`genselect`: sample N candidate solutions, then one model call reads them all, numbered,
and names the best ("The best solution is #k"); the answer is candidate k's (optillm's
genselect plugin, generative selection).

1. N chains, sampled like self-consistency's, in one batched call; their answers are tallied
   (the votes view), since the vote is what selection is measured against and what it falls
   back to.
2. The candidates the selector reads: the chains with an answer (and not cut at their token
   cap, unless `cut_votes`), numbered #1..#m in trace order. None: no answer. One, or all
   with equivalent answers: nothing to select, so no selection call (the vote says the same).
3. One selection call (the same model, greedy) with the problem and the m solutions, asking
   it to end with "The best solution is #k." With `reason_first` off, the reply is started
   with "The best solution is #" for it, so it names a number at once.
4. The last "best solution is #k" in the reply, for 1 <= k <= m, picks candidate k. A reply
   that names none (or a number out of range) falls back to the majority vote of the chains,
   ties broken by `scorer`, and the reason says so.

Compute: the selection call is a sampling call like any other (its generated tokens count in
`generated_tokens` under "verification", its prompt in the prompt tokens): it writes text,
not the one-token verdict of a model scorer (`Compute.verdict_tokens`). Context: the
selection prompt holds all N candidates, so a sequence may need the prompt, N x max_tokens
and the reply (`sequence_tokens`, the context check); a run that cannot fit is refused
before it samples.

Trace: PROMPT -> CHAIN x N (meta: the number the selector saw them under) and a
VERIFICATION node under the prompt holding the selector's reply (meta: the prompt it read,
the numbering, the pick or why there was none) -> ANSWER.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lab.engine.base import ChatMessage
from lab.prompts import SYSTEM, task_text
from lab.scorers import SCORERS
from lab.strategies import categories
from lab.strategies.base import Demo, Strategy, sampling
from lab.strategies.context import BudgetExhausted, RunContext, StrategyError
from lab.strategies.params import (
    Param,
    cut_votes_param,
    prompt_param,
    sampling_params,
    scorer_param,
    seed_param,
)
from lab.strategies.voting import cut_votes, finish_vote, record_tally, votes
from lab.tasks.problem import Problem
from lab.trace import Node, NodeKind, NodeStatus, Trace, TraceStatus, TraceView
from lab.views.base import Canvas
from lab.views.blocks import Block, Caption, Code, Heading, Note, Table
from lab.views.candidates import CandidatesView

CUE = "The best solution is #"
PICK = re.compile(r"best\s+solution\s+is\s*(?:solution\s*)?(?:number\s*)?#?\s*(\d+)",
                  re.IGNORECASE)
SELECTION = "selection"  # the selection node's meta: {numbered, picked, why}
NUMBER = "selection_number"  # a candidate's meta: the number the selector saw it under
MOST = 4  # candidates: the selection prompt holds them all
HEADER_TOKENS = 8  # per candidate: "Solution #k:" and the blank lines around it
INSTRUCTION_TOKENS = 96  # the selection prompt's words beyond the problem and solutions


class GenSelect(Strategy):
    name = "genselect"
    category = categories.VERIFY
    order = 94
    views = ("selected-candidates", TraceView.VOTES, TraceView.CHAINS)
    sweep_knob = "n"
    demo = Demo({"n": 4})
    summary = "Sample N chains; the model reads them all, numbered, and names the best one."
    params = (
        Param("n", "int", 4, f"candidates to sample; one call then reads them all (at most "
              f"{MOST}: the selection prompt holds every candidate, and {MOST} chains of 512 "
              "tokens already fill a 2k-token context)", 1, MOST, knob=True),
        Param("select_tokens", "int", 128, "most tokens of the selector's reply", 1, 512),
        Param("reason_first", "bool", True, "let the selector compare the solutions before "
              "it names one (off: its reply starts with \"The best solution is #\")"),
        prompt_param("cot"),
        *sampling_params(temperature=0.7),
        scorer_param("mean-logprob", SCORERS, "breaks ties when the vote stands in for the "
                     "selector"),
        cut_votes_param("be selected and vote"),
        seed_param(),
    )

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        return 1  # the selection sequence holds more than the N chains sampled side by side

    def sequence_tokens(self, params: dict[str, Any]) -> int:
        """The selection call's sequence beyond the solving prompt: every candidate, the
        instructions and the reply (the N chains sampled side by side need less)."""
        n, max_tokens = int(params["n"]), int(params["max_tokens"])
        if n < 2:
            return max_tokens
        return (n * (max_tokens + HEADER_TOKENS) + INSTRUCTION_TOKENS
                + int(params["select_tokens"]))

    def chain_tokens(self, params: dict[str, Any]) -> int:
        """A chain, its verdict if a tie is scored, and at most the whole selection reply."""
        verdicts = super().chain_tokens(params) - self.sequence_tokens(params)
        return int(params["max_tokens"]) + verdicts + int(params["select_tokens"])

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        check_context(ctx)
        messages = ctx.solve_messages(p["prompt"])
        root = ctx.add_prompt(messages, style=p["prompt"])
        verdicts = ctx.verdict_cost(p["scorer"])  # a tie in the fallback vote
        # each chain keeps its share of the selection reply, so the budget still pays for it
        reserve = -(-p["select_tokens"] // p["n"]) if p["n"] > 1 else 0
        n = ctx.affordable(p["n"], verdicts + reserve)
        if n < 1:
            raise BudgetExhausted()
        cap = ctx.token_cap(p["max_tokens"], n, verdicts=verdicts + reserve)
        chains = ctx.sample(messages, [root] * n, sampling(p, cap))
        ctx.trace.meta["samples"] = len(chains)
        groups = record_tally(ctx, chains)
        note = f"the token budget afforded {n} of {p['n']} candidates" if n < p["n"] else ""
        candidates = [c for c in chains if votes(c, cut_votes(ctx))]
        if len(groups) < 2:
            why = ("no candidate to select from" if not candidates else
                   "one candidate to select from" if len(candidates) == 1 else
                   f"all {len(candidates)} candidates agree")
            finish_vote(ctx, chains, p["scorer"], note=_join(f"{why}: no selection call", note))
            return
        select(ctx, root, chains, candidates, note)


def check_context(ctx: RunContext) -> None:
    """Refuse a run whose selection prompt cannot fit the model's context: the prompt, N
    candidates of up to max_tokens each, and the reply."""
    p, engine = ctx.params, ctx.engine
    if p["n"] < 2:
        return
    longest = p["max_tokens"]  # a candidate's most tokens (a token budget may cap it)
    if ctx.remaining is not None:
        longest = min(longest, max(1, ctx.remaining // p["n"]))
    asked = selection_messages(ctx.problem, [""] * p["n"], p["reason_first"])
    words = engine.count_tokens(engine.format_prompt(asked))
    need = words + p["n"] * (longest + HEADER_TOKENS) + p["select_tokens"]
    if need > engine.n_ctx:
        raise StrategyError(
            f"genselect's selection prompt holds all {p['n']} candidates: up to {need:,} "
            f"tokens with {longest:,} tokens each and the reply, but the model's context "
            f"holds {engine.n_ctx:,}. Lower n or max_tokens.")


def selection_messages(problem: Problem, solutions: Sequence[str],
                       reason_first: bool = True) -> list[ChatMessage]:
    """The problem and the numbered solutions; the model is to name the best one."""
    numbered = "".join(f"Solution #{k}:\n{text.strip()}\n\n"
                       for k, text in enumerate(solutions, start=1))
    how = ("Compare them briefly, then end with one line" if reason_first
           else "Reply with one line")
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": (
                f"Problem:\n{task_text(problem)}\n\n{numbered}"
                f"Which of these {len(solutions)} solutions is correct? {how}: "
                f'"The best solution is #k." where k is the number of the best solution '
                f"(1 to {len(solutions)}).")}]


def parse_pick(reply: str, count: int) -> tuple[int | None, str]:
    """The candidate number the reply names (its last "best solution is #k"), or None and
    why not."""
    found = PICK.findall(reply)
    if not found:
        return None, 'its reply did not say "The best solution is #k"'
    number = int(found[-1])
    if not 1 <= number <= count:
        return None, f"its reply named #{number}, but there were {count} solutions"
    return number, ""


def select(ctx: RunContext, root: Node, chains: Sequence[Node], candidates: Sequence[Node],
           note: str) -> None:
    """One selection call over the numbered candidates; candidate k's answer, or the vote."""
    p = ctx.params
    for shown, node in enumerate(candidates, start=1):
        ctx.update(node, meta={**node.meta, NUMBER: shown})
    messages = selection_messages(ctx.problem, [c.text for c in candidates], p["reason_first"])
    cue = "" if p["reason_first"] else CUE
    numbered = [c.id for c in candidates]
    try:
        cap = ctx.token_cap(p["select_tokens"])
    except BudgetExhausted:
        fallback(ctx, chains, None, "no tokens were left for the selection", note)
        return
    [reply] = ctx.sample(messages, [root], sampling(p, cap, temperature=0.0),
                         kind=NodeKind.VERIFICATION, prefixes=[cue], extract=False,
                         meta={"prompt": messages[-1]["content"]})
    text = cue + reply.text
    number, why = parse_pick(text, len(candidates))
    ctx.update(reply, text=text, meta={**reply.meta, SELECTION: {
        "numbered": numbered, "picked": number, "why": why}})
    if number is None:
        fallback(ctx, chains, reply, f"the selector named no solution ({why})", note)
        return
    chosen = candidates[number - 1]
    ctx.update(chosen, status=NodeStatus.KEPT)
    ctx.update(reply, status=NodeStatus.ACCEPTED)
    reason = (f"the selector named #{number} of {len(candidates)}: "
              f"{_quote(text, number)}; {vote_words(ctx, chosen)}")
    ctx.finish(chosen.answer, _join(reason, note), chosen)


def fallback(ctx: RunContext, chains: Sequence[Node], reply: Node | None, why: str,
             note: str) -> None:
    """The majority vote stands in for the selector."""
    if reply is not None:
        ctx.update(reply, status=NodeStatus.REJECTED)
    finish_vote(ctx, chains, ctx.params["scorer"],
                note=_join(f"{why}: the majority vote instead", note))


def vote_words(ctx: RunContext, chosen: Node) -> str:
    """What the vote of the same chains said, beside the selector's pick."""
    ranked = sorted(ctx.trace.votes.items(), key=lambda kv: -kv[1])
    if not ranked:
        return "no chain voted"
    total = sum(weight for _, weight in ranked)
    leader, most = ranked[0]
    tied = [answer for answer, weight in ranked if weight == most]
    group = chosen.meta.get("group")
    if len(tied) > 1:
        return f"the vote was tied ({', '.join(tied)}, {most:g} of {total:g} each)"
    if group == leader:
        return f"the majority answer too ({most:g} of {total:g} votes)"
    return f"a majority vote would have picked {leader} ({most:g} of {total:g} votes)"


def _quote(text: str, number: int) -> str:
    """The reply's words naming the pick."""
    found = list(PICK.finditer(text))
    return repr(found[-1].group(0)) if found else f"#{number}"


def _join(reason: str, note: str) -> str:
    return f"{reason}; {note}" if note and reason else reason or note


# -- the view ----------------------------------------------------------------------------------
def selection_node(trace: Trace) -> Node | None:
    return next((n for n in list(trace.nodes) if SELECTION in n.meta), None)


class SelectedCandidatesView(CandidatesView):
    """The candidates view for genselect: each candidate with the number the selector saw it
    under, which one it named, and the selector's reply."""

    name = "selected-candidates"
    summary = "Each candidate, its number in the selection prompt, and the selector's reply."
    order = 19

    def applies(self, trace: Trace) -> bool:
        return selection_node(trace) is not None or any(
            NUMBER in n.meta for n in trace.solutions())

    def describe(self, trace: Trace, canvas: Canvas) -> Sequence[Block]:
        rows = self.rows(trace, canvas)
        blocks: list[Block] = [Heading("Candidates")]
        if not rows:
            return [*blocks, Caption("No candidates yet.")]
        for node, row in zip(trace.solutions(), rows, strict=False):  # a live run may grow
            number = node.meta.get(NUMBER)
            row["#"] = f"#{number}" if number is not None else "—"
        blocks.append(Table([{"#": row.pop("#", "—"), **row} for row in rows]))
        reply = selection_node(trace)
        if reply is None:
            if trace.final_answer is not None or trace.reason:
                blocks.append(Caption(f"No selection call: {trace.reason}"))
            return blocks
        info = reply.meta.get(SELECTION) or {}
        picked = info.get("picked")
        blocks += [Heading("The selection"),
                   Caption(f"The model read the {len(info.get('numbered') or [])} numbered "
                           f"candidates and replied ({_plural(len(reply.tokens), 'token')}):"),
                   Code(reply.text, language=None)]
        if picked is None and trace.status != TraceStatus.RUNNING:
            blocks.append(Note(f"The reply named no solution ({info.get('why', '')}): the "
                               "majority vote decided instead.", tone="warning"))
        return blocks

    def why_parts(self, node: Node, trace: Trace) -> list[str]:
        parts = super().why_parts(node, trace)
        reply = selection_node(trace)
        number = node.meta.get(NUMBER)
        if reply is None or number is None:
            if reply is not None and node.text:
                parts.insert(0, "not shown to the selector")
            return parts
        picked = (reply.meta.get(SELECTION) or {}).get("picked")
        parts.insert(0, f"shown to the selector as #{number}; " + (
            "the selector named none" if picked is None else
            "named by the selector" if picked == number else f"the selector named #{picked}"))
        return parts


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"
