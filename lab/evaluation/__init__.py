"""Evaluation: sweeps of strategies over problem sets, the scaling table and figure.

    cells = build_cells(SweepSpec([StrategySpec("self-consistency")], {"n": [1, 4, 16]}),
                        problems)
    run_sweep(cells, engine, ledger, "sweep-1", on_progress, cancel)  # resumable
    rows = summarize(ledger, "sweep-1")  # from the stored runs only
    scaling_figure(rows)  # plotly Figure: accuracy against tokens
"""

from lab.evaluation.estimators import (
    Chain,
    Estimate,
    best_at_k,
    maj_at_k,
    pass_at_k,
    subset_mean,
    wilson_interval,
)
from lab.evaluation.figure import FigureError, save_figure, scaling_figure
from lab.evaluation.report import Row, summarize, table_markdown, table_text
from lab.evaluation.sweep import (
    Cell,
    Config,
    StrategySpec,
    SweepProgress,
    SweepResult,
    SweepSpec,
    build_cells,
    build_configs,
    pending_cells,
    run_sweep,
)

__all__ = [
    "Cell",
    "Chain",
    "Config",
    "Estimate",
    "FigureError",
    "Row",
    "StrategySpec",
    "SweepProgress",
    "SweepResult",
    "SweepSpec",
    "best_at_k",
    "build_cells",
    "build_configs",
    "maj_at_k",
    "pass_at_k",
    "pending_cells",
    "run_sweep",
    "save_figure",
    "scaling_figure",
    "subset_mean",
    "summarize",
    "table_markdown",
    "table_text",
    "wilson_interval",
]
