"""Inference-time scaling strategies.

    from lab.strategies import run_strategy, get_strategy, list_strategies
    trace = run_strategy("self-consistency", problem, engine, {"n": "8"}, budget=2000)

Each strategy is one module here, found by `registry.py` (a new module is a new strategy);
`base.py` defines the Strategy (name, typed `params`, `run`, and what it says of itself),
`params.py` the typed parameters, `categories.py` the families Learn explains, `context.py`
the run context that grows the Trace (`lab/trace.py`) within the token budget.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"run_strategy", "get_strategy", "list_strategies", "STRATEGIES"}


def __getattr__(name: str) -> Any:
    # Imported on first use, so `lab.trace` loads without every strategy.
    if name in _LAZY:
        from lab.strategies import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'lab.strategies' has no attribute {name!r}")
