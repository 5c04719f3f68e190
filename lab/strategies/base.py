"""What every strategy is: a name, typed parameters, and `run` -> Trace.

A strategy implements `solve(ctx)`: it grows the trace through the RunContext and ends with
`ctx.finish(answer, reason, chosen)`. `run` wraps it: it validates the parameters, sets the
trace's status (complete, interrupted, failed) and never loses what was generated.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from lab.engine.base import Engine, EngineError, SamplingParams
from lab.scorers import VerifierError
from lab.strategies.context import BudgetExhausted, RunCancelled, RunContext, StrategyError
from lab.strategies.params import Param, check_budget, validate_params
from lab.trace import EventCallback, EventKind, Trace, TraceStatus
from lab.tasks.problem import Problem

log = logging.getLogger(__name__)


class Strategy(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]  # one line for menus and `lab solve --list`
    params: ClassVar[tuple[Param, ...]]

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
        max_tokens=int(max_tokens if max_tokens is not None else params.get("max_tokens", 256)),
        seed=int(params.get("seed", 0)),
    )
    return base.with_(**changes) if changes else base
