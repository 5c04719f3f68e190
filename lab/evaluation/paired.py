"""Two configurations compared on the problems both ran: the paired difference in accuracy.

Per problem, each side has an outcome in [0, 1]: 1 or 0 for a run's own answer, the
expected correctness for a derived maj@k or best@k. The difference of the means is the mean
of the per-problem differences d_i = a_i - b_i, and its 95% interval is the mean ± 1.96
standard errors, the standard error being the sample standard deviation of the d_i over √n
(E. Miller, "Adding Error Bars to Evals", 2024: the paired form of the interval, much
narrower than two separate intervals when the two sides agree on most problems).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lab.evaluation.estimators import Z95
from lab.evaluation.report import Row, summarize
from lab.store.ledger import Ledger
from lab.strategies.registry import find_strategy


@dataclass(frozen=True)
class PairedDifference:
    problems: int  # shared by both sides
    a: float  # mean outcome of A on them
    b: float
    difference: float  # a - b
    standard_error: float | None  # None: fewer than 2 problems
    low: float | None  # 95% interval of the difference
    high: float | None
    only_a: int  # problems where A did better (right where B was wrong, for single runs)
    only_b: int

    @property
    def shown(self) -> bool:
        """The interval leaves out 0: a difference these problems show."""
        return self.low is not None and self.high is not None and (
            self.low > 0 or self.high < 0)

    def words(self, a: str = "A", b: str = "B") -> str:
        """The comparison in a sentence, saying plainly when nothing is shown."""
        if self.problems == 0:
            return f"{a} and {b} share no problem: nothing to compare."
        points = 100 * self.difference
        if self.low is None or self.high is None:
            return (f"{a} minus {b}: {points:+.0f} points on 1 problem; one problem gives no "
                    "interval.")
        interval = f"[{100 * self.low:+.0f}, {100 * self.high:+.0f}]"
        better = f"only {a} right on {self.only_a}, only {b} on {self.only_b}"
        if not self.shown:
            return (f"No difference shown on these {self.problems} problems: {a} minus {b} is "
                    f"{points:+.0f} points, 95% interval {interval} spans 0 ({better}).")
        leader = a if self.difference > 0 else b
        return (f"{leader} is ahead on these {self.problems} problems: {a} minus {b} is "
                f"{points:+.0f} points, 95% interval {interval} ({better}).")


def paired_difference(a: Mapping[str, float], b: Mapping[str, float],
                      z: float = Z95) -> PairedDifference:
    """A against B on the problems (keys) both have."""
    shared = sorted(set(a) & set(b))
    n = len(shared)
    if n == 0:
        return PairedDifference(0, 0.0, 0.0, 0.0, None, None, None, 0, 0)
    differences = [a[p] - b[p] for p in shared]
    mean = math.fsum(differences) / n
    mean_a = math.fsum(a[p] for p in shared) / n
    mean_b = math.fsum(b[p] for p in shared) / n
    only_a = sum(d > 0 for d in differences)
    only_b = sum(d < 0 for d in differences)
    if n < 2:
        return PairedDifference(n, mean_a, mean_b, mean, None, None, None, only_a, only_b)
    variance = math.fsum((d - mean) ** 2 for d in differences) / (n - 1)
    error = math.sqrt(variance / n)
    return PairedDifference(n, mean_a, mean_b, mean, error, mean - z * error, mean + z * error,
                            only_a, only_b)


# -- rows of an experiment's table ---------------------------------------------------------
PAIRED_COLUMNS = ("strategy", "setting", "metric", "minus baseline [95% CI]", "only it right",
                  "only baseline right", "problems", "shown")


def find_baseline(rows: Sequence[Row], strategy: str,
                  params: Mapping[str, Any] | None = None) -> Row | None:
    """The row of `strategy` whose parameters include `params`: its runs' own answers
    (not a derived maj@k) when it has them; never an oracle pass@k row."""
    matching = [r for r in rows if r.strategy == strategy and r.metric != "pass@k"
                and all(_same(r.params.get(k), v) for k, v in (params or {}).items())]
    return next((r for r in matching if not r.derived), matching[0] if matching else None)


def default_baseline(rows: Sequence[Row]) -> Row | None:
    """Greedy step by step, where the experiment has it: the greedy single-answer row of the
    first strategy in menu order whose prompt asks for reasoning (not a bare answer), the
    baseline every other point must beat at its cost."""
    def rank(row: Row) -> tuple[int, int]:
        found = find_strategy(row.strategy)
        if found is None:
            return 1, 10**9
        bare = found.prompt_style(dict(row.params)) == "direct"
        return int(bare), found.order

    greedy = [r for r in rows if r.metric == "accuracy" and r.params.get("temperature", 0) == 0
              and r.params.get("n", 1) == 1 and _one_sequence(r)]
    return min(greedy, key=rank, default=None)


def _one_sequence(row: Row) -> bool:
    """One answer decoded once (not, e.g., cot-decoding's k greedy branches)."""
    found = find_strategy(row.strategy)
    try:
        return found is None or found.parallel_sequences(dict(row.params)) == 1
    except KeyError:  # a run stored before a parameter existed
        return True


def against_baseline(rows: Sequence[Row], baseline: Row) -> list[tuple[Row, PairedDifference]]:
    """Every other row of the baseline's set and model (oracles left out), paired with it."""
    return [(row, paired_difference(row.outcomes, baseline.outcomes)) for row in rows
            if row is not baseline and row.metric != "pass@k"
            and (row.problem_set, row.model) == (baseline.problem_set, baseline.model)]


def paired_cells(pairs: Sequence[tuple[Row, PairedDifference]]) -> list[list[str]]:
    cells = []
    for row, found in pairs:
        metric = row.metric_label
        interval = ("—" if found.low is None or found.high is None else
                    f"{100 * found.difference:+.0f} [{100 * found.low:+.0f}, "
                    f"{100 * found.high:+.0f}] points")
        cells.append([row.strategy, row.label or "-", metric + (" *" if row.derived else ""),
                      interval, str(found.only_a), str(found.only_b), str(found.problems),
                      "yes" if found.shown else "no: spans 0"])
    return cells


def describe_row(row: Row) -> str:
    setting = f" {row.label}" if row.label else ""
    metric = row.metric_label
    return f"{row.strategy}{setting} ({metric})"


def _same(value: Any, wanted: Any) -> bool:
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return str(value).lower() == str(wanted).lower()


# -- the ledger's evidence for two strategies ------------------------------------------------
@dataclass(frozen=True)
class Evidence:
    """Two strategies met in a stored experiment: their rows and the paired difference."""

    experiment: str
    shipped: bool
    row: Row
    baseline: Row
    found: PairedDifference


def stored_evidence(ledger: Ledger, strategy: str, baseline: str,
                    model: str | None = None) -> list[Evidence]:
    """Every experiment in which both strategies have complete runs (of `model`, if given):
    each one's own answers (the first configuration of each), paired on shared problems."""
    def experiments_of(name: str) -> set[str]:
        runs = ledger.list_runs(strategy=name, model=model, status="complete")
        return {r.experiment for r in runs if r.experiment}

    shipped = ledger.experiments()
    found = []
    for experiment in sorted(experiments_of(strategy) & experiments_of(baseline)):
        rows = summarize(ledger, experiment)
        row, base = find_baseline(rows, strategy), find_baseline(rows, baseline)
        if row is not None and base is not None and row.problem_set == base.problem_set:
            found.append(Evidence(experiment, shipped.get(experiment, False), row, base,
                                  paired_difference(row.outcomes, base.outcomes)))
    return found
