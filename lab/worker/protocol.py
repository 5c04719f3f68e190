"""What the page's process and the worker say to each other, and the trace deltas.

Messages are tuples `(kind, job_id, *payload)` pickled over a multiprocessing Connection.
To the worker: ("runs", job, model, [RunRequest], judge model | None), ("sweep", job, model,
experiment, [Cell]), ("load", 0, model) (load it now, before a run asks),
("cancel", job), ("status", 0), ("stop", 0).
From the worker: ("loading", 0, model), ("model", job, ModelInfo | None, error | None),
("refused", job, [reason]),
("phase", job, index, phase), ("delta", job, index, TraceDelta), ("run", job, index,
RunResult), ("progress", job, SweepProgress), ("done", job, SweepResult | None, error | None),
("status", 0, ModelInfo | None, the model being loaded | None).

A live trace travels as deltas: the first carries the trace's header, later ones only the
nodes that changed since the last one, and of a node whose tokens only grew, only the new
tokens. The finished trace comes whole in the run's result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.engine.base import Token
from lab.tasks.problem import Problem
from lab.trace import Node, Trace

TRACE_FIELDS = ("strategy", "params", "budget", "model", "seed", "votes", "final_answer",
                "reason", "status", "error", "correct", "meta")


@dataclass
class ModelInfo:
    name: str
    load_s: float
    tokens_per_s: float | None
    threads: int


@dataclass
class NodeDelta:
    id: int
    fields: dict[str, Any]  # every field but the tokens
    tokens_from: int  # the new tokens start at this index (0: all of them)
    tokens: list[dict[str, Any]]


@dataclass
class TraceDelta:
    header: dict[str, Any]  # TRACE_FIELDS and compute
    problem: dict[str, Any] | None = None  # with the first delta only
    nodes: list[NodeDelta] = field(default_factory=list)


@dataclass
class RunResult:
    trace: dict[str, Any] | None  # Trace.to_dict() of the finished run
    run_id: int | None
    save_error: str | None
    error: str | None  # why it could not run (refused settings, a crash)


class DeltaTracker:
    """The worker's side: which nodes changed since the last delta, and how many of each
    node's tokens the page already has."""

    def __init__(self) -> None:
        self._dirty: set[int] = set()
        self._whole: set[int] = set()  # nodes to send with all their tokens again
        self._sent: dict[int, int] = {}
        self._started = False

    def touch(self, node: Node | None, whole: bool = False) -> None:
        if node is not None:
            self._dirty.add(node.id)
            if whole:
                self._whole.add(node.id)

    def delta(self, trace: Trace) -> TraceDelta:
        """What changed since the last call (every node the first time)."""
        problem = None if self._started else trace.problem.to_dict()
        self._started = True
        nodes = list(trace.nodes)
        ids, self._dirty = sorted(self._dirty), set()
        whole, self._whole = self._whole, set()
        return TraceDelta(_header(trace), problem, [self._node(nodes[i], i in whole)
                                                    for i in ids if i < len(nodes)])

    def _node(self, node: Node, whole: bool) -> NodeDelta:
        tokens = list(node.tokens)
        start = self._sent.get(node.id, 0)
        if whole or start > len(tokens):
            start = 0
        self._sent[node.id] = len(tokens)
        data = node.to_dict()
        del data["tokens"]
        return NodeDelta(node.id, data, start, [t.to_dict() for t in tokens[start:]])


def apply_delta(trace: Trace | None, delta: TraceDelta) -> Trace:
    """The page's side: the mirror trace with the delta applied (a new one from the first)."""
    if trace is None:
        if delta.problem is None:
            raise ValueError("the first delta of a trace carries its problem")
        trace = Trace(strategy=delta.header["strategy"], problem=Problem.from_dict(delta.problem))
    header = Trace.from_dict({**delta.header, "problem": delta.problem or trace.problem.to_dict()})
    for name in (*TRACE_FIELDS, "compute"):
        setattr(trace, name, getattr(header, name))
    for change in delta.nodes:
        _apply_node(trace, change)
    return trace


def _apply_node(trace: Trace, change: NodeDelta) -> None:
    fresh = Node.from_dict({**change.fields, "tokens": []})
    tokens = [Token.from_dict(t) for t in change.tokens]
    if change.id < len(trace.nodes):
        node = trace.nodes[change.id]
        kept = node.tokens[: change.tokens_from]
        for name in ("parent", "kind", "text", "answer", "answer_span", "scores", "status",
                     "chosen", "finish_reason", "meta"):
            setattr(node, name, getattr(fresh, name))
        node.tokens = kept + tokens
        return
    while len(trace.nodes) < change.id:  # a gap cannot happen; keep ids equal to positions
        trace.nodes.append(Node(len(trace.nodes), None, fresh.kind))
    fresh.tokens = tokens
    trace.nodes.append(fresh)


def _header(trace: Trace) -> dict[str, Any]:
    """The trace without its problem and nodes (copies: the run goes on changing it)."""
    return {"strategy": trace.strategy, "params": dict(trace.params), "budget": trace.budget,
            "model": trace.model, "seed": trace.seed, "votes": dict(trace.votes),
            "final_answer": trace.final_answer, "reason": trace.reason,
            "status": str(trace.status), "error": trace.error, "correct": trace.correct,
            "meta": dict(trace.meta), "compute": trace.compute.to_dict()}
