"""The run ledger: every run the lab makes, stored whole and reopened exactly as it was.

    ledger = Ledger()                                   # config.database_url() by default
    recorder = ledger.recorder(experiment="sweep-1")    # starts the run on the first event
    trace = strategy.run(..., on_event=recorder)        # nodes are saved as they arrive
    trace.correct = grade(trace)
    ledger.finish_run(recorder.run_id, trace)           # final status, answer, grade

or, with the trace in hand before the run starts: `run_id = ledger.start_run(trace)` then
`ledger.recorder(run_id, trace)`. A run that raised should still be finished, with
`trace.status = TraceStatus.FAILED` and `trace.error` set. One Ledger may be shared by threads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from lab import __version__, config
from lab.store import db, migrations, schema
from lab.store.convert import (
    node_from_rows,
    params_key,
    problem_digest,
    problem_values,
    progress_values,
    save_nodes,
    trace_from_rows,
    utcnow,
)
from lab.store.errors import LedgerError, ReadOnlyRun, UnknownRun
from lab.store.export import Output, write_csv, write_jsonl
from lab.store.liveness import current_process, is_alive
from lab.store.queries import RunSummary, run_filters, summary_from_row, summary_select
from lab.store.recorder import Recorder
from lab.store.schema import (
    ExperimentRow,
    LedgerMeta,
    ModelRow,
    NodeRow,
    ProblemRow,
    RunRow,
    TokenRow,
)
from lab.trace import SOLUTION_KINDS, Node, Trace, TraceStatus

_IN_CHUNK = 500  # run ids per IN (...) list: SQLite limits the parameters of a statement
_GALLERY_LOCK_KEY = 0x6A11E7  # advisory lock serialising gallery imports on PostgreSQL


@dataclass(frozen=True)
class StoredRun:
    """A finished run as another ledger recorded it (the gallery's)."""

    experiment: str
    trace: Trace
    created: datetime  # naive UTC
    finished: datetime | None
    lab_version: str


class Ledger:
    def __init__(
        self, url: str | None = None, *, busy_timeout_s: float = 30.0, recover: bool = True
    ):
        """Open (and create or upgrade) the ledger at `url`, a SQLAlchemy URL; None means
        `config.database_url()`. With `recover`, runs left `running` by a process of this
        host that died are marked `interrupted`."""
        self._url = db.parse_url(url or config.database_url())
        self._busy_timeout_s = busy_timeout_s
        self._engine = db.open_engine(self._url, busy_timeout_s)
        self._writer = self._engine.execution_options(**{db.WRITE_OPTION: True})
        try:
            self._prepare_schema()
            if recover:
                self.recover_interrupted()
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def location(self) -> str:
        """Where the ledger lives: the SQLite file, or the URL without its password."""
        return db.display_url(self._url)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- writing runs ------------------------------------------------------------------
    def start_run(self, trace: Trace, experiment: str | None = None) -> int:
        """Store a new run (normally status `running`) with the nodes it has; its id."""
        me = current_process()
        now = utcnow()
        with self._session(write=True) as session:
            run = RunRow(
                experiment_id=self._writable_experiment(session, experiment)
                if experiment else None,
                strategy=trace.strategy,
                params=trace.params,
                params_key=params_key(trace.params),
                budget=trace.budget,
                seed=trace.seed,
                model_id=self._model_id(session, trace.model) if trace.model else None,
                problem_id=self._problem_id(session, trace),
                lab_version=__version__,
                created=now,
                pid=me.pid,
                hostname=me.hostname,
                process_start=me.start,
                pid_namespace=me.namespace,
                **progress_values(trace),
            )
            session.add(run)
            session.flush()
            save_nodes(session, run.id, trace.nodes)
            return run.id

    def recorder(
        self,
        run_id: int | None = None,
        trace: Trace | None = None,
        *,
        experiment: str | None = None,
        flush_interval_s: float = 0.5,
    ) -> Recorder:
        """An EventCallback that saves the trace as events arrive. Without `run_id` it starts
        the run (in `experiment`) on the first event; its id is then `recorder.run_id`."""
        return Recorder(self, run_id, trace, experiment=experiment,
                        flush_interval_s=flush_interval_s)

    def update_run(self, run_id: int, trace: Trace, nodes: Sequence[Node] = ()) -> None:
        """Save the run's status, answer, votes and compute, and these nodes."""
        with self._session(write=True) as session:
            result = session.execute(
                update(RunRow).where(RunRow.id == run_id).values(**progress_values(trace))
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise UnknownRun(run_id)
            save_nodes(session, run_id, nodes)

    def finish_run(self, run_id: int, trace: Trace) -> None:
        """Save the run whole: final status, answer, correctness, compute and every node.
        Call it again after grading (`trace.correct`); it overwrites."""
        self.update_run(run_id, trace, trace.nodes)

    def register_model(
        self,
        name: str,
        path: str | None = None,
        sha256: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """Record (or update) what a model name stands for; runs refer to models by name."""
        with self._session(write=True) as session:
            model_id = self._model_id(session, name)
            values: dict[str, Any] = {"path": path, "sha256": sha256, "details": metadata}
            values = {k: v for k, v in values.items() if v is not None}
            if values:
                session.execute(update(ModelRow).where(ModelRow.id == model_id).values(**values))
            return model_id

    def delete_run(self, run_id: int) -> None:
        """Delete a run and its trace; a run shipped with the lab (the gallery) is read-only."""
        with self._session(write=True) as session:
            shipped = session.scalar(
                select(ExperimentRow.shipped)
                .join(RunRow, RunRow.experiment_id == ExperimentRow.id)
                .where(RunRow.id == run_id))
            if shipped:
                raise ReadOnlyRun(f"run {run_id} is in the gallery shipped with the lab: "
                                  "read-only")
            if _delete_runs(session, [run_id]) == 0:
                raise UnknownRun(run_id)

    # -- runs recorded elsewhere (the gallery) -------------------------------------------
    def replace_shipped(self, names: Sequence[str], runs: Iterable[StoredRun],
                        mark: tuple[str, str], force: bool = False
                        ) -> tuple[int, list[str]] | None:
        """In one transaction: unless the ledger already carries `mark` (a meta key and
        value, e.g. the gallery file's digest), delete the shipped experiments and store
        `runs` as the shipped experiments `names`, skipping any name the user has for
        experiments of their own. How many runs were stored, and the names skipped; None
        when the mark was there. Two labs starting at once import once."""
        key, value = mark
        with self._session(write=True) as session:
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                {"key": _GALLERY_LOCK_KEY})
            if not force and self._meta(session, key) == value:
                return None
            shipped = select(ExperimentRow.id).where(ExperimentRow.shipped.is_(True))
            _delete_runs(session, list(session.scalars(
                select(RunRow.id).where(RunRow.experiment_id.in_(shipped)))))
            session.execute(delete(ExperimentRow).where(ExperimentRow.shipped.is_(True)))
            own = set(session.scalars(select(ExperimentRow.name)))
            for name in names:
                if name not in own:
                    session.add(ExperimentRow(name=name, created=utcnow(), shipped=True))
            session.flush()
            count = 0
            for run in runs:
                if run.experiment not in own:
                    self._store_finished(session, run)
                    count += 1
            session.merge(LedgerMeta(key=key, value=value))
            return count, [name for name in names if name in own]

    def meta_value(self, key: str) -> str | None:
        """A fact about the ledger kept in its meta table (None: not set)."""
        with self._session(write=False) as session:
            return self._meta(session, key)

    @staticmethod
    def _meta(session: Session, key: str) -> str | None:
        return session.scalar(select(LedgerMeta.value).where(LedgerMeta.key == key))

    def experiments(self) -> dict[str, bool]:
        """Every experiment's name and whether it was shipped with the lab, oldest first."""
        with self._session(write=False) as session:
            rows = session.execute(select(ExperimentRow.name, ExperimentRow.shipped)
                                   .order_by(ExperimentRow.id))
            return {name: bool(shipped) for name, shipped in rows}

    def _store_finished(self, session: Session, run: StoredRun) -> None:
        trace = run.trace
        row = RunRow(
            experiment_id=self._experiment_id(session, run.experiment),
            strategy=trace.strategy, params=trace.params, params_key=params_key(trace.params),
            budget=trace.budget, seed=trace.seed,
            model_id=self._model_id(session, trace.model) if trace.model else None,
            problem_id=self._problem_id(session, trace), lab_version=run.lab_version,
            created=run.created, **progress_values(trace),
        )
        row.updated = run.finished or run.created
        row.finished = run.finished
        session.add(row)
        session.flush()
        save_nodes(session, row.id, trace.nodes)

    def recover_interrupted(self) -> list[int]:
        """Mark `interrupted` the runs left `running` by processes that died; their ids. Runs
        written from another host or container are left alone: we cannot see its processes."""
        me = current_process()
        columns = (RunRow.id, RunRow.pid, RunRow.process_start, RunRow.hostname,
                   RunRow.pid_namespace)
        with self._session(write=False) as session:
            rows = session.execute(
                select(*columns).where(RunRow.status == str(TraceStatus.RUNNING))
            ).all()
        dead = [
            run_id
            for run_id, pid, start, hostname, namespace in rows
            if me.can_see(hostname, namespace) and (pid is None or not is_alive(pid, start))
        ]
        if dead:
            with self._session(write=True) as session:
                session.execute(
                    update(RunRow)
                    .where(RunRow.id.in_(dead), RunRow.status == str(TraceStatus.RUNNING))
                    .values(status=str(TraceStatus.INTERRUPTED), updated=utcnow())
                )
        return dead

    # -- reading runs ------------------------------------------------------------------
    def load_trace(self, run_id: int) -> Trace:
        """The stored run as the Trace it was (equal to the one saved)."""
        with self._session(write=False) as session:
            run = session.get(RunRow, run_id)
            if run is None:
                raise UnknownRun(run_id)
            problem = session.get(ProblemRow, run.problem_id)
            assert problem is not None  # a foreign key
            model = session.get(ModelRow, run.model_id) if run.model_id is not None else None
            tokens = {t.node_id: t for t in session.scalars(
                select(TokenRow).where(TokenRow.run_id == run_id))}
            node_rows = session.scalars(
                select(NodeRow).where(NodeRow.run_id == run_id).order_by(NodeRow.node_id))
            nodes = [node_from_rows(row, tokens.get(row.node_id)) for row in node_rows]
            return trace_from_rows(run, problem, model.name if model else "", nodes)

    def solution_nodes(self, run_ids: Iterable[int]) -> dict[int, list[Node]]:
        """Per run, its chains and revisions without their tokens (to count the cut ones)."""
        ids = list(run_ids)
        found: dict[int, list[Node]] = {run_id: [] for run_id in ids}
        kinds = [str(kind) for kind in SOLUTION_KINDS]
        with self._session(write=False) as session:
            for start in range(0, len(ids), _IN_CHUNK):
                rows = session.scalars(
                    select(NodeRow)
                    .where(NodeRow.run_id.in_(ids[start : start + _IN_CHUNK]),
                           NodeRow.kind.in_(kinds))
                    .order_by(NodeRow.run_id, NodeRow.node_id))
                for row in rows:
                    found[row.run_id].append(node_from_rows(row, None))
        return found

    def get_run(self, run_id: int) -> RunSummary:
        runs = self.list_runs(run_ids=[run_id])
        if not runs:
            raise UnknownRun(run_id)
        return runs[0]

    def list_runs(
        self,
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
        shipped: bool | None = None,
        limit: int | None = None,
    ) -> list[RunSummary]:
        """Runs matching every filter given (None: any), newest first. `since`/`until` bound
        the creation time (naive means UTC); `shipped` picks the gallery's runs (True) or the
        user's (False)."""
        conditions = run_filters(
            run_ids=run_ids, strategy=strategy, model=model, problem_set=problem_set,
            problem_id=problem_id, status=status, correct=correct, experiment=experiment,
            since=since, until=until, shipped=shipped,
        )
        query = summary_select().where(*conditions).order_by(RunRow.id.desc()).limit(limit)
        with self._session(write=False) as session:
            return [summary_from_row(row) for row in session.execute(query)]

    def runs_in_experiment(self, name: str) -> list[RunSummary]:
        return self.list_runs(experiment=name)

    def experiment_id(self, name: str, create: bool = True) -> int | None:
        """The experiment's id; a missing one is created, or None when `create` is False."""
        with self._session(write=create) as session:
            if not create:
                return session.scalar(select(ExperimentRow.id).where(ExperimentRow.name == name))
            return self._experiment_id(session, name)

    def find_run(
        self,
        *,
        strategy: str,
        params: dict[str, Any],
        problem_set: str,
        problem_id: str,
        model: str,
        seed: int,
        budget: int | None = None,
        experiment: str | None = None,
    ) -> int | None:
        """The newest complete run of exactly this cell (None: not stored yet), so an
        evaluation can skip what it already has. `experiment` None searches every run."""
        conditions = run_filters(
            strategy=strategy, model=model, problem_set=problem_set, problem_id=problem_id,
            status=str(TraceStatus.COMPLETE), experiment=experiment,
        )
        budget_condition = RunRow.budget.is_(None) if budget is None else RunRow.budget == budget
        query = (
            summary_select()
            .with_only_columns(RunRow.id)
            .where(*conditions, RunRow.params_key == params_key(params), RunRow.seed == seed,
                   budget_condition)
            .order_by(RunRow.id.desc())
            .limit(1)
        )
        with self._session(write=False) as session:
            return session.scalar(query)

    # -- export ------------------------------------------------------------------------
    def export_jsonl(self, out: Output, run_ids: Iterable[int] | None = None,
                     **filters: Any) -> int:
        """Write the runs (all, or those chosen by ids and list_runs filters) with their whole
        traces, one JSON object a line, oldest first; how many."""
        runs = self.list_runs(run_ids=run_ids, **filters)[::-1]
        return write_jsonl(out, runs, self.load_trace)

    def export_csv(self, out: Output, run_ids: Iterable[int] | None = None,
                   **filters: Any) -> int:
        """Write the runs as a flat CSV, one row per run, oldest first; how many."""
        return write_csv(out, self.list_runs(run_ids=run_ids, **filters)[::-1])

    # -- internals ---------------------------------------------------------------------
    @contextmanager
    def _session(self, write: bool) -> Iterator[Session]:
        """One transaction; SQLite writers take the write lock at its start, and any database
        error comes out as a one-line LedgerError."""
        engine = self._writer if write else self._engine
        try:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise LedgerError(db.describe(exc, self._url, self._busy_timeout_s)) from exc

    def _prepare_schema(self) -> None:
        try:
            with self._engine.connect() as conn:
                version = migrations.stored_version(conn)
            migrations.check_not_newer(version, self.location)
            if version != schema.SCHEMA_VERSION:
                with self._writer.begin() as conn:
                    migrations.upgrade(conn, self.location)
        except SQLAlchemyError as exc:
            raise LedgerError(db.describe(exc, self._url, self._busy_timeout_s)) from exc

    def _experiment_id(self, session: Session, name: str) -> int:
        return _get_or_create(session, ExperimentRow, {"name": name}, {"created": utcnow()})

    def _writable_experiment(self, session: Session, name: str) -> int:
        """The experiment's id for a new run; a shipped one (the gallery) takes none."""
        if session.scalar(select(ExperimentRow.shipped).where(ExperimentRow.name == name)):
            raise ReadOnlyRun(f"experiment {name!r} is in the gallery shipped with the lab: "
                              "read-only; store your runs under another name")
        return self._experiment_id(session, name)

    def _model_id(self, session: Session, name: str) -> int:
        return _get_or_create(session, ModelRow, {"name": name}, {"details": {}})

    def _problem_id(self, session: Session, trace: Trace) -> int:
        values = problem_values(trace.problem)
        return _get_or_create(session, ProblemRow, {"digest": problem_digest(trace.problem)},
                              values)


def _delete_runs(session: Session, run_ids: Sequence[int]) -> int:
    """Delete these runs with their nodes and tokens; how many runs there were."""
    deleted = 0
    for start in range(0, len(run_ids), _IN_CHUNK):
        chunk = list(run_ids[start : start + _IN_CHUNK])
        session.execute(delete(TokenRow).where(TokenRow.run_id.in_(chunk)))
        session.execute(delete(NodeRow).where(NodeRow.run_id.in_(chunk)))
        result = session.execute(delete(RunRow).where(RunRow.id.in_(chunk)))
        deleted += result.rowcount  # type: ignore[attr-defined]
    return deleted


def _get_or_create(
    session: Session, table: type[Any], key: dict[str, Any], values: dict[str, Any]
) -> int:
    """The id of the row matching `key`, inserted with `values` if missing. Safe when another
    writer inserts the same row at the same time (PostgreSQL): its row is used."""
    query = select(table.id).filter_by(**key)
    found = session.scalar(query)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            row = table(**{**values, **key})
            session.add(row)
        return row.id
    except IntegrityError:
        return session.execute(query).scalar_one()
