"""Listing and filtering runs: one row per run with what a table or a plot needs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, select

from lab.store.schema import ExperimentRow, ModelRow, ProblemRow, RunRow


@dataclass(frozen=True)
class RunSummary:
    id: int
    created: datetime  # UTC
    status: str
    strategy: str
    model: str
    problem_set: str
    problem_id: str
    answer: str | None
    gold: str | None
    correct: bool | None
    params: dict[str, Any]
    budget: int | None
    seed: int
    prompt_tokens: int
    generated_tokens: int
    engine_calls: int
    wall_s: float
    experiment: str | None
    lab_version: str
    finished: datetime | None  # UTC
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: timestamps as ISO 8601 strings."""
        data = asdict(self)
        data["created"] = self.created.isoformat()
        data["finished"] = self.finished.isoformat() if self.finished else None
        return data


def summary_select() -> Select[Any]:
    return (
        select(
            RunRow,
            ProblemRow.problem_set,
            ProblemRow.problem_key,
            ProblemRow.gold,
            ModelRow.name,
            ExperimentRow.name,
        )
        .join(ProblemRow, RunRow.problem_id == ProblemRow.id)
        .outerjoin(ModelRow, RunRow.model_id == ModelRow.id)
        .outerjoin(ExperimentRow, RunRow.experiment_id == ExperimentRow.id)
    )


def summary_from_row(row: Row[Any]) -> RunSummary:
    run, problem_set, problem_key, gold, model, experiment = row
    return RunSummary(
        id=run.id,
        created=_aware(run.created),
        status=run.status,
        strategy=run.strategy,
        model=model or "",
        problem_set=problem_set,
        problem_id=problem_key,
        answer=run.final_answer,
        gold=gold,
        correct=run.correct,
        params=dict(run.params or {}),
        budget=run.budget,
        seed=run.seed,
        prompt_tokens=run.prompt_tokens,
        generated_tokens=run.generated_tokens,
        engine_calls=run.engine_calls,
        wall_s=run.wall_s,
        experiment=experiment,
        lab_version=run.lab_version,
        finished=_aware(run.finished) if run.finished else None,
        error=run.error,
    )


def run_filters(
    *,
    run_ids: Iterable[int] | None = None,
    strategy: str | None = None,
    model: str | None = None,
    problem_set: str | None = None,
    problem_id: str | None = None,
    status: str | Sequence[str] | None = None,
    correct: bool | None = None,
    experiment: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ColumnElement[bool]]:
    """SQL conditions for the filters given; None means "any"."""
    conditions: list[ColumnElement[bool]] = []
    if run_ids is not None:
        conditions.append(RunRow.id.in_(list(run_ids)))
    if strategy is not None:
        conditions.append(RunRow.strategy == strategy)
    if model is not None:
        conditions.append(ModelRow.name == model)
    if problem_set is not None:
        conditions.append(ProblemRow.problem_set == problem_set)
    if problem_id is not None:
        conditions.append(ProblemRow.problem_key == problem_id)
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        conditions.append(RunRow.status.in_([str(s) for s in statuses]))
    if correct is not None:
        conditions.append(RunRow.correct.is_(correct))
    if experiment is not None:
        conditions.append(ExperimentRow.name == experiment)
    if since is not None:
        conditions.append(RunRow.created >= _naive_utc(since))
    if until is not None:
        conditions.append(RunRow.created < _naive_utc(until))
    return conditions


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


def _naive_utc(moment: datetime) -> datetime:
    """Stored timestamps are naive UTC; an aware bound is converted, a naive one taken as UTC."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
