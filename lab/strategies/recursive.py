"""`recursive`: a recursive language model that reads a long context through a sandboxed REPL.

The root model never sees the whole context: it gets the question and a description (length,
line count, a short head) and writes one Python code block per turn. The lab runs each block
in a sandbox (lab.sandbox: a separate locked-down process) where the context is the variable
`context`, `llm(prompt)` and `llm_batch(prompts)` call the model on a piece, and
`final(answer)` ends the run; what the code prints (capped) is the root's next user message.
With max_depth 2 or more, `llm(prompt, context=piece)` opens a nested REPL over `piece`, one
level deeper; at the deepest level every call is a plain model call. The parent process
serves every model call, so the token budget and the call limit hold whatever the code does.

Trace: PROMPT (the opening messages) -> CODE (one per turn: the model's reply, with the code,
its output or error, and timings in meta) -> ... -> ANSWER. Each model call is a SUBCALL
child of the CODE node of its turn (meta: prompt, depth); a nested REPL hangs its own PROMPT
and CODE nodes under its SUBCALL. Its view (recursive_view.py) reads it back as turns.
"""

from __future__ import annotations

import re
from typing import Any

from lab.engine.base import ChatMessage, EngineError, Token
from lab.sandbox import LLMRefused, Sandbox, SandboxError, SandboxLimits, TurnResult
from lab.strategies import categories
from lab.strategies.base import Demo, Strategy, sampling
from lab.strategies.context import BudgetExhausted, RunContext, StrategyError
from lab.strategies.params import (
    BUDGET_MAX,
    Param,
    max_tokens_param,
    seed_param,
    temperature_param,
)
from lab.tasks.longctx import attached_context
from lab.tasks.problem import Problem
from lab.trace import Node, NodeKind, NodeStatus, TraceView

HEAD_CHARS = 600  # of the context, shown to the root model
OUTPUT_CHARS = 1500  # of printed output per turn, returned to the root model
PROMPT_KEEP = 20_000  # characters of a sub-call's prompt kept in the trace
MAX_PIECE = 8000  # the largest piece the root is told to pass to llm()
SUB_SYSTEM = "Answer the request about the text exactly and briefly."
# Imported before the model's first block: the 0.5B model copies re.search from the worked
# examples and forgets the import.
PRELUDE = "import re\nimport math\nfrom collections import Counter"
_CODE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
_CLOSED_BLOCK = re.compile(r"```[^\n]*\n.*?```", re.DOTALL)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# node meta keys, read by the conversation view (recursive_view.py): a CODE node's turn, depth,
# code, what it printed or raised and the final() it gave; a SUBCALL's prompt and error
TURN, DEPTH, CODE, OUTPUT, ERROR, FINAL, PROMPT = (
    "turn", "depth", "code", "output", "error", "final", "prompt")
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


class Recursive(Strategy):
    name = "recursive"
    category = categories.RECURSE
    order = 100
    views = (TraceView.CONVERSATION, TraceView.CHAINS)  # the first: recursive_view.py
    # its first problem: solved in one turn (docs/results.md)
    demo = Demo({}, problem_set="longctx-easy")
    summary = "Reads a long context by writing code in a sandboxed REPL that calls the model."
    params = (
        Param("max_depth", "int", 1, "REPL levels: 1 = llm() is a plain model call; more = "
              "llm(prompt, context=piece) opens a nested REPL", 1, 3),
        Param("max_turns", "int", 6, "code blocks the model may write, per REPL", 1, 30),
        Param("max_subcalls", "int", 24, "llm() calls in the whole run", 0, 500),
        Param("token_budget", "int", 6000, "generated tokens for the whole run, model calls "
              "included (a smaller run budget wins)", 1, BUDGET_MAX),
        Param("timeout_s", "float", 5.0, "seconds of code time per turn (model calls not "
              "counted)", 0.1, 60.0),
        max_tokens_param(384, "tokens per code reply"),
        Param("subcall_tokens", "int", 128, "most tokens per llm() answer", 1, 2048),
        temperature_param(0.0),
        seed_param(),
    )

    def solve(self, ctx: RunContext) -> None:
        budget = ctx.params["token_budget"]
        ctx.trace.budget = min(budget, ctx.trace.budget) if ctx.trace.budget else budget
        question, context = split_context(ctx.problem)
        run = _Run(ctx)
        try:
            answer, last, reason = run.repl(question, context, None, 1)
        except SandboxError as exc:
            raise StrategyError(str(exc)) from exc
        finally:
            ctx.trace.meta.update(run.summary())
        if answer is None:
            ctx.finish(None, reason)
            return
        if last is not None:
            ctx.update(last, answer=answer)
        ctx.finish(answer, reason, last)


def split_context(problem: Problem) -> tuple[str, str]:
    """(question, context): a long-context problem's document is its context and its bare
    query the question (the description gives the length); any other problem is its own
    context."""
    document = attached_context(problem)
    if document is not None:
        return str(problem.metadata.get("query") or problem.question), document
    return problem.question, problem.question


class _Run:
    """One recursive run: REPLs (nested ones too) sharing the call count and the budget."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.p = ctx.params
        self.subcalls = 0
        self.turns = 0
        self.deepest = 1
        self.isolation: dict[str, Any] = {}

    def summary(self) -> dict[str, Any]:
        return {"turns": self.turns, "subcalls": self.subcalls, "depth_reached": self.deepest,
                "sandbox": self.isolation}

    # -- one REPL -------------------------------------------------------------------------------
    def repl(self, question: str, context: str, parent: Node | None,
             depth: int) -> tuple[str | None, Node | None, str]:
        """Turns until final() or a limit: (answer or None, the last node, why it ended)."""
        messages = opening_messages(question, context, depth, self.p, self._piece_chars())
        node = self.ctx.add_prompt(messages, parent, depth=depth, context_chars=len(context))
        turn_node = node  # the turn now running: its model calls hang under it

        def on_llm(prompts: list[str], piece: str | None) -> list[str]:
            return self.call(prompts, piece, turn_node, depth)

        limits = SandboxLimits(timeout_s=self.p["timeout_s"], output_chars=OUTPUT_CHARS,
                               cpu_s=int(self.p["timeout_s"] * self.p["max_turns"]) + 10)
        with Sandbox(context, on_llm, limits) as box:
            result: TurnResult | None = None
            for turn in range(1, self.p["max_turns"] + 1):
                stop = self._cannot_continue(messages)
                if stop:
                    return None, node, stop
                node = turn_node = self.reply(messages, node, turn, depth)
                if turn == 1 or (result is not None and result.state_lost):
                    box.run(PRELUDE)  # again in a fresh sandbox
                result = self.execute(box, node)
                self.isolation = self.isolation or dict(box.isolation)
                if result is not None and result.final is not None:
                    return result.final, node, f"final() was called in turn {turn}"
                left = self.p["max_turns"] - turn
                messages = [*messages, {"role": "assistant", "content": node.text},
                            {"role": "user", "content": feedback(result, left)}]
        return None, node, f"no final answer after {self.p['max_turns']} turns"

    def _cannot_continue(self, messages: list[ChatMessage]) -> str | None:
        remaining = self.ctx.remaining
        if remaining is not None and remaining < 1:
            return "the token budget is spent"
        if self._prompt_tokens(messages) + 16 > self.ctx.engine.n_ctx:
            return "the conversation no longer fits the model's context"
        return None

    def reply(self, messages: list[ChatMessage], parent: Node, turn: int, depth: int) -> Node:
        """The model's next code block, as a CODE node (generation stops after the block)."""
        room = self.ctx.engine.n_ctx - self._prompt_tokens(messages)
        cap = self.ctx.token_cap(min(self.p["max_tokens"], room))
        self.turns += 1

        def after_block(node: Node, token: Token) -> bool:
            return _CLOSED_BLOCK.search(node.text) is not None

        [node] = self.ctx.sample(messages, [parent], sampling(self.p, cap), kind=NodeKind.CODE,
                                 on_token=after_block, meta={TURN: turn, DEPTH: depth},
                                 extract=False)
        return node

    def execute(self, box: Sandbox, node: Node) -> TurnResult | None:
        """Run the reply's code block in the sandbox and record what happened on the node."""
        code = extract_code(node.text)
        if code is None:
            self.ctx.update(node, meta={**node.meta, CODE: None, ERROR: "no code block"})
            return None
        result = box.run(code)
        self.ctx.update(node, meta={
            **node.meta, CODE: code, OUTPUT: result.output, ERROR: result.error,
            FINAL: result.final, "timed_out": result.timed_out,
            "state_lost": result.state_lost, "code_s": round(result.code_s, 3),
            "llm_s": round(result.llm_s, 3)})
        return result

    # -- model calls from the code --------------------------------------------------------------
    def call(self, prompts: list[str], piece: str | None, parent: Node, depth: int) -> list[str]:
        if self.subcalls + len(prompts) > self.p["max_subcalls"]:
            raise LLMRefused(f"the run may make at most {self.p['max_subcalls']} llm() calls; "
                             f"{self.subcalls} made")
        answers = []
        for prompt in prompts:
            self.subcalls += 1
            try:
                if piece is not None and depth < self.p["max_depth"]:
                    answers.append(self.nested(prompt, piece, parent, depth + 1))
                else:
                    answers.append(self.leaf(prompt, piece, parent, depth))
            except BudgetExhausted:
                raise LLMRefused("the token budget is spent") from None
        return answers

    def leaf(self, prompt: str, piece: str | None, parent: Node, depth: int) -> str:
        """A plain model call; refused (with a SUBCALL node saying why) when it cannot fit."""
        text = prompt if piece is None else f"{prompt}\n\nText:\n{piece}"
        messages: list[ChatMessage] = [{"role": "system", "content": SUB_SYSTEM},
                                       {"role": "user", "content": text}]
        meta = {PROMPT: _clip(text), DEPTH: depth}
        if self.ctx.remaining is not None and self.ctx.remaining < 1:
            raise LLMRefused("the token budget is spent")
        cap = self.ctx.token_cap(self.p["subcall_tokens"])
        tokens = self._prompt_tokens(messages)
        if tokens + cap > self.ctx.engine.n_ctx:
            error = (f"this prompt has {tokens:,} tokens but the model reads at most "
                     f"{self.ctx.engine.n_ctx - cap:,}: pass a shorter piece")
            self.ctx.add_node(parent, NodeKind.SUBCALL, status=NodeStatus.REJECTED,
                              meta={**meta, ERROR: error})
            raise LLMRefused(error)
        try:
            [node] = self.ctx.sample(messages, [parent], sampling(self.p, cap),
                                     kind=NodeKind.SUBCALL, meta=meta, extract=False)
        except EngineError as exc:
            raise LLMRefused(str(exc)) from exc
        return node.text.strip()

    def nested(self, prompt: str, piece: str, parent: Node, depth: int) -> str:
        """llm(prompt, context=piece) below the deepest level: a REPL of its own over piece."""
        node = self.ctx.add_node(parent, NodeKind.SUBCALL, meta={
            PROMPT: _clip(prompt), DEPTH: depth, "nested": True, "context_chars": len(piece)})
        self.deepest = max(self.deepest, depth)
        answer, _, reason = self.repl(prompt, piece, node, depth)
        self.ctx.update(node, text=answer or "", answer=answer,
                        meta={**node.meta, "reason": reason})
        if answer is None:
            raise LLMRefused(f"the nested REPL ended without an answer: {reason}")
        return answer

    def _prompt_tokens(self, messages: list[ChatMessage]) -> int:
        engine = self.ctx.engine
        return engine.count_tokens(engine.format_prompt(messages))

    def _piece_chars(self) -> int:
        tokens = self.ctx.engine.n_ctx - self.p["subcall_tokens"] - 200
        return max(500, min(MAX_PIECE, tokens * 3))  # ~3 characters a token, conservatively


# -- prompts ------------------------------------------------------------------------------------
# Worked examples, given as earlier turns of the chat (question, how the text is described, the
# reply): the small coder models copy the reply whose question and text look most like theirs
# (the free-text one first, so that the last ones, nearest the question, are the log ones),
# and each reply ends with final(value) in the same block (without it they print the answer
# turn after turn). {piece_chars} is filled in.
WORKED_EXAMPLES: tuple[tuple[str, str, str], ...] = (
    ("Which city do the letters complain about most?",
     "`context` holds 96,310 characters in 1,204 lines. It begins:\n"
     "Dear mayor, the buses were late again this week and nobody told us why.\n...",
     "size = {piece_chars}  # read it in slices the model can take\n"
     "pieces = [context[i:i + size] for i in range(0, len(context), size)]\n"
     "replies = llm_batch(['Which city does this text complain about most? Reply with the "
     "city only.\\n\\n' + piece for piece in pieces])\n"
     "print(replies)\n"
     "from collections import Counter\n"
     "final(Counter(reply.strip() for reply in replies).most_common(1)[0][0])"),
    ("How many tickets have team=red?",
     "`context` holds 412,530 characters in 4,096 lines. It begins:\n"
     "ticket 00001: user=Ada Berg; team=blue; hours=3; state=open\n"
     "ticket 00002: user=Li Wong; team=red; hours=7; state=closed\n...",
     "lines = context.splitlines()\n"
     "hits = [line for line in lines if 'team=red' in line]\n"
     "print(len(lines), len(hits), hits[:2])\n"
     "final(len(hits))"),
    ("What is the hours of ticket 00427?",
     "`context` holds 208,114 characters in 2,077 lines. It begins:\n"
     "ticket 00001: user=Ada Berg; team=blue; hours=3; state=open\n"
     "ticket 00002: user=Li Wong; team=red; hours=7; state=closed\n...",
     "import re\n"
     "line = [line for line in context.splitlines() if line.startswith('ticket 00427:')][0]\n"
     "print(line)\n"
     "final(int(re.search(r'hours=(\\d+)', line).group(1)))"),
)
FIRST_ASK = "Write one ```python code block that computes the answer and calls final(value)."


def opening_messages(question: str, context: str, depth: int, params: dict[str, Any],
                     piece_chars: int) -> list[ChatMessage]:
    nested = ("\n- call llm(prompt, context=piece) to hand a long piece to a helper that "
              "works like you." if depth < params["max_depth"] else "")
    system = (
        "You answer a question about a text that is too long to read at once. The text is in "
        "the Python variable `context` (a str). Reply with exactly one ```python code block "
        "per turn; you will see what it prints.\nIn the code you can:\n"
        "- search and slice `context` with plain Python (str methods, re, collections; only "
        "the standard library, no files or network; re, math and Counter are imported): when "
        "the text has a fixed format, compute the answer with code;\n"
        f"- call llm(prompt) to ask a language model about a piece of at most {piece_chars} "
        "characters (put the piece in the prompt); it returns the answer as a str. "
        "llm_batch(prompts) asks several and returns a list;"
        f"{nested}\n- call final(value) with the answer itself, e.g. final(42) or "
        "final(len(hits)), in the same block that computes it: that ends the task.\n"
        f"Variables persist between turns. Output is cut to {OUTPUT_CHARS} characters, so "
        "print counts and short excerpts, never the whole text. The first turns below are "
        "worked examples over other texts."
    )
    messages: list[ChatMessage] = [{"role": "system", "content": system}]
    for example_question, description, code in WORKED_EXAMPLES:
        code = code.format(piece_chars=min(piece_chars, 6000))
        messages += [{"role": "user", "content": first_ask(example_question, description)},
                     {"role": "assistant", "content": f"```python\n{code}\n```"}]
    return [*messages, {"role": "user", "content": first_ask(question, describe(context))}]


def first_ask(question: str, description: str) -> str:
    return f"Question: {question}\n\n{description}\n\n{FIRST_ASK}"


def describe(context: str) -> str:
    lines = context.count("\n") + (not context.endswith("\n"))
    if len(context) <= HEAD_CHARS:
        return f"`context` holds {len(context):,} characters:\n{context}"
    return (f"`context` holds {len(context):,} characters in {lines:,} lines. It begins:\n"
            f"{context[:HEAD_CHARS]}...")


def feedback(result: TurnResult | None, turns_left: int) -> str:
    if result is None:
        parts = ["No ```python code block found. Reply with one code block."]
    else:
        output = result.output.rstrip()
        parts = [f"Output:\n{output}" if output else "Output: (nothing was printed)"]
        if result.error:
            parts.append(f"Error:\n{result.error.rstrip()}")
        if result.state_lost:
            parts.append("The sandbox was restarted: variables from earlier turns are gone.")
    value = printed_value(result)
    if value is not None:  # the small models print the answer turn after turn otherwise
        literal = value if _NUMBER.fullmatch(value) else repr(value)
        parts.append(f"If {value} answers the question, reply with:\n```python\n"
                     f"final({literal})\n```")
    parts.append(f"{turns_left} turn(s) left. Call final(value) with the answer itself, "
                 "e.g. final(len(hits)), as soon as you know it.")
    return "\n\n".join(parts)


def printed_value(result: TurnResult | None) -> str | None:
    """What the turn printed when it is one short value (a number or a few words, at most
    one number) and the code ran without an error: the likely answer."""
    if result is None or result.error:
        return None
    text = result.output.strip()
    if not text or "\n" in text or len(text) > 40 or len(_NUMBERS.findall(text)) > 1:
        return None
    return text


def extract_code(text: str) -> str | None:
    match = _CODE.search(text)
    return match.group(1).strip("\n") if match and match.group(1).strip() else None


def _clip(text: str) -> str:
    if len(text) <= PROMPT_KEEP:
        return text
    return f"{text[:PROMPT_KEEP]}\n... [{len(text) - PROMPT_KEEP:,} more characters]"
