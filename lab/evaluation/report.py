"""The scaling table of an experiment, computed from its stored runs and nothing else.

One row per configuration (a strategy with all its parameters and budget) over the newest
complete run of each problem: accuracy is the share of graded runs whose final answer was
right, with a Wilson 95% interval. A configuration whose runs carry a ladder of k (a
resampled sweep over n) also gives derived rows: maj@k or best@k for every k below its n,
and pass@k for every k, estimated from the runs' chains (see estimators). A derived row's
interval is the Wilson interval of its expected number of right answers; its `spread` is
the standard deviation of what one real k-sample run per problem would measure; its tokens
and wall time are the k/N share of the runs it comes from. `% cut` is the share of the
runs' chains and revisions that ended at their token cap (a derived row: its runs' share).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lab.evaluation.estimators import (
    Chain,
    Estimate,
    best_at_k,
    chains_pass_at_k,
    maj_at_k,
    single_run_sd,
    wilson_interval,
)
from lab.evaluation.resample import chains_of, pick_of
from lab.store.convert import params_key
from lab.store.ledger import Ledger
from lab.store.queries import RunSummary
from lab.trace import Node, Trace, TraceStatus, solutions

ConfigKey = tuple[str, str, str, str, int | None]  # model, set, strategy, params, budget
ESTIMATORS: dict[str, Callable[[Sequence[Chain], int], Estimate]] = {
    "maj": maj_at_k,
    "best": best_at_k,
    "pass": chains_pass_at_k,
}


@dataclass
class Row:
    problem_set: str
    model: str
    strategy: str
    label: str  # the parameters that vary between this strategy's rows, e.g. "n=4"
    metric: str  # "accuracy" (the runs' own answers), "maj@k", "best@k" or "pass@k"
    derived: bool  # estimated from the chains of larger runs, not run as such
    problems: int  # graded problems behind the row
    accuracy: float | None
    low: float | None  # Wilson 95% interval
    high: float | None
    tokens: float  # mean generated tokens per problem
    wall_s: float  # total wall time of the runs (derived: their k/N share)
    cut_share: float | None = None  # chains and revisions cut at their token cap (None: none)
    params: dict[str, Any] = field(default_factory=dict)
    budget: int | None = None
    k: int | None = None  # derived rows: the subset size
    spread: float | None = None  # derived rows: sd of one real k-sample run's accuracy
    exact: bool = True  # derived rows: enumerated exactly rather than by Monte Carlo
    run_ids: list[int] = field(default_factory=list)

    @property
    def series(self) -> str:
        """The line of the figure the row belongs to."""
        return f"{self.strategy} pass@k" if self.metric == "pass@k" else self.strategy

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(ledger: Ledger, experiment: str,
              ladders: Mapping[str, Sequence[int]] | None = None) -> list[Row]:
    """The experiment's rows. `ladders` adds k values to derive, per strategy, beyond the
    ones its runs were stored with."""
    configs = _configs(ledger.runs_in_experiment(experiment))
    labels = _labels(configs)
    solutions = ledger.solution_nodes(r.id for runs in configs.values() for r in runs)
    rows: list[Row] = []
    for key, runs in configs.items():
        cut = cut_share([n for r in runs for n in solutions[r.id]])
        config_rows = [_measured_row(key, runs, labels[key])]
        if pick_of(key[2]) is not None:
            extra = (ladders or {}).get(key[2], ())
            config_rows += _derived_rows(ledger, key, runs, labels[key], extra)
        for row in config_rows:
            row.cut_share = cut
        rows += config_rows
    first: dict[str, int] = {}  # strategies in the order the experiment first ran them
    for row in sorted(rows, key=lambda r: min(r.run_ids)):
        first.setdefault(row.strategy, len(first))
    rows.sort(key=lambda r: (r.problem_set, r.model, first[r.strategy], r.metric == "pass@k",
                             r.tokens))
    return rows


def cut_share(nodes: Sequence[Node]) -> float | None:
    """The share of the solutions among `nodes` that were cut at their token cap."""
    found = solutions(nodes)
    return sum(n.cut for n in found) / len(found) if found else None


def _configs(runs: Sequence[RunSummary]) -> dict[ConfigKey, list[RunSummary]]:
    """The newest complete run of each problem, grouped by configuration."""
    newest: dict[tuple[ConfigKey, str], RunSummary] = {}
    for run in runs:  # newest first
        if run.status == TraceStatus.COMPLETE:
            newest.setdefault((_key(run), run.problem_id), run)
    configs: dict[ConfigKey, list[RunSummary]] = {}
    for (key, _), run in sorted(newest.items(), key=lambda item: item[1].id):
        configs.setdefault(key, []).append(run)
    return configs


def _key(run: RunSummary) -> ConfigKey:
    return run.model, run.problem_set, run.strategy, params_key(run.params), run.budget


def _labels(configs: Mapping[ConfigKey, list[RunSummary]]) -> dict[ConfigKey, dict[str, Any]]:
    """Per configuration, the settings that differ among its strategy's configurations
    (always `n` for a resampled strategy, whose rows differ in it)."""
    siblings: dict[tuple[str, str, str], list[ConfigKey]] = {}
    for key in configs:
        siblings.setdefault(key[:3], []).append(key)
    labels = {}
    for keys in siblings.values():
        settings = [{**configs[k][0].params, "budget": k[4]} for k in keys]
        varying = {name for s in settings for name in s
                   if len({repr(other.get(name)) for other in settings}) > 1}
        if pick_of(keys[0][2]) is not None:
            varying.add("n")
        for key, s in zip(keys, settings, strict=True):
            labels[key] = {name: s.get(name) for name in sorted(varying)}
    return labels


def _measured_row(key: ConfigKey, runs: list[RunSummary], label: dict[str, Any]) -> Row:
    graded = [r for r in runs if r.correct is not None]
    right = sum(bool(r.correct) for r in graded)
    low, high = wilson_interval(right, len(graded)) if graded else (None, None)
    return Row(
        problem_set=key[1], model=key[0], strategy=key[2], label=_text(label),
        metric="accuracy", derived=False, problems=len(graded),
        accuracy=right / len(graded) if graded else None, low=low, high=high,
        tokens=sum(r.generated_tokens for r in runs) / len(runs),
        wall_s=sum(r.wall_s for r in runs), params=runs[0].params, budget=key[4],
        run_ids=[r.id for r in runs],
    )


def _derived_rows(ledger: Ledger, key: ConfigKey, runs: list[RunSummary],
                  label: dict[str, Any], extra: Sequence[int]) -> list[Row]:
    traces = [ledger.load_trace(r.id) for r in runs]
    ladder = {int(k) for t in traces for k in (t.meta.get("eval") or {}).get("ladder", ())}
    n = int(runs[0].params.get("n", 0))
    ladder = sorted(k for k in ladder | {int(k) for k in extra} if 0 < k <= n)
    if not ladder:
        return []
    graded = [(t, chains_of(t)) for t in traces if t.problem.gold is not None]
    pick = pick_of(key[2]) or "maj"
    rows = [_derived_row(key, runs, label, graded, pick, k) for k in ladder if k < n]
    rows += [_derived_row(key, runs, label, graded, "pass", k) for k in ladder]
    return rows


def _derived_row(key: ConfigKey, runs: list[RunSummary], label: dict[str, Any],
                 graded: list[tuple[Trace, list[Chain]]], pick: str, k: int) -> Row:
    estimator = ESTIMATORS[pick]
    chances, tokens, wall, exact = [], [], 0.0, True
    for trace, chains in graded:
        size = min(k, len(chains))
        share = size / len(chains) if chains else 0.0
        estimate = estimator(chains, size) if chains else Estimate(0.0, True)
        chances.append(estimate.value)
        exact = exact and estimate.exact
        tokens.append(trace.compute.generated_tokens * share)
        wall += trace.compute.wall_s * share
    expected = sum(chances)
    low, high = wilson_interval(expected, len(graded)) if graded else (None, None)
    return Row(
        problem_set=key[1], model=key[0], strategy=key[2], label=_text({**label, "n": k}),
        metric=f"{pick}@k", derived=True, problems=len(graded),
        accuracy=expected / len(graded) if graded else None, low=low, high=high,
        tokens=sum(tokens) / len(tokens) if tokens else 0.0, wall_s=wall,
        params={**runs[0].params, "n": k}, budget=key[4], k=k,
        spread=single_run_sd(chances), exact=exact, run_ids=[r.id for r in runs],
    )


def _text(label: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in label.items())


# -- text ----------------------------------------------------------------------------------
COLUMNS = ("strategy", "setting", "metric", "accuracy [95% CI]", "± sd", "tokens/problem",
           "% cut", "wall s", "problems")


def table_cells(rows: Sequence[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the table (a `set` and a `model` column when they vary)."""
    many_sets = len({r.problem_set for r in rows}) > 1
    many_models = len({r.model for r in rows}) > 1
    header = (["set"] if many_sets else []) + (["model"] if many_models else []) + list(COLUMNS)
    body = []
    for r in rows:
        metric = r.metric.replace("@k", f"@{r.k}") if r.k is not None else r.metric
        cells = [
            r.strategy, r.label or "-", metric + (" *" if r.derived else ""),
            _interval(r), f"{r.spread:.3f}" if r.spread is not None else "",
            f"{r.tokens:.0f}", _percent(r.cut_share),
            f"{'~' if r.derived else ''}{r.wall_s:.0f}", str(r.problems),
        ]
        body.append(([r.problem_set] if many_sets else []) + ([r.model] if many_models else [])
                    + cells)
    return header, body


def table_text(rows: Sequence[Row]) -> str:
    header, body = table_cells(rows)
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(r.derived for r in rows):
        lines.append("* derived from the chains of the largest n (sample reuse)")
    return "\n".join(lines)


def table_markdown(rows: Sequence[Row]) -> str:
    header, body = table_cells(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"


def _interval(row: Row) -> str:
    if row.accuracy is None or row.low is None or row.high is None:
        return "no graded runs"
    return f"{row.accuracy:.3f} [{row.low:.3f}, {row.high:.3f}]"
