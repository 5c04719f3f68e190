"""The ladder: one problem set climbed step by step, from answering at once to a vote of many
chains, read from a stored experiment (the gallery's). Each step's accuracy, interval and
tokens are the experiment's own table rows (`summarize`, what `lab eval --json` prints), and
`rungs` shows one problem at every step. The steps are data (`data/ladder.json`, and one
`data/ladder-NAME.json` for each further ladder, e.g. MATH-500's), so no strategy is named
here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import config
from lab.evaluation.estimators import maj_at_k
from lab.evaluation.report import Row
from lab.evaluation.resample import chains_of
from lab.store.ledger import Ledger
from lab.trace import Node, Trace, TraceStatus

PICK = "pick"  # a step's metric: the answer its configuration picks (a run's own, or maj@k)
ORACLE = "pass@k"


def ladder_file() -> Path:
    return config.data_dir() / "ladder.json"


def ladder_files() -> list[Path]:
    """Every ladder's file: `ladder.json` first, then `ladder-*.json` by name."""
    more = sorted(config.data_dir().glob("ladder-*.json"))
    return [path for path in [ladder_file(), *more] if path.is_file()]


def load_specs() -> list[LadderSpec]:
    """Every readable ladder (see ladder_files)."""
    return [spec for path in ladder_files() if (spec := load_spec(path)) is not None]


@dataclass(frozen=True)
class StepSpec:
    title: str
    strategy: str
    k: int | None = None  # chains voted (None: the run's own answer, e.g. one greedy chain)
    metric: str = PICK
    what: str = ""

    def matches(self, row: Row) -> bool:
        if row.strategy != self.strategy or (row.metric == ORACLE) != (self.metric == ORACLE):
            return False
        if self.k is None:
            return row.metric == "accuracy"
        return row_k(row) == self.k


@dataclass(frozen=True)
class LadderSpec:
    experiment: str
    title: str
    steps: list[StepSpec]
    oracle: StepSpec | None = None
    intro: str = ""
    command: str = ""  # the `lab eval` that measures the experiment again

    def ladders(self) -> dict[str, list[int]]:
        """The k values its steps derive, per strategy (for `summarize`): a vote of k chains
        read from runs of more chains, whether or not the runs were stored with that k."""
        found: dict[str, list[int]] = {}
        for step in [*self.steps, *([self.oracle] if self.oracle else [])]:
            if step.k is not None:
                found.setdefault(step.strategy, []).append(step.k)
        return found


@dataclass(frozen=True)
class Step:
    spec: StepSpec
    row: Row | None  # None: the experiment has no such row


@dataclass
class Rung:
    """One step on one problem: the run behind it and what it says there."""

    spec: StepSpec
    trace: Trace
    run_id: int
    node: Node | None  # the chain to show; None: the run has none
    answer: str | None
    correct: bool | None  # a vote of k (k below the run's n): None, see `chance`
    chance: float | None = None  # the share of k-subsets of the run's chains whose vote is right
    params: dict[str, Any] = field(default_factory=dict)  # the settings that rerun this step


def row_k(row: Row) -> int | None:
    """The number of chains behind a row: k of a derived row, else its runs' n."""
    if row.k is not None:
        return row.k
    n = row.params.get("n")
    return n if isinstance(n, int) else None


def load_spec(path: Path | None = None) -> LadderSpec | None:
    """The ladder's steps; None when the file is absent or unreadable."""
    try:
        data = json.loads((path or ladder_file()).read_text())
        steps = [StepSpec(**step) for step in data["steps"]]
        oracle = StepSpec(**data["oracle"]) if data.get("oracle") else None
        return LadderSpec(str(data["experiment"]), str(data.get("title", "")), steps, oracle,
                          str(data.get("intro", "")), str(data.get("command", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ladder_steps(spec: LadderSpec, rows: list[Row]) -> list[Step]:
    """Each step with its row of the experiment's table (the oracle last, if any)."""
    specs = [*spec.steps, *([spec.oracle] if spec.oracle else [])]
    return [Step(step, next((r for r in rows if step.matches(r)), None)) for step in specs]


def rungs(ledger: Ledger, steps: list[Step], problem_id: str) -> list[Rung]:
    """Every measured step on one problem (the oracle left out)."""
    found = []
    for step in steps:
        if step.row is None or step.spec.metric == ORACLE:
            continue
        run = next((r for r in ledger.list_runs(run_ids=step.row.run_ids)
                    if r.problem_id == problem_id and r.status == TraceStatus.COMPLETE), None)
        if run is not None:
            found.append(_rung(step.spec, ledger.load_trace(run.id), run.id))
    return found


def _rung(spec: StepSpec, trace: Trace, run_id: int) -> Rung:
    chains = trace.solutions()
    n = trace.params.get("n")
    params = dict(trace.params)
    if spec.k is None or spec.k == n:  # the run itself
        shown = next((c for c in chains if c.chosen), chains[0] if chains else None)
        return Rung(spec, trace, run_id, shown, trace.final_answer, trace.correct,
                    params=params)
    params["n"] = spec.k
    estimates = chains_of(trace)
    if spec.k == 1:  # one sampled chain: the run's first
        first = chains[0] if chains else None
        right = estimates[0].correct if estimates else None
        return Rung(spec, trace, run_id, first, first.answer if first else None, right,
                    params=params)
    chance = maj_at_k(estimates, spec.k).value if estimates else None
    return Rung(spec, trace, run_id, None, None, None, chance, params)


def climbing_problems(steps: list[Step]) -> list[str]:
    """Problems where the first step is wrong and the last right (read from the rows'
    per-problem outcomes); first those where the greedy steps between were wrong too (only
    the vote got there)."""
    measured = [s for s in steps if s.row is not None and s.spec.metric != ORACLE]
    if len(measured) < 2:
        return []
    first, last = measured[0].row, measured[-1].row
    assert first is not None and last is not None
    greedy = {problem: right for s in measured[1:-1] if s.row is not None and s.spec.k is None
              for problem, right in s.row.outcomes.items()}
    climbed = [problem for problem, right in last.outcomes.items()
               if right == 1.0 and first.outcomes.get(problem) == 0.0]
    return sorted(climbed, key=lambda problem: greedy.get(problem) == 1.0)
