"""`budget-forcing`: thinking longer on purpose (sequential scaling, "s1" budget forcing).

One chain of thought with a thinking budget in tokens, a minimum and a maximum. While the
chain is shorter than the minimum, an end of answer is suppressed: when the model ends its
turn (or a stop string ends it), or starts its answer line ("The answer is", "Answer:",
\\boxed{, ####), the lab cuts the chain there, appends "Wait," and lets the model go on, so
it re-checks its work. At the maximum, the lab appends the answer cue ("The answer is") and
the model gives its answer on one line of at most `answer_tokens` tokens (a chain that
reached the maximum inside its own answer line finishes that line instead); a chain that
ends on its own past the minimum without an answer line gets the cue too. If the cue draws
no answer, the last one the chain stated counts. `max_waits` bounds the forced Waits (a
model that only ever stops would otherwise never get past the minimum).

Each continuation is one engine call on the prompt plus everything written so far
(`continue_prefixes`): the engine finds that prefix in its KV cache, so only the appended
words are decoded again. The minimum is the sweep knob: a sweep over it draws the
sequential-scaling curve beside the parallel one of self-consistency.

Trace: PROMPT -> CHAIN per segment, each the child of the one before (meta: segment,
thinking_tokens so far, how it ended, the text `suppressed` and the text `forced` after it;
the forced words end the segment's text, so the chains view shows where a Wait was forced)
-> ANSWER. Every generated token stays on its segment's node, suppressed ones included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lab.engine.base import ChatMessage, Token
from lab.strategies.base import Demo, Strategy, sampling
from lab.strategies.categories import Category
from lab.strategies.context import BudgetExhausted, RunContext
from lab.strategies.params import (
    Param,
    max_tokens_param,
    seed_param,
    temperature_param,
    top_p_param,
)
from lab.tasks.extraction import extract_answer
from lab.trace import Node, Trace
from lab.views.chains import ChainsView

LONGER = Category(
    "Think longer on purpose",
    "Control how long one chain thinks. While it is shorter than a minimum number of "
    "tokens, the lab replaces each attempt to answer with \"Wait,\" so the model re-checks "
    "its work; at a maximum, the lab cuts the thinking and asks for the answer (budget "
    "forcing, s1).",
    "One chain, as long as the budget says. Each continuation reuses the cached prefix, so "
    "only the new tokens are decoded.",
    "When a second look finds mistakes; a small model may just repeat itself. Accuracy "
    "against the minimum is the sequential scaling curve, beside the parallel one of "
    "self-consistency.",
    how=(
        "Sequential scaling: one chain made longer, instead of more chains. Below `min_tokens` "
        'an end of turn or an answer line is cut and "Wait," appended; at `max_tokens` the '
        "answer cue is appended and the answer read. Each continuation reuses the cached "
        "prefix. Raising `min_tokens` on the Scaling page draws the sequential curve beside "
        "self-consistency's parallel one at equal tokens."),
)

WAIT = "Wait,"
CUE = "The answer is"
FORCED_TOKENS = 4  # tokens a forced "Wait," or cue may take, for the context check
FORCED = "forced"  # a segment's meta key: the words forced after it (read by ForcedChainsView)
TAIL_CHARS = 48  # of a segment's text searched for an answer line after each token
ANSWER_LINE = re.compile(r"\b(?:the\s+)?(?:final\s+)?answer\s*(?:is\b|:)|\\boxed\s*\{|####",
                         re.IGNORECASE)
OPEN_CUE = re.compile(r"\banswer\s*(?:is|:)\s*$", re.IGNORECASE)  # an answer line to finish
ANSWERED = ("boxed", "hash", "answer-is")  # extraction rules that mean "it gave its answer"


@dataclass
class Budget:
    """The run's thinking budget in generated tokens, and the Waits forced so far."""

    minimum: int
    maximum: int
    max_waits: int
    thought: int = 0  # thinking tokens generated so far
    forced: int = 0  # Waits forced so far

    @property
    def may_wait(self) -> bool:
        return self.forced < self.max_waits


class BudgetForcing(Strategy):
    name = "budget-forcing"
    category = LONGER
    order = 120
    views = ("forced-chains",)
    sweep_knob = "min_tokens"
    demo = Demo({"min_tokens": 256})
    summary = ("Think longer on purpose: an early answer becomes \"Wait,\" until a minimum of "
               "tokens; at the maximum, answer.")
    params = (
        Param("min_tokens", "int", 256, "thinking tokens before an answer is let through: an "
              "earlier end or answer line becomes \"Wait,\" (at most max_tokens)", 0, 4096,
              knob=True),
        max_tokens_param(512, "thinking tokens; there the lab appends the answer cue"),
        Param("max_waits", "int", 8, "most \"Wait,\" the lab forces (then the chain may end)",
              0, 64),
        Param("answer_tokens", "int", 32, "most tokens of the answer after the cue", 1, 256),
        temperature_param(0.0),
        top_p_param(),
        seed_param(),
    )

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        return 1

    def sequence_tokens(self, params: dict[str, Any]) -> int:
        forced = FORCED_TOKENS * (params["max_waits"] + 1)
        return params["max_tokens"] + params["answer_tokens"] + forced

    def solve(self, ctx: RunContext) -> None:
        messages = ctx.solve_messages("cot")
        root = ctx.add_prompt(messages, style="cot")
        budget = thinking_budget(ctx)
        last, written, ended = think(ctx, messages, root, budget)
        ctx.trace.meta.update({"thinking_tokens": budget.thought, "min_tokens": budget.minimum,
                               "max_tokens": budget.maximum, "waits": budget.forced})
        extraction = extract_answer(last.text)
        if ended != "maximum" and extraction.rule in ANSWERED:
            ctx.update(last, answer=extraction.answer, answer_span=extraction.span)
            ctx.finish(extraction.answer, f"answered on its own {describe(budget)}", last)
            return
        answer_at_cue(ctx, messages, last, written, budget, ended)


def thinking_budget(ctx: RunContext) -> Budget:
    """The minimum and maximum thinking tokens; a run budget keeps room for the answer."""
    p = ctx.params
    maximum = p["max_tokens"]
    remaining = ctx.remaining
    if remaining is not None:
        maximum = max(1, min(maximum, remaining - min(p["answer_tokens"], remaining // 2)))
    return Budget(min(p["min_tokens"], maximum), maximum, p["max_waits"])


# -- thinking -----------------------------------------------------------------------------------
def think(ctx: RunContext, messages: list[ChatMessage], root: Node,
          budget: Budget) -> tuple[Node, str, str]:
    """Segments until the chain may end: (the last segment, the text before it, how it
    ended: "end of turn" (past the minimum, or out of Waits), "maximum" or "budget")."""
    written, parent = "", root
    for number in range(1, budget.max_waits + 2):
        node = segment(ctx, messages, parent, written, budget, number)
        budget.thought += len(node.tokens)
        ended = how_it_ended(node, budget)
        if ended not in ("wait: end of turn", "wait: answer line"):
            ctx.update(node, meta={**node.meta, "thinking_tokens": budget.thought,
                                   "ended": ended})
            return node, written, ended
        force_wait(ctx, node, budget, ended.removeprefix("wait: "))
        written, parent = written + node.text, node
    raise AssertionError("a Wait was forced past max_waits")  # may_wait prevents it


def segment(ctx: RunContext, messages: list[ChatMessage], parent: Node, written: str,
            budget: Budget, number: int) -> Node:
    """One continuation of the chain (prompt + `written`), up to the maximum; it stops as
    soon as it starts an answer line while the chain is shorter than the minimum."""
    cap = ctx.token_cap(budget.maximum - budget.thought)
    before = budget.thought

    def suppress(node: Node, token: Token) -> bool:
        early = before + len(node.tokens) < budget.minimum and budget.may_wait
        return early and ANSWER_LINE.search(node.text[-TAIL_CHARS:]) is not None

    [node] = ctx.sample(messages, [parent], sampling(ctx.params, cap), prefixes=[written],
                        on_token=suppress, meta={"segment": number}, extract=False)
    return node


def how_it_ended(node: Node, budget: Budget) -> str:
    """"wait: ..." when a Wait is to be forced; else why the thinking is over."""
    short = budget.thought < budget.minimum and budget.may_wait
    if node.finish_reason == "stopped":
        return "wait: answer line"
    if node.finish_reason == "length":
        return "maximum" if budget.thought >= budget.maximum else "budget"
    if short:
        return "wait: end of turn"
    return "end of turn"


def force_wait(ctx: RunContext, node: Node, budget: Budget, suppressed: str) -> None:
    """Cut the segment before its answer line (if it started one) and end it with "Wait,"."""
    kept = kept_text(node) if suppressed == "answer line" else node.text
    forced = joined(kept, WAIT)
    budget.forced += 1
    ctx.update(node, text=kept + forced, meta={
        **node.meta, "thinking_tokens": budget.thought, "ended": suppressed,
        "suppressed": node.text[len(kept):] if suppressed == "answer line" else "end of turn",
        FORCED: forced, "kept_chars": len(kept)})


def kept_text(node: Node) -> str:
    """The segment's text before the token where its answer line starts."""
    match = ANSWER_LINE.search(node.text)
    if match is None:
        return node.text
    cut, position = match.start(), 0
    if "".join(t.text for t in node.tokens).startswith(node.text):
        for token in node.tokens:  # cut at the start of the token holding the answer line
            if position + len(token.text) > match.start():
                cut = position
                break
            position += len(token.text)
    return node.text[:cut]


def joined(text: str, words: str) -> str:
    """What to append to `text` so that `words` start a line of their own."""
    return words if not text or text.endswith("\n") else "\n" + words


# -- the answer ---------------------------------------------------------------------------------
def answer_at_cue(ctx: RunContext, messages: list[ChatMessage], last: Node, written: str,
                  budget: Budget, ended: str) -> None:
    """Append the answer cue to the chain (unless it ends with one already) and let the
    model give its answer on one line."""
    cue = "" if OPEN_CUE.search(last.text) else joined(last.text, CUE)
    if cue:
        ctx.update(last, text=last.text + cue, meta={**last.meta, "forced": cue,
                                                      "kept_chars": len(last.text)})
    try:
        cap = ctx.token_cap(ctx.params["answer_tokens"])
        [node] = ctx.sample(messages, [last], sampling(ctx.params, cap),
                            prefixes=[written + last.text], on_token=one_line,
                            meta={"segment": last.meta["segment"] + 1, "answer": True},
                            extract=False)
    except BudgetExhausted:
        ctx.finish(None, f"the token budget was spent before the answer {describe(budget)}")
        return
    answer, span = cue_answer(node.text)
    why = {"maximum": "at the maximum", "budget": "when the run's budget ran out",
           "end of turn": "after it ended without an answer line"}.get(ended, "")
    if answer is not None:
        ctx.update(node, answer=answer, answer_span=span)
        ctx.finish(answer, f"answered at the cue {why} {describe(budget)}", node)
        return
    stated = extract_answer(last.text)  # the cue gave nothing: the answer it last stated
    if stated.rule in ANSWERED:
        ctx.update(last, answer=stated.answer, answer_span=stated.span)
        ctx.finish(stated.answer, f"no answer at the cue {why}: the one it last stated "
                   f"{describe(budget)}", last)
        return
    ctx.finish(None, f"no answer at the cue {why} {describe(budget)}")


def one_line(node: Node, token: Token) -> bool:
    """Stop the answer once a line with something on it has ended."""
    return "\n" in node.text.lstrip()


def cue_answer(text: str) -> tuple[str | None, tuple[int, int] | None]:
    """The answer the model gave after the cue (its first line) and where it is in `text`."""
    line = text.strip().split("\n")[0].strip()
    if not line:
        return None, None
    extraction = extract_answer(f"{CUE} {line}")
    if extraction.answer is None or extraction.span is None:
        return None, None
    start = text.find(line) + extraction.span[0] - len(CUE) - 1
    return extraction.answer, (start, start + len(extraction.answer))


def describe(budget: Budget) -> str:
    waits = f"{budget.forced} Wait{'' if budget.forced == 1 else 's'} forced"
    return (f"({budget.thought:,} thinking tokens, minimum {budget.minimum:,}, maximum "
            f"{budget.maximum:,}; {waits})")


class ForcedChainsView(ChainsView):
    """The chains view for budget forcing: each segment's caption ends with the words forced
    after it."""

    name = "forced-chains"
    summary = "The chain in segments, each captioned with the words forced after it."

    def applies(self, trace: Trace) -> bool:
        return any(FORCED in n.meta for n in trace.nodes)

    def caption_parts(self, node: Node) -> list[str]:
        parts = super().caption_parts(node)
        if forced := node.meta.get(FORCED):
            parts.append(f"then forced: {forced.strip()}")
        return parts

