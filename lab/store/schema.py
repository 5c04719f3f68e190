"""The ledger's tables (SQLAlchemy 2.0 typed ORM). Plain columns for what users query, JSON text
for what only the lab reads back, packed bytes for per-token numbers.

Changing a table means bumping SCHEMA_VERSION and adding a migration in `migrations.py`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 3  # 2: runs.cached_prompt_tokens, verdict_tokens, generated_by; 3: shipped


class JsonText(TypeDecorator[Any]):
    """JSON kept as text. Unlike the JSON type it stores NaN and ±Infinity (log-probs and
    scores can be -inf) on every backend, PostgreSQL included."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


class Base(DeclarativeBase):
    pass


class LedgerMeta(Base):
    """Key/value facts about the database itself, e.g. `schema_version`."""

    __tablename__ = "ledger_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    path: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    # "metadata" is taken by the declarative base, so the attribute has another name
    details: Mapped[dict[str, Any]] = mapped_column("metadata", JsonText, default=dict)


class ProblemRow(Base):
    """One problem exactly as a run saw it. The same (set, key) with a different question or
    gold (a user's own question, an edited set) gets its own row, told apart by `digest`."""

    __tablename__ = "problems"
    __table_args__ = (Index("ix_problems_set_key", "problem_set", "problem_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    problem_set: Mapped[str] = mapped_column(Text)  # Problem.source
    problem_key: Mapped[str] = mapped_column(Text)  # Problem.id
    question: Mapped[str] = mapped_column(Text)
    gold: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    difficulty: Mapped[float | None] = mapped_column(Double)
    details: Mapped[dict[str, Any]] = mapped_column("metadata", JsonText, default=dict)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the whole problem


class ExperimentRow(Base):
    """A named group of runs, e.g. one evaluation sweep. A shipped one came with the lab (the
    gallery of measured experiments): read-only, never mixed with the user's runs."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime)  # UTC
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="SET NULL"), index=True
    )
    strategy: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JsonText, default=dict)
    params_key: Mapped[str] = mapped_column(Text)  # canonical JSON of params, for equality
    budget: Mapped[int | None] = mapped_column(BigInteger)
    seed: Mapped[int] = mapped_column(BigInteger)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"), index=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    final_answer: Mapped[str | None] = mapped_column(Text)
    correct: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    votes: Mapped[dict[str, float]] = mapped_column(JsonText, default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column(JsonText, default=dict)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    generated_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    engine_calls: Mapped[int] = mapped_column(Integer, default=0)
    wall_s: Mapped[float] = mapped_column(Double, default=0.0)
    cached_prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    verdict_tokens: Mapped[int] = mapped_column(BigInteger, default=0)  # self-verify, judge
    generated_by: Mapped[dict[str, int]] = mapped_column(JsonText, default=dict)
    lab_version: Mapped[str] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(DateTime, index=True)  # UTC
    updated: Mapped[datetime] = mapped_column(DateTime)  # UTC, last write
    finished: Mapped[datetime | None] = mapped_column(DateTime)  # UTC
    # who is writing the run, to tell a live run from one whose process died
    pid: Mapped[int | None] = mapped_column(Integer)
    hostname: Mapped[str | None] = mapped_column(String(255))
    process_start: Mapped[str | None] = mapped_column(String(32))  # guards against pid reuse
    pid_namespace: Mapped[str | None] = mapped_column(String(64))  # containers share hostnames


class NodeRow(Base):
    __tablename__ = "trace_nodes"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    node_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent: Mapped[int | None] = mapped_column(Integer)  # node_id of the parent, same run
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str | None] = mapped_column(Text)
    answer_start: Mapped[int | None] = mapped_column(Integer)
    answer_end: Mapped[int | None] = mapped_column(Integer)
    scores: Mapped[dict[str, float]] = mapped_column(JsonText, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    meta: Mapped[dict[str, Any]] = mapped_column(JsonText, default=dict)
    token_count: Mapped[int] = mapped_column(Integer, default=0)


class TokenRow(Base):
    """A node's tokens, packed: see `lab.store.tokens` for the byte layout."""

    __tablename__ = "node_tokens"
    __table_args__ = (
        ForeignKeyConstraint(
            ["run_id", "node_id"],
            ["trace_nodes.run_id", "trace_nodes.node_id"],
            ondelete="CASCADE",
        ),
    )

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ids: Mapped[bytes] = mapped_column(LargeBinary)  # int32 little-endian
    logprobs: Mapped[bytes] = mapped_column(LargeBinary)  # float64 little-endian
    texts: Mapped[list[str]] = mapped_column(JsonText)
    top: Mapped[list[list[list[Any]]] | None] = mapped_column(JsonText)  # per token [[text, lp]]
    entropy: Mapped[bytes | None] = mapped_column(LargeBinary)  # float64, NaN = unknown
    self_certainty: Mapped[bytes | None] = mapped_column(LargeBinary)  # float64, NaN = unknown
