"""What every strategy is: a name, typed parameters, `run` -> Trace, and a description of
itself that the app, the CLI and evaluation read instead of keeping lists of strategies.

A strategy implements `solve(ctx)`: it grows the trace through the RunContext and ends with
`ctx.finish(answer, reason, chosen)`. `run` wraps it: it validates the parameters, sets the
trace's status (complete, interrupted, failed) and never loses what was generated.

What it says of itself: `summary` and `category` (help texts, Learn), `order` (menus), `views`
(the names of the drawings its trace needs: lab/views/, or a View class of its own), the
parameters marked `knob` (compute knobs, drawn beside the budget) and `sweep_knob` (what a
scaling sweep grows), `demo` (Learn's Playground preset), `pick` and `resamplable` (whether one
run's chains give maj@k / best@k for every k <= n), `prompt_style`, `parallel_sequences`,
`sequence_tokens` (the context check), and `spend` (how it spends a token budget when runs are
compared at equal spend).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from lab.engine.base import Engine, EngineError, EngineUnavailable, SamplingParams
from lab.prompts import PromptStyle
from lab.scorers import VerifierError
from lab.strategies.categories import Category
from lab.strategies.context import BudgetExhausted, RunCancelled, RunContext, StrategyError
from lab.strategies.params import CHAIN_TOKENS, Param, check_budget, validate_params
from lab.tasks.problem import Problem
from lab.trace import EventCallback, EventKind, Trace, TraceStatus, TraceView

log = logging.getLogger(__name__)

Pick = Literal["maj", "best"]  # how a strategy picks among its chains: vote, or best score


@dataclass(frozen=True)
class Demo:
    """A Playground setting that shows the strategy's effect (Learn's "Try it" button)."""

    params: dict[str, Any] = field(default_factory=dict)
    problem_set: str = "arith"
    budget: int = 0


@dataclass(frozen=True)
class Spend:
    """How a strategy spends a token budget: the parameters it runs with, and in words."""

    params: dict[str, Any]
    how: str


class Strategy(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]  # one line for menus and `lab solve --list`
    params: ClassVar[tuple[Param, ...]]
    category: ClassVar[Category | None] = None  # its family on the Learn page
    order: ClassVar[int] = 1000  # place in menus (lowest first)
    views: ClassVar[tuple[str, ...]] = (TraceView.CHAINS,)  # view names (lab/views/)
    sweep_knob: ClassVar[str | None] = None  # the parameter a scaling sweep grows
    demo: ClassVar[Demo | None] = None
    pick: ClassVar[Pick | None] = None  # set: one run's chains give every k <= n
    vote_weight: ClassVar[str | None] = None  # the chain score its votes are weighted by

    @property
    def knobs(self) -> tuple[str, ...]:
        """The parameters that set how much compute a run spends."""
        return tuple(p.name for p in self.params if p.knob)

    def prompt_style(self, params: dict[str, Any]) -> PromptStyle:
        """The style of its solving prompt."""
        return params.get("prompt", "cot")

    def parallel_sequences(self, params: dict[str, Any]) -> int:
        """How many sequences one engine call may generate side by side."""
        return int(params.get("batch", 0) or 0) or int(params.get("n", 1))

    def sequence_tokens(self, params: dict[str, Any]) -> int:
        """The most tokens one sequence may generate after the prompt."""
        return int(params.get("max_tokens", CHAIN_TOKENS))

    def resamplable(self, params: dict[str, Any], budget: int | None) -> bool:
        """Does one run with these (validated) parameters give a fair sample for every
        k <= n? Only when every chain was drawn regardless of the others (no budget cut,
        no early stop between batches)."""
        return self.pick is not None and budget is None

    def chain_tokens(self, params: dict[str, Any]) -> int:
        """The most tokens one sample costs: its generated tokens and the verdicts that score
        it (one token per model scorer or verifier)."""
        from lab.scorers import VERDICT_TOKENS, get_scorer

        verdicts = sum(VERDICT_TOKENS for name in self.scorers_used(params)
                       if get_scorer(name).needs is not None)
        return self.sequence_tokens(params) + verdicts

    def spend(self, params: dict[str, Any], budget: int | None) -> Spend:
        """How to spend `budget` tokens so that strategies compare at equal spend: a strategy
        that samples n chains draws n = budget / tokens per chain at its usual length, rather
        than cutting each chain shorter; any other keeps its parameters, the budget capping
        its run."""
        if budget is None or self.sweep_knob != "n":
            return Spend(params, "its own settings" + (f", capped at {budget:,} tokens"
                                                       if budget is not None else ""))
        per_chain = self.chain_tokens(params)
        most = int(self.param("n").max or 1)
        n = max(1, min(most, budget // per_chain))
        spent = self.validate(self.with_n(params, n))
        how = f"{n} chain{'s' if n > 1 else ''} of up to {per_chain:,} tokens each"
        if per_chain > budget:
            how = f"1 chain, cut to the {budget:,}-token budget"
        elif n == most and most * per_chain < budget:
            how += f" (n at its most, {most})"
        return Spend(spent, how)

    def with_n(self, params: dict[str, Any], n: int) -> dict[str, Any]:
        """The parameters for n samples (a strategy whose other parameters depend on n
        adjusts them here)."""
        return {**params, "n": n}

    def validate(self, raw: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """All parameters, typed and range-checked (raises ParamError with a one-line message)."""
        values = validate_params(self.name, self.params, raw)
        self.check(values)
        return values

    def check(self, params: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Checks across parameters (raise ParamError)."""

    def scorers_used(self, params: dict[str, Any]) -> list[str]:
        """The scorers and verifiers these parameters select (checked before the run starts)."""
        return [params[key] for key in ("scorer", "verifier") if key in params]

    def needs_judge(self, params: dict[str, Any]) -> bool:
        """Whether these parameters choose a scorer that needs a second (judge) model."""
        from lab.scorers import get_scorer

        return any(get_scorer(name).needs == "judge" for name in self.scorers_used(params))

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def run(
        self,
        problem: Problem,
        engine: Engine,
        params: Mapping[str, Any] | None = None,
        budget: int | None = None,
        on_event: EventCallback | None = None,
        cancel: threading.Event | None = None,
        judge: Engine | None = None,
    ) -> Trace:
        """Solve `problem` within `budget` generated tokens; `on_event` sees the trace grow;
        setting `cancel` stops the run between (and, through the engine, inside) calls;
        `judge` is the second model of the `judge` verifier."""
        values = self.validate(params)
        check_budget(budget)
        trace = Trace(strategy=self.name, problem=problem, params=values, budget=budget,
                      model=getattr(engine, "model_name", ""), seed=int(values.get("seed", 0)))
        ctx = RunContext(trace, engine, on_event, cancel, judge)
        ctx.emit(EventKind.STARTED)
        try:
            for scorer in self.scorers_used(values):
                ctx.scoring.check(scorer)
            self.solve(ctx)
            trace.status = TraceStatus.COMPLETE
        except RunCancelled:
            trace.status = TraceStatus.INTERRUPTED
            trace.reason = trace.reason or "cancelled"
        except BudgetExhausted:
            # Strategies choose from what they have when the budget runs out; reaching here
            # means it ran out before there was anything to choose from.
            trace.status = TraceStatus.COMPLETE
            trace.reason = trace.reason or "token budget exhausted before an answer"
        except EngineUnavailable as exc:  # the model server went away: run it again later
            trace.status = TraceStatus.INTERRUPTED
            trace.reason = trace.reason or str(exc)
        except (StrategyError, VerifierError, EngineError) as exc:
            trace.status, trace.error = TraceStatus.FAILED, str(exc)
        except Exception as exc:  # keep what was generated; the error goes in the trace
            log.exception("strategy %s failed", self.name)
            trace.status, trace.error = TraceStatus.FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            ctx.close()
            ctx.emit(EventKind.FINISHED)
        return trace

    @abstractmethod
    def solve(self, ctx: RunContext) -> None:
        """Grow the trace and end with ctx.finish(answer, reason, chosen)."""


def sampling(
    params: Mapping[str, Any], max_tokens: int | None = None, **changes: Any
) -> SamplingParams:
    """SamplingParams from a strategy's shared knobs (temperature, top_p, max_tokens, seed)."""
    base = SamplingParams(
        temperature=float(params.get("temperature", 0.0)),
        top_p=float(params.get("top_p", 1.0)),
        max_tokens=int(max_tokens if max_tokens is not None
                       else params.get("max_tokens", CHAIN_TOKENS)),
        seed=int(params.get("seed", 0)),
    )
    return base.with_(**changes) if changes else base
