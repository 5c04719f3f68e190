"""The structured record of what a strategy did: a tree of plain-data nodes.

A Trace is what the UI draws and the ledger saves; it knows nothing of either. Nodes are kept
in one flat list, each pointing at its parent by id, so the tree is easy to store and walk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lab.engine.base import Token
from lab.tasks.problem import Problem

VOTE_CORRECT = "vote_correct"  # trace.meta key: answer (voted or a chain's) -> correct, graded
# once after the run
CUT = "cut"  # node.meta key: True when the sequence ended at its token cap
CUT_FINISH = "length"  # the finish_reason of a sequence that reached its token cap
CUT_VOTES = "cut_votes"  # the strategy parameter that lets cut chains vote and be ranked


class NodeKind(StrEnum):
    PROMPT = "prompt"  # what the model was asked
    CHAIN = "chain"  # one sampled solution
    STEP = "step"  # one reasoning step in a search
    CRITIQUE = "critique"
    REVISION = "revision"
    VERIFICATION = "verification"  # a verifier's judgement of its parent
    CODE = "code"  # a REPL turn of a recursive model
    SUBCALL = "subcall"  # a model call made from inside a REPL turn
    ANSWER = "answer"  # the final answer node


class NodeStatus(StrEnum):
    OPEN = "open"  # nothing decided about it (yet)
    KEPT = "kept"  # survived a selection (a beam, an accepted revision)
    PRUNED = "pruned"  # dropped by a search
    REJECTED = "rejected"  # a verifier or scorer turned it down
    ACCEPTED = "accepted"  # a verifier accepted it
    STOPPED = "stopped"  # generation cut early (low confidence, budget)


class TraceStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"  # cancelled or killed; holds what it had
    FAILED = "failed"


SOLUTION_KINDS = (NodeKind.CHAIN, NodeKind.REVISION)  # candidates: they answer
CHAIN_KINDS = (NodeKind.CHAIN, NodeKind.CRITIQUE, NodeKind.REVISION)  # drawn as chain panels
TREE_KINDS = (NodeKind.STEP, NodeKind.CODE, NodeKind.SUBCALL, NodeKind.VERIFICATION)  # a tree


@dataclass
class Node:
    id: int
    parent: int | None
    kind: NodeKind
    text: str = ""
    tokens: list[Token] = field(default_factory=list)
    answer: str | None = None  # the extracted final answer, if any
    answer_span: tuple[int, int] | None = None  # where `answer` sits in `text`
    scores: dict[str, float] = field(default_factory=dict)  # scorer name -> value
    status: NodeStatus = NodeStatus.OPEN
    chosen: bool = False  # on the path to the final answer
    finish_reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # seed, depth, visits, value, ...

    @property
    def cut(self) -> bool:
        """It ended at its token cap: its last words are where the cap fell, not a conclusion
        (marked in meta by the run; a stored run from before the mark has the finish reason)."""
        return bool(self.meta.get(CUT)) or self.finish_reason == CUT_FINISH

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": self.parent,
            "kind": str(self.kind),
            "text": self.text,
            "tokens": [t.to_dict() for t in self.tokens],
            "answer": self.answer,
            "answer_span": list(self.answer_span) if self.answer_span else None,
            "scores": dict(self.scores),
            "status": str(self.status),
            "chosen": self.chosen,
            "finish_reason": self.finish_reason,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        span = data.get("answer_span")
        return cls(
            id=int(data["id"]),
            parent=data.get("parent"),
            kind=NodeKind(data["kind"]),
            text=data.get("text", ""),
            tokens=[Token.from_dict(t) for t in data.get("tokens", [])],
            answer=data.get("answer"),
            answer_span=(int(span[0]), int(span[1])) if span else None,
            scores={k: float(v) for k, v in data.get("scores", {}).items()},
            status=NodeStatus(data.get("status", NodeStatus.OPEN)),
            chosen=bool(data.get("chosen", False)),
            finish_reason=data.get("finish_reason"),
            meta=dict(data.get("meta") or {}),
        )


def chain_labels(nodes: Sequence[Node]) -> dict[int, str]:
    """What each chain-like node is called wherever it is drawn: "Chain k" for sampled
    chains, "Segment k"/"Answer" for one chain cut in segments, "Revision (round r)" and the
    like for the others."""
    labels: dict[int, str] = {}
    count = 0
    for node in nodes:
        if node.kind == NodeKind.CHAIN and "segment" in node.meta:
            labels[node.id] = ("Answer" if node.meta.get("answer")
                               else f"Segment {node.meta['segment']}")
        elif node.kind == NodeKind.CHAIN:
            count += 1
            labels[node.id] = f"Chain {count}"
        else:
            labels[node.id] = f"{node.kind.value.title()} (round {node.meta.get('round', '?')})"
    return labels


def drawn_chains(nodes: Sequence[Node]) -> list[Node]:
    """The nodes drawn as chain panels: chains, critiques and revisions (not rollouts)."""
    return [n for n in nodes if n.kind in CHAIN_KINDS and not n.meta.get("rollout")]


def solutions(nodes: Sequence[Node]) -> list[Node]:
    """The sampled solutions among `nodes`: chains and revisions (not tree-search rollouts)."""
    return [n for n in nodes if n.kind in SOLUTION_KINDS and not n.meta.get("rollout")]


@dataclass
class Compute:
    """What a run cost, over every model call it made: sampling (chains, critiques, revisions,
    steps, rollouts, sub-calls) and model verdicts (self-verify, judge)."""

    prompt_tokens: int = 0  # prompt tokens the engines decoded (cache misses; shared once)
    generated_tokens: int = 0  # tokens sampled into the trace's nodes
    engine_calls: int = 0  # every model call, verdicts included
    wall_s: float = 0.0
    cached_prompt_tokens: int = 0  # prompt tokens served from a KV cache, not decoded
    verdict_tokens: int = 0  # tokens verdict calls generated: one per yes/no or grade read
    generated_by: dict[str, int] = field(default_factory=dict)  # call kind -> generated tokens

    @property
    def all_generated(self) -> int:
        """Every generated token: sampled and verdicts (what a token budget caps)."""
        return self.generated_tokens + self.verdict_tokens

    @property
    def all_decoded(self) -> int:
        """Every token the models decoded: prompts (cache misses) and generated tokens."""
        return self.prompt_tokens + self.all_generated

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "engine_calls": self.engine_calls,
            "wall_s": self.wall_s,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "verdict_tokens": self.verdict_tokens,
            "generated_by": dict(self.generated_by),
            "all_generated_tokens": self.all_generated,  # derived: read, never stored
            "all_decoded_tokens": self.all_decoded,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Compute:
        counts = {k: data[k] for k in ("prompt_tokens", "generated_tokens", "engine_calls",
                                       "wall_s", "cached_prompt_tokens", "verdict_tokens")
                  if k in data}
        return cls(**counts, generated_by={k: int(v) for k, v in
                                           (data.get("generated_by") or {}).items()})


@dataclass
class Trace:
    strategy: str
    problem: Problem
    params: dict[str, Any] = field(default_factory=dict)
    budget: int | None = None  # generated-token budget the strategy was given
    model: str = ""
    seed: int = 0
    nodes: list[Node] = field(default_factory=list)
    votes: dict[str, float] = field(default_factory=dict)  # answer -> vote weight
    final_answer: str | None = None
    reason: str = ""  # why the final answer was chosen
    compute: Compute = field(default_factory=Compute)
    status: TraceStatus = TraceStatus.RUNNING
    error: str | None = None
    correct: bool | None = None  # graded against the gold answer after the run, never inside
    meta: dict[str, Any] = field(default_factory=dict)  # strategy-specific summary

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id]

    def children(self, node_id: int | None) -> list[Node]:
        return [n for n in self.nodes if n.parent == node_id]

    def path_to(self, node_id: int) -> list[Node]:
        """The nodes from the root down to `node_id`."""
        path = []
        current: int | None = node_id
        while current is not None:
            path.append(self.nodes[current])
            current = self.nodes[current].parent
        return path[::-1]

    def solutions(self) -> list[Node]:
        """The sampled solutions: chains and revisions (not tree-search rollouts)."""
        return solutions(self.nodes)

    def cut_solutions(self) -> list[Node]:
        """The solutions that ended at their token cap."""
        return [n for n in self.solutions() if n.cut]

    def vote_correct(self, answer: str) -> bool | None:
        """Whether a voted answer was graded right after the run (None: not graded, e.g.
        while the run is going or without a gold answer)."""
        graded = self.meta.get(VOTE_CORRECT) or {}
        return graded.get(answer)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "problem": self.problem.to_dict(),
            "params": self.params,
            "budget": self.budget,
            "model": self.model,
            "seed": self.seed,
            "nodes": [n.to_dict() for n in self.nodes],
            "votes": dict(self.votes),
            "final_answer": self.final_answer,
            "reason": self.reason,
            "compute": self.compute.to_dict(),
            "status": str(self.status),
            "error": self.error,
            "correct": self.correct,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        return cls(
            strategy=data["strategy"],
            problem=Problem.from_dict(data["problem"]),
            params=dict(data.get("params") or {}),
            budget=data.get("budget"),
            model=data.get("model", ""),
            seed=int(data.get("seed", 0)),
            nodes=[Node.from_dict(n) for n in data.get("nodes", [])],
            votes={k: float(v) for k, v in (data.get("votes") or {}).items()},
            final_answer=data.get("final_answer"),
            reason=data.get("reason", ""),
            compute=Compute.from_dict(data.get("compute") or {}),
            status=TraceStatus(data.get("status", TraceStatus.RUNNING)),
            error=data.get("error"),
            correct=data.get("correct"),
            meta=dict(data.get("meta") or {}),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Trace:
        return cls.from_dict(json.loads(text))


class TraceView(StrEnum):
    """The names of the lab's own views (lab/views/); a strategy may name any registered view,
    its own included. The outcome and compute are always drawn."""

    VOTES = "votes"  # the vote per answer
    CANDIDATES = "candidates"  # each candidate's scores and the decision about it
    TREE = "tree"  # the search tree of steps
    CONVERSATION = "conversation"  # REPL turns with nested model calls
    CHAINS = "chains"  # one panel per sampled chain


class EventKind(StrEnum):
    STARTED = "started"  # the trace exists, no nodes yet
    NODE_ADDED = "node_added"
    TOKEN = "token"  # a token appended to `node`
    NODE_UPDATED = "node_updated"  # text, answer, scores, status or chosen changed
    VOTES = "votes"  # trace.votes changed
    FINISHED = "finished"  # final answer, status and compute are set


@dataclass
class TraceEvent:
    kind: EventKind
    trace: Trace
    node: Node | None = None
    token: Token | None = None


EventCallback = Callable[[TraceEvent], None]
