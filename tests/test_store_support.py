"""Helpers for the ledger's tests (no tests here): hand-built traces that cover every node
kind and status, and the databases to run against (SQLite always, PostgreSQL when
LAB_TEST_POSTGRES_URL is set, e.g. by `export LAB_TEST_POSTGRES_URL=$(bash .ci/postgres.sh)`).
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lab.engine.base import Token
from lab.tasks.problem import AnswerKind, Problem
from lab.trace import (
    Compute,
    EventKind,
    Node,
    NodeKind,
    NodeStatus,
    Trace,
    TraceEvent,
    TraceStatus,
)

BACKENDS = ["sqlite", "postgres"]
POSTGRES_ENV = "LAB_TEST_POSTGRES_URL"


def backend_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty ledger URL: a SQLite file, or a new PostgreSQL schema dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    from sqlalchemy import create_engine, text

    from lab.store.db import parse_url

    schema = f"lab_test_{uuid.uuid4().hex[:12]}"
    url = parse_url(base)
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def sample_problem(index: int = 0, source: str = "arith") -> Problem:
    return Problem(
        id=f"p{index}",
        question=f"What is {index} + 2? Ünïcödé ✓",
        gold=str(index + 2),
        kind=AnswerKind.NUMBER,
        source=source,
        difficulty=0.25,
        metadata={"split": "test", "tags": ["a", "b"]},
    )


def sample_tokens(count: int, offset: int = 0) -> list[Token]:
    tokens = []
    for i in range(count):
        top = [(f"alt{i}", -0.5 - i), ("\n", -math.inf)] if i % 2 == 0 else []
        tokens.append(Token(
            id=offset + i,
            text=f" tok{i}" if i % 3 else "é",
            logprob=-0.1234567890123 * (i + 1),
            top=top,
            entropy=0.5 + i if i % 2 == 0 else None,
            self_certainty=1.25 * i if i % 4 == 0 else None,
        ))
    return tokens


def sample_trace(seed: int = 0, problem: Problem | None = None, chains: int = 2) -> Trace:
    """A finished trace with a node of every kind and every status."""
    trace = Trace(
        strategy="hand-built",
        problem=problem or sample_problem(seed),
        params={"n": chains, "temperature": 0.7, "nested": {"k": [1, 2]}, "flag": True},
        budget=512,
        model="smollm2-135m",
        seed=seed,
    )
    kinds = list(NodeKind)
    statuses = list(NodeStatus)
    for i, kind in enumerate(kinds):
        trace.nodes.append(Node(
            id=i,
            parent=None if i == 0 else (i - 1) // 2,
            kind=kind,
            text=f"{kind} text {i}\nsecond line",
            tokens=sample_tokens(i % 4 * 3, offset=i * 100),
            answer=str(i) if i % 2 else None,
            answer_span=(0, 1) if i % 2 else None,
            scores={"prm": 0.5 + i / 100, "logprob": -math.inf} if i % 3 == 0 else {},
            status=statuses[i % len(statuses)],
            chosen=i % 2 == 0,
            finish_reason="stop" if i % 2 else None,
            meta={"depth": i, "visits": [i, i + 1], "seed": seed},
        ))
    trace.votes = {"3": 2.0, "4": 0.5}
    trace.final_answer = "3"
    trace.reason = "majority vote"
    trace.compute = Compute(prompt_tokens=40, generated_tokens=321, engine_calls=5, wall_s=1.5)
    trace.status = TraceStatus.COMPLETE
    trace.correct = seed % 2 == 0
    trace.meta = {"summary": {"best": 3}}
    return trace


def replay(final: Trace, on_event: Callable[[TraceEvent], None]) -> Trace:
    """Emit the events a strategy would while building `final`: a fresh trace grows node by
    node and token by token, ending equal to `final`. Returns the grown trace."""
    live = Trace(strategy=final.strategy, problem=final.problem, params=final.params,
                 budget=final.budget, model=final.model, seed=final.seed)
    on_event(TraceEvent(EventKind.STARTED, live))
    for done in final.nodes:
        node = replace(done, tokens=[], status=NodeStatus.OPEN, chosen=False, scores={})
        live.nodes.append(node)
        on_event(TraceEvent(EventKind.NODE_ADDED, live, node=node))
        for token in done.tokens:
            node.tokens.append(token)
            on_event(TraceEvent(EventKind.TOKEN, live, node=node, token=token))
        node.status, node.chosen, node.scores = done.status, done.chosen, dict(done.scores)
        on_event(TraceEvent(EventKind.NODE_UPDATED, live, node=node))
    live.votes = dict(final.votes)
    on_event(TraceEvent(EventKind.VOTES, live))
    for name in ("final_answer", "reason", "compute", "status", "error", "meta"):
        setattr(live, name, getattr(final, name))
    on_event(TraceEvent(EventKind.FINISHED, live))
    live.correct = final.correct  # graded after the run
    return live
