"""Between a Trace and the ledger's rows, both ways, without knowing any strategy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from lab.store.schema import NodeRow, ProblemRow, RunRow, TokenRow
from lab.store.tokens import PackedTokens, pack_tokens, unpack_tokens
from lab.tasks.problem import Problem, parse_kind
from lab.trace import Compute, Node, NodeKind, NodeStatus, Trace, TraceStatus


def utcnow() -> datetime:
    """Naive UTC, the form every timestamp column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def params_key(params: dict[str, Any]) -> str:
    """Canonical JSON of a run's parameters, so equal parameters compare equal in SQL."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def problem_digest(problem: Problem) -> str:
    canonical = json.dumps(problem.to_dict(), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def problem_values(problem: Problem) -> dict[str, Any]:
    return {
        "problem_set": problem.source,
        "problem_key": problem.id,
        "question": problem.question,
        "gold": problem.gold,
        "kind": str(problem.kind),
        "difficulty": problem.difficulty,
        "details": problem.metadata,
        "digest": problem_digest(problem),
    }


def problem_from_row(row: ProblemRow) -> Problem:
    return Problem(
        id=row.problem_key,
        question=row.question,
        gold=row.gold,
        kind=parse_kind(row.kind),
        source=row.problem_set,
        difficulty=row.difficulty,
        metadata=dict(row.details or {}),
    )


def progress_values(trace: Trace) -> dict[str, Any]:
    """The run's columns that change while it runs and when it ends."""
    now = utcnow()
    return {
        "status": str(trace.status),
        "final_answer": trace.final_answer,
        "correct": trace.correct,
        "reason": trace.reason,
        "error": trace.error,
        "votes": trace.votes,
        "meta": trace.meta,
        "prompt_tokens": trace.compute.prompt_tokens,
        "generated_tokens": trace.compute.generated_tokens,
        "engine_calls": trace.compute.engine_calls,
        "wall_s": trace.compute.wall_s,
        "cached_prompt_tokens": trace.compute.cached_prompt_tokens,
        "verdict_tokens": trace.compute.verdict_tokens,
        "generated_by": trace.compute.generated_by,
        "updated": now,
        "finished": None if trace.status == TraceStatus.RUNNING else now,
    }


def node_values(node: Node) -> dict[str, Any]:
    span = node.answer_span
    return {
        "parent": node.parent,
        "kind": str(node.kind),
        "text": node.text,
        "answer": node.answer,
        "answer_start": span[0] if span else None,
        "answer_end": span[1] if span else None,
        "scores": node.scores,
        "status": str(node.status),
        "chosen": node.chosen,
        "finish_reason": node.finish_reason,
        "meta": node.meta,
        "token_count": len(node.tokens),
    }


def token_values(node: Node) -> dict[str, Any]:
    packed = pack_tokens(node.tokens)
    return {
        "ids": packed.ids,
        "logprobs": packed.logprobs,
        "texts": packed.texts,
        "top": packed.top,
        "entropy": packed.entropy,
        "self_certainty": packed.self_certainty,
    }


def save_nodes(session: Session, run_id: int, nodes: Sequence[Node]) -> None:
    """Insert or update these nodes of a run, with their tokens."""
    if not nodes:
        return
    stored = set(session.scalars(select(NodeRow.node_id).where(NodeRow.run_id == run_id)))
    for is_new in (True, False):
        chosen = [n for n in nodes if (n.id not in stored) == is_new]
        if not chosen:
            continue
        node_rows = [{"run_id": run_id, "node_id": n.id, **node_values(n)} for n in chosen]
        token_rows = [{"run_id": run_id, "node_id": n.id, **token_values(n)} for n in chosen]
        statement = insert if is_new else update  # update: ORM bulk update by primary key
        session.execute(statement(NodeRow), node_rows)
        session.execute(statement(TokenRow), token_rows)


def node_from_rows(row: NodeRow, tokens: TokenRow | None) -> Node:
    span = (row.answer_start, row.answer_end)
    return Node(
        id=row.node_id,
        parent=row.parent,
        kind=NodeKind(row.kind),
        text=row.text,
        tokens=unpack_tokens(_packed(tokens)) if tokens is not None else [],
        answer=row.answer,
        answer_span=(span[0], span[1]) if span[0] is not None and span[1] is not None else None,
        scores={k: float(v) for k, v in (row.scores or {}).items()},
        status=NodeStatus(row.status),
        chosen=bool(row.chosen),
        finish_reason=row.finish_reason,
        meta=dict(row.meta or {}),
    )


def trace_from_rows(run: RunRow, problem: ProblemRow, model: str, nodes: list[Node]) -> Trace:
    return Trace(
        strategy=run.strategy,
        problem=problem_from_row(problem),
        params=dict(run.params or {}),
        budget=run.budget,
        model=model,
        seed=run.seed,
        nodes=nodes,
        votes={k: float(v) for k, v in (run.votes or {}).items()},
        final_answer=run.final_answer,
        reason=run.reason,
        compute=Compute(
            prompt_tokens=run.prompt_tokens,
            generated_tokens=run.generated_tokens,
            engine_calls=run.engine_calls,
            wall_s=run.wall_s,
            cached_prompt_tokens=run.cached_prompt_tokens or 0,
            verdict_tokens=run.verdict_tokens or 0,
            generated_by={k: int(v) for k, v in (run.generated_by or {}).items()},
        ),
        status=TraceStatus(run.status),
        error=run.error,
        correct=run.correct,
        meta=dict(run.meta or {}),
    )


def _packed(row: TokenRow) -> PackedTokens:
    return PackedTokens(
        ids=row.ids,
        logprobs=row.logprobs,
        texts=list(row.texts),
        top=row.top,
        entropy=row.entropy,
        self_certainty=row.self_certainty,
    )
