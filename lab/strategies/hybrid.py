"""`hybrid`: prose chains and programs of the same problem in one vote.

`n_prose` step-by-step chains (the self-consistency prompt, each answer extracted from its
text) and `n_programs` Python programs (the `program` strategy's prompt, each program run in
its own sandbox, its answer what it printed) vote together over the same answer classes
(lab.strategies.voting): an answer that prose and programs both reach pools their votes. A
program that fails does not vote, nor does a chain cut at its token cap (unless `cut_votes`).
The interpreter does the arithmetic a prose chain gets wrong; prose covers the problems a
program misreads.

The two kinds are two engine calls, prose first: the engine's batched call
(`continue_prefixes`) shares one prompt and one set of sampling settings, and programs need
their own prompt, their opened ```python block, the block's close as a stop string and their
own `program_tokens`; `generate_each` takes several prompts but one setting, no prefixes and
no per-token events. Both calls draw within one budget, each sequence capped at an equal share.

The sweep knob is `n`, the total: when it differs from `n_prose + n_programs`, the samples are
split half and half (prose takes the odd one), so a Scaling ladder n = 1, 2, 4, 8 grows both
kinds together; 0 keeps `n_prose` and `n_programs` as set. The validated parameters always
hold n = n_prose + n_programs, so the same split is one configuration however it was asked
for. One run's samples do not stand for smaller runs (a k-subset is not a k-run's half and
half split), so there is no sample reuse (`pick` is None).

Trace: PROMPT (the prose prompt) -> CHAIN per prose chain (meta source "prose"); PROMPT (the
program prompt) -> CHAIN per program (meta source "program", and the program's code, output,
error, no_vote as `program` records them) -> ANSWER.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab.scorers import SCORERS
from lab.strategies.base import Demo, Strategy, sampling
from lab.strategies.context import BudgetExhausted, RunContext
from lab.strategies.params import (
    CHAIN_TOKENS,
    Param,
    ParamError,
    cut_votes_param,
    max_tokens_param,
    scorer_param,
    seed_param,
    temperature_param,
    top_p_param,
)
from lab.strategies.program import (
    CLOSE_BLOCK,
    OPEN_BLOCK,
    PROGRAM,
    Program,
    program_messages,
    run_programs,
)
from lab.strategies.voting import finish_vote
from lab.trace import Node, TraceView

SOURCE = "source"  # a chain's meta key: which kind of sample it is
PROSE, CODE_SAMPLE = "prose", "program"
MOST = 64  # samples of each kind, and in all


def program_param(name: str) -> Param:
    """The `program` strategy's parameter of that name (the same range and help)."""
    return next(p for p in Program.params if p.name == name)


def split(n: int, n_prose: int, n_programs: int) -> tuple[int, int]:
    """(prose, programs) for a total `n`: as set when n is 0 or their sum, else half and
    half, prose taking the odd one."""
    if n in (0, n_prose + n_programs):
        return n_prose, n_programs
    return n - n // 2, n // 2


def shares(affordable: int, n_prose: int, n_programs: int) -> tuple[int, int]:
    """(prose, programs) when the budget affords only `affordable` samples: programs up to
    half, prose the rest, programs again whatever prose leaves."""
    programs = min(n_programs, affordable // 2)
    prose = min(n_prose, affordable - programs)
    return prose, min(n_programs, affordable - prose)


class Hybrid(Strategy):
    name = "hybrid"
    category = PROGRAM
    order = 115
    views = (TraceView.VOTES, "program-chains")  # code for programs, text for prose chains
    sweep_knob = "n"
    demo = Demo({"n_prose": 4, "n_programs": 4}, problem_set="arith")
    summary = "Step-by-step chains and Python programs of the same problem in one vote."
    params = (
        Param("n", "int", 0, "samples in all; when it differs from n_prose + n_programs they "
              "are split half and half (prose takes the odd one)", 0, MOST, knob=True,
              zero="n_prose + n_programs"),
        Param("n_prose", "int", 4, "step-by-step chains (as self-consistency samples them)",
              0, MOST, knob=True),
        Param("n_programs", "int", 4, "Python programs, each run in the sandbox", 0, MOST,
              knob=True),
        temperature_param(0.7),
        top_p_param(),
        max_tokens_param(CHAIN_TOKENS, "tokens per prose chain"),
        Param("program_tokens", "int", program_param("max_tokens").default,
              "most tokens per program", 1, 4096, knob=True),
        program_param("timeout_s"),
        scorer_param("mean-logprob", SCORERS, "breaks ties between answers"),
        cut_votes_param(),
        seed_param(),
    )

    def validate(self, raw: Mapping[str, Any] | None = None) -> dict[str, Any]:
        values = super().validate(raw)
        prose, programs = split(values["n"], values["n_prose"], values["n_programs"])
        if prose + programs > MOST:
            raise ParamError(f"n_prose + n_programs must be at most {MOST} "
                             f"(got {prose + programs})")
        if prose + programs < 1:
            raise ParamError("n_prose + n_programs must be at least 1 (got 0)")
        values.update(n=prose + programs, n_prose=prose, n_programs=programs)
        return values

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        return max(params["n_prose"], params["n_programs"])

    def sequence_tokens(self, params: dict[str, Any]) -> int:
        return max(params["max_tokens"], params["program_tokens"])

    def solve(self, ctx: RunContext) -> None:
        p = ctx.params
        verdicts = ctx.verdict_cost(p["scorer"])  # a tie may score any chain
        prose_n, program_n = shares(ctx.affordable(p["n"], verdicts), p["n_prose"],
                                    p["n_programs"])
        if prose_n + program_n < 1:
            raise BudgetExhausted()
        # caps from the budget as it stands, so that the second call gets its share too
        prose_cap = ctx.token_cap(p["max_tokens"], prose_n + program_n, verdicts=verdicts)
        program_cap = ctx.token_cap(p["program_tokens"], prose_n + program_n,
                                    verdicts=verdicts)
        prose: list[Node] = []
        programs: list[Node] = []
        notes = []
        try:
            if prose_n:
                messages = ctx.solve_messages("cot")
                root = ctx.add_prompt(messages, style="cot", source=PROSE)
                prose = ctx.sample(messages, [root] * prose_n, sampling(p, prose_cap),
                                   meta={SOURCE: PROSE})
            if program_n:
                messages = program_messages(ctx.problem)
                root = ctx.add_prompt(messages, style="program", opened=OPEN_BLOCK,
                                      source=CODE_SAMPLE)
                programs = ctx.sample(messages, [root] * program_n,
                                      sampling(p, program_cap, stop=(CLOSE_BLOCK,)),
                                      prefixes=[OPEN_BLOCK] * program_n, extract=False,
                                      meta={SOURCE: CODE_SAMPLE})
        except BudgetExhausted:
            notes.append("token budget spent")
        if prose_n + program_n < p["n"]:
            notes.append(f"the token budget afforded {prose_n} of {p['n_prose']} prose chains "
                         f"and {program_n} of {p['n_programs']} programs")
        failed = run_programs(ctx, programs)
        if failed:
            notes.insert(0, f"{failed} of {len(programs)} programs failed")
        ctx.trace.meta.update({"samples": len(prose) + len(programs), "prose": len(prose),
                               "programs": len(programs), "failed_programs": failed})
        finish_vote(ctx, prose + programs, p["scorer"], note="; ".join(notes))
