"""`program`: program-aided answers (PAL, program of thought), voted like self-consistency.

The model writes a short Python program that prints the final result; the lab runs each
program in the sandbox (lab.sandbox: a separate, locked-down process per program, never
`exec` in the lab's process) and takes the last line it printed as the chain's answer. The
`n` programs are sampled in one batched call (each continues an opened ```python block and
stops where the block closes) and voted over their executed answers with the equivalence
classes and tie-breaks of self-consistency (lab.strategies.voting). n=1 at temperature 0 is
the greedy program.

A program that fails (a syntax error, an exception, a timeout, a crash, nothing printed) is a
chain without an answer: it does not vote, its node is marked rejected, and its meta says
why (`no_vote`), next to its `code`, `output` and `error`. The chain's text is the code
followed by what it printed or raised, so the chains view shows both. A Game-of-24 program
prints its expression, which the problem kind checks like any other answer.

Trace: PROMPT (a worked example, then the problem) -> CHAIN per program (text: code, then
output or error; meta: code, output, error, timed_out, code_s, no_vote) -> ANSWER.
"""

from __future__ import annotations

import re

from lab.engine.base import ChatMessage
from lab.sandbox import LLMRefused, Sandbox, SandboxError, SandboxLimits, TurnResult
from lab.scorers import SCORERS
from lab.strategies.base import Demo, Strategy, sampling
from lab.strategies.categories import Category
from lab.strategies.context import BudgetExhausted, RunContext, StrategyError
from lab.strategies.params import (
    Param,
    cut_votes_param,
    n_param,
    sampling_params,
    scorer_param,
    seed_param,
)
from lab.strategies.voting import cut_votes, finish_vote
from lab.tasks.extraction import extract_answer
from lab.tasks.kinds import kind_of
from lab.tasks.problem import Problem
from lab.trace import Node, NodeStatus, Trace, TraceView
from lab.views.base import Canvas
from lab.views.blocks import Block, Caption, Code, Markdown
from lab.views.chains import ChainsView

PROGRAM = Category(
    "Compute with a program",
    "The model writes a short Python program that computes the answer; the lab runs it in a "
    "sandbox and takes what it prints. Several programs vote like self-consistency chains "
    "(program-aided language models, program of thought).",
    "N programs sampled side by side in one batch, plus running each in a separate, "
    "locked-down process (a fraction of a second each).",
    "Arithmetic and word problems a coder model can turn into code: the interpreter does the "
    "arithmetic the model gets wrong in prose. A program that fails does not vote.",
    how=(
        "Each chain is a program, not prose: the lab runs it in the same sandbox as the "
        "recursive strategy (no network, limited memory and time) and reads what it prints. "
        "Programs that fail (syntax error, exception, timeout, nothing printed) say why in "
        "their panel and do not vote. It is self-consistency over executions: the model "
        "decides *what* to compute, the interpreter does the arithmetic."),
)

OPEN_BLOCK = "```python\n"  # every program continues this opened block...
CLOSE_BLOCK = "```"  # ...and stops where the model closes it
OUTPUT_CHARS = 1000  # of printed output kept per program
ANSWER_CHARS = 200  # a longer last line is not an answer
TIMED_OUT = "it ran out of time"
# a chain's meta keys, read by its view (ProgramChainsView)
CODE, OUTPUT, ERROR, NO_VOTE = "code", "output", "error", "no_vote"
SYSTEM = ("You solve problems by writing short Python programs. Reply with one ```python "
          "code block that prints only the final result.")
# How the result is printed, by problem kind (anything else: the default).
PRINTS = {"target": "the expression itself as a string, using each given number exactly "
                    "once", "text": "the answer as a short string"}
PRINTS_DEFAULT = "the final number (or expression), nothing else"
EXAMPLE = (
    "Problem: A shop sells pens at 3 dollars each. Tom buys 4 pens and pays with a 20-dollar "
    "bill. How much change does he get?",
    "pens = 4\nprice = 3\nchange = 20 - pens * price\nprint(change)\n",
)
TARGET_EXAMPLE = (
    "Problem: Use the numbers 2, 3, 4, 1 and + - * / to make 24.",
    "from itertools import permutations, product\n\n\ndef solve(numbers):\n"
    "    for a, b, c, d in permutations(numbers):\n"
    "        for p, q, r in product('+-*/', repeat=3):\n"
    "            for e in (f'(({a}{p}{b}){q}{c}){r}{d}', f'({a}{p}{b}){q}({c}{r}{d})'):\n"
    "                try:\n                    if abs(eval(e) - 24) < 1e-9:\n"
    "                        return e\n                except ZeroDivisionError:\n"
    "                    pass\n\n\nprint(solve([2, 3, 4, 1]))\n",
)
_SENTENCE = re.compile(r"\b[A-Za-z]{3,}\s+[A-Za-z]{2,}\b")  # words, not an expression
_ERROR_NAME = re.compile(r"^(\w+(?:Error|Exception|Exit|Interrupt)|\w+Warning)\b", re.MULTILINE)


class Program(Strategy):
    name = "program"
    category = PROGRAM
    order = 110
    views = (TraceView.VOTES, "program-chains")
    sweep_knob = "n"
    demo = Demo({"n": 4, "max_tokens": 192, "temperature": 0.7}, problem_set="digits")
    pick = "maj"
    summary = "Write N Python programs, run each in the sandbox, vote over what they print."
    params = (
        n_param(4),
        *sampling_params(temperature=0.7, max_tokens=256),
        Param("timeout_s", "float", 2.0, "seconds each program may run", 0.1, 30.0),
        scorer_param("mean-logprob", SCORERS, "breaks ties between answers"),
        cut_votes_param(),
        seed_param(),
    )

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        messages = program_messages(ctx.problem)
        root = ctx.add_prompt(messages, style="program", opened=OPEN_BLOCK)
        chains, note = draw_programs(ctx, messages, root)
        failed = run_programs(ctx, chains)
        ctx.trace.meta.update({"samples": len(chains), "failed_programs": failed})
        if failed:
            note = _join(f"{failed} of {len(chains)} programs failed", note)
        finish_vote(ctx, chains, p["scorer"], note=note)


# -- sampling -----------------------------------------------------------------------------------
def program_messages(problem: Problem) -> list[ChatMessage]:
    """A worked example (a program for a problem of the same kind), then the problem."""
    kind = kind_of(problem)
    question, code = TARGET_EXAMPLE if kind.name == "target" else EXAMPLE
    prints = PRINTS.get(kind.name, PRINTS_DEFAULT)
    ask = (f"Write a short Python program that computes the answer and prints {prints}. "
           "Use only the standard library; no input(), files or network.")
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{question}\n\n{ask}"},
            {"role": "assistant", "content": f"{OPEN_BLOCK}{code}{CLOSE_BLOCK}"},
            {"role": "user", "content": f"Problem: {kind.task_text(problem)}\n\n{ask}"}]


def draw_programs(ctx: RunContext, messages: list[ChatMessage],
                  root: Node) -> tuple[list[Node], str]:
    """The n programs in one engine call, each capped at an equal share of the budget."""
    p = ctx.params
    verdicts = ctx.verdict_cost(p["scorer"])  # a tie may score any chain
    n = ctx.affordable(p["n"], verdicts)
    if n < 1:
        raise BudgetExhausted()
    cap = ctx.token_cap(p["max_tokens"], n, verdicts=verdicts)
    chains = ctx.sample(messages, [root] * n, sampling(p, cap, stop=(CLOSE_BLOCK,)),
                        prefixes=[OPEN_BLOCK] * n, extract=False)
    note = f"the token budget afforded {n} of {p['n']} programs" if n < p["n"] else ""
    return chains, note


# -- running ------------------------------------------------------------------------------------
def run_programs(ctx: RunContext, chains: list[Node]) -> int:
    """Run each chain's program in a fresh sandbox and record what happened; returns how many
    failed."""
    limits = SandboxLimits(timeout_s=ctx.params["timeout_s"], output_chars=OUTPUT_CHARS,
                           cpu_s=int(ctx.params["timeout_s"]) + 5)
    failed = 0
    for chain in chains:
        ctx.check_cancelled()
        code = chain.text
        result = execute_program(code, limits, ctx) if code.strip() else None
        failed += record(ctx, chain, code, result)
    return failed


def execute_program(code: str, limits: SandboxLimits, ctx: RunContext) -> TurnResult:
    """One program in its own sandbox: no variables shared with the other programs."""
    try:
        with Sandbox("", refuse_llm, limits) as box:
            result = box.run(code)
            ctx.trace.meta["sandbox"] = ctx.trace.meta.get("sandbox") or dict(box.isolation)
            return result
    except SandboxError as exc:
        raise StrategyError(str(exc)) from exc


def refuse_llm(prompts: list[str], context: str | None) -> list[str]:
    raise LLMRefused("a program may not call the model")


def record(ctx: RunContext, chain: Node, code: str, result: TurnResult | None) -> bool:
    """Set the chain's answer (or why it has none), text and meta; True when it failed."""
    answer, no_vote = outcome(result, chain.cut and not cut_votes(ctx))
    output = result.output if result is not None else ""
    error = result.error if result is not None else None
    text = chain_text(code, chain.finish_reason, output, error, no_vote)
    meta = {**chain.meta, CODE: code, OUTPUT: output, ERROR: error,
            "timed_out": no_vote == TIMED_OUT,
            "code_s": round(result.code_s, 3) if result is not None else 0.0}
    if no_vote:
        meta[NO_VOTE] = no_vote
    ctx.update(chain, text=text, answer=answer, answer_span=answer_span(text, answer, code),
               meta=meta, status=NodeStatus.REJECTED if answer is None else chain.status)
    return answer is None


def outcome(result: TurnResult | None, cut: bool) -> tuple[str | None, str | None]:
    """(the program's answer, why it does not vote): one of the two is None, unless a program
    cut at its token cap printed an answer (it has one, and does not vote)."""
    if result is None:
        return None, "it wrote no code"
    if result.timed_out:
        return None, TIMED_OUT
    if result.error is not None:
        return None, failure(result.error, result.state_lost)
    answer = printed_answer(result.output)
    if answer is None:
        last = result.output.strip().splitlines()[-1:] or [""]
        return None, ("its last printed line is too long to be an answer" if last[0].strip()
                      else "it printed nothing")
    return answer, "it was cut at the token cap" if cut else None


def failure(error: str, state_lost: bool) -> str:
    """Why a program that raised does not vote, in a few words."""
    if state_lost:
        return "its sandbox process died"
    names = _ERROR_NAME.findall(error)
    name = names[-1] if names else "an error"
    if name in ("SyntaxError", "IndentationError", "TabError"):
        return f"it does not parse ({name})"
    if name == "TimeoutError":
        return TIMED_OUT
    return f"it raised {name}"


def printed_answer(output: str) -> str | None:
    """The answer a program printed, from its last non-empty line: all of it when it is a
    bare answer ("18", "(8 - 4) * (7 - 1)"); in a sentence, what answer extraction finds
    ("The answer is X", else the last number). None when nothing was printed, or the line is
    too long to be an answer."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines or len(lines[-1]) > ANSWER_CHARS:
        return None
    line = lines[-1]
    extraction = extract_answer(line)
    if extraction.answer and (extraction.rule in ("boxed", "hash", "answer-is")
                              or _SENTENCE.search(line)):
        line = extraction.answer
    line = line.strip(" \t`\"'").rstrip(".").strip()
    return line or None


def chain_text(code: str, finish_reason: str | None, output: str, error: str | None,
               no_vote: str | None) -> str:
    """The chain as the app shows it: the code, the block's close, then what it printed or
    raised, and why it does not vote."""
    parts = [code + (CLOSE_BLOCK if finish_reason == "stop" else "")]
    if output.strip():
        parts.append(f"Output:\n{output.rstrip()}")
    if error:
        parts.append(f"Error:\n{error.rstrip()}")
    if no_vote:
        parts.append(f"No vote: {no_vote}.")
    return "\n\n".join(parts)


def answer_span(text: str, answer: str | None, code: str) -> tuple[int, int] | None:
    """Where the answer sits in the printed output part of the text."""
    if answer is None:
        return None
    start = text.rfind(answer, len(code))
    return (start, start + len(answer)) if start >= 0 else None


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first and second else first or second


class ProgramChainsView(ChainsView):
    """The chains view for programs: each chain's code as code, then what running it printed
    or raised, and why it does not vote."""

    name = "program-chains"
    summary = "One panel per program: its code, what it printed or raised, why it has no vote."

    def applies(self, trace: Trace) -> bool:
        return any(CODE in n.meta for n in trace.solutions())

    def body(self, node: Node, canvas: Canvas) -> list[Block]:
        if node.meta.get(CODE) is None:
            return list(super().body(node, canvas))
        blocks: list[Block] = [Code(node.meta[CODE] or "# (no code)")]
        if output := (node.meta.get(OUTPUT) or "").rstrip():
            blocks += [Markdown("printed"), Code(output, "text")]
        if error := (node.meta.get(ERROR) or "").rstrip():
            blocks += [Markdown("raised"), Code(error, "text")]
        if no_vote := node.meta.get(NO_VOTE):
            blocks.append(Caption(f"No vote: {no_vote}."))
        return blocks

