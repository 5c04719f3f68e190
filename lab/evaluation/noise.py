"""The noise floor: one configuration run again with other seeds (or, for greedy decoding,
other batch placements), and how far its accuracy moves between the reruns.

A difference between two strategies smaller than the spread between reruns of one of them is
not a difference these problems can show. `lab eval --repeat K` runs K seeds and prints this
table; bench/noise.py measures greedy decoding alone against batched.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lab.evaluation.paired import PairedDifference, paired_difference
from lab.evaluation.report import Row, text_table

_SEED = re.compile(r"(?:,\s*)?\bseed=\d+")
RERUN_COLUMNS = ("strategy", "setting", "metric", "problems", "reruns", "accuracies", "mean",
                 "sd", "range", "problems that moved", "widest pair [95% CI]")


@dataclass
class Reruns:
    """One configuration's reruns on the same problems: their accuracies and how they part."""

    strategy: str
    setting: str  # the parameters that vary, seed left out
    metric: str  # "accuracy", "maj@4", ...
    names: list[str]  # each rerun: "seed=1", "alone", "batch 8"
    accuracies: list[float]
    problems: int  # shared by every rerun
    moved: int  # problems whose outcome was not the same in every rerun
    widest: PairedDifference  # the two reruns furthest apart, paired on their problems

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def sd(self) -> float:
        """Standard deviation of the accuracy between reruns (sample, n - 1)."""
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0

    @property
    def range(self) -> float:
        return max(self.accuracies) - min(self.accuracies)


def reruns(outcomes: Mapping[str, Mapping[str, float]], strategy: str = "", setting: str = "",
           metric: str = "accuracy") -> Reruns:
    """The reruns (name -> problem -> outcome 0..1), compared on the problems all of them
    ran."""
    if len(outcomes) < 2:
        raise ValueError("the noise floor needs at least two reruns")
    shared = sorted(set.intersection(*(set(o) for o in outcomes.values())))
    names = list(outcomes)
    accuracies = [math.fsum(outcomes[n][p] for p in shared) / len(shared) if shared else 0.0
                  for n in names]
    moved = sum(len({outcomes[n][p] for n in names}) > 1 for p in shared)
    pairs = [paired_difference({p: outcomes[a][p] for p in shared},
                               {p: outcomes[b][p] for p in shared})
             for a, b in itertools.combinations(names, 2)]
    widest = max(pairs, key=lambda d: abs(d.difference))
    return Reruns(strategy, setting, metric, names, accuracies, len(shared), moved, widest)


def seed_reruns(rows: Sequence[Row]) -> list[Reruns]:
    """Rows that differ only in their seed, grouped: every configuration run with two or
    more seeds (derived maj@k rows too, each k apart)."""
    groups: dict[tuple[str, ...], dict[str, Row]] = {}
    for row in rows:
        seed = row.params.get("seed")
        if seed is None or not row.outcomes:
            continue
        rest = tuple(f"{k}={v}" for k, v in sorted(row.params.items()) if k != "seed")
        key = (row.problem_set, row.model, row.strategy, row.metric_label, str(row.budget),
               *rest)
        groups.setdefault(key, {})[f"seed={seed}"] = row
    found = []
    for group in groups.values():
        if len(group) < 2:
            continue
        first = next(iter(group.values()))
        setting = _SEED.sub("", first.label).strip(", ") or "defaults"
        found.append(reruns({name: row.outcomes for name, row in group.items()},
                            first.strategy, setting, first.metric_label))
    return found


def rerun_cells(found: Sequence[Reruns]) -> list[list[str]]:
    return [[r.strategy, r.setting, r.metric, str(r.problems), ", ".join(r.names),
             " ".join(f"{a:.2f}" for a in r.accuracies), f"{r.mean:.3f}", f"{r.sd:.3f}",
             f"{100 * r.range:.0f} points", f"{r.moved}", _widest(r.widest)] for r in found]


def rerun_text(found: Sequence[Reruns]) -> str:
    lines = ["the same configuration rerun (the noise floor), on the problems every rerun ran:",
             *text_table(RERUN_COLUMNS, rerun_cells(found)),
             "a difference between strategies inside this range is not shown by these problems"]
    return "\n".join(lines)


def _widest(found: PairedDifference) -> str:
    if found.low is None or found.high is None:
        return f"{100 * found.difference:+.0f}"
    return f"{100 * found.difference:+.0f} [{100 * found.low:+.0f}, {100 * found.high:+.0f}]"
