"""The run context every strategy works through: it grows the trace, emits events, calls the
engine within the token budget, accounts compute, and turns cancellation into an exception
after keeping what was generated.

Compute counts every model call: sampling calls (generated tokens by node kind, prompt tokens
decoded and served from the cache) and model verdicts (self-verify, judge: one generated
token each, and the prompt they read). The budget caps all generated tokens, verdicts
included; a strategy that will score each sample with a model reserves that verdict's
token through `verdicts` in `token_cap` and `affordable`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from lab.engine.base import (
    ChatMessage,
    Completion,
    Engine,
    Generation,
    GenerationCancelled,
    Prompt,
    SamplingParams,
    Token,
)
from lab.prompts import PromptStyle, solve_messages
from lab.scorers import VERDICT_TOKENS, Candidate, ModelCall, Scoring, Verdict, get_scorer
from lab.trace import (
    CUT,
    CUT_FINISH,
    EventCallback,
    EventKind,
    Node,
    NodeKind,
    NodeStatus,
    Trace,
    TraceEvent,
)

# A strategy's per-token hook: (node, token) -> True to stop that sequence now.
StopHook = Callable[[Node, Token], bool]


class BudgetExhausted(Exception):  # noqa: N818 - a signal, not an error
    """The token budget cannot pay for another engine call."""


class RunCancelled(Exception):  # noqa: N818
    """The caller cancelled the run; the trace keeps what was generated."""


class StrategyError(RuntimeError):
    """A strategy that cannot run as configured; the message is for the user."""


class RunContext:
    def __init__(
        self,
        trace: Trace,
        engine: Engine,
        on_event: EventCallback | None = None,
        cancel: threading.Event | None = None,
        judge: Engine | None = None,
    ):
        self.trace = trace
        self.engine = engine
        self.problem = trace.problem
        self.params: dict[str, Any] = trace.params
        self.cancel_event = cancel
        self._on_event = on_event
        self._next_seed = trace.seed
        self._start = time.perf_counter()
        self.prompt_format = engine.prompt_format
        trace.meta.setdefault("prompt_format", self.prompt_format)
        self.scoring = Scoring(trace.problem, engine, judge, on_call=self._record_call,
                               before_call=self._before_verdict)

    # -- events and nodes ---------------------------------------------------------------------
    def emit(self, kind: EventKind, node: Node | None = None, token: Token | None = None) -> None:
        if self._on_event is not None:
            self._on_event(TraceEvent(kind, self.trace, node, token))

    def add_node(self, parent: Node | None, kind: NodeKind, text: str = "", **fields: Any) -> Node:
        node = Node(id=len(self.trace.nodes), parent=parent.id if parent else None, kind=kind,
                    text=text, **fields)
        self.trace.nodes.append(node)
        self.emit(EventKind.NODE_ADDED, node)
        return node

    def update(self, node: Node, **changes: Any) -> Node:
        for name, value in changes.items():
            setattr(node, name, value)
        self.emit(EventKind.NODE_UPDATED, node)
        return node

    def solve_messages(self, style: PromptStyle = "cot") -> list[ChatMessage]:
        """The solving prompt for this problem, in the model family's prompt format."""
        return solve_messages(self.problem, style, self.prompt_format)

    def add_prompt(self, prompt: Prompt, parent: Node | None = None, **meta: Any) -> Node:
        """A prompt node holding the text the model sees (chat messages kept in meta)."""
        messages = [dict(m) for m in prompt] if not isinstance(prompt, str) else None
        return self.add_node(parent, NodeKind.PROMPT, self.engine.format_prompt(prompt),
                             meta={**meta, "messages": messages})

    def set_votes(self, votes: dict[str, float]) -> None:
        self.trace.votes = dict(votes)
        self.emit(EventKind.VOTES)

    # -- budget and cancellation --------------------------------------------------------------
    @property
    def used(self) -> int:
        """Generated tokens so far, model verdicts included: what the budget caps."""
        return self.trace.compute.all_generated

    @property
    def remaining(self) -> int | None:
        return None if self.trace.budget is None else max(0, self.trace.budget - self.used)

    def verdict_cost(self, *scorers: str) -> int:
        """Generated tokens that one candidate's verdicts by these scorers cost (a scorer that
        asks a model: VERDICT_TOKENS; one that reads the sampled tokens: nothing)."""
        return sum(VERDICT_TOKENS for name in scorers if get_scorer(name).needs is not None)

    def token_cap(self, max_tokens: int, sequences: int = 1, calls_left: int = 1,
                  verdicts: int = 0) -> int:
        """Most tokens each of `sequences` sequences may generate in the next engine call so
        the run stays within budget, keeping `verdicts` tokens per sequence for scoring it;
        `calls_left` shares what is left fairly with later calls (falling back to all of it
        when a fair share is under one token)."""
        remaining = self.remaining
        if remaining is None:
            return max_tokens
        sequences = max(1, sequences)
        cap = min(max_tokens, remaining // (sequences * max(1, calls_left)) - verdicts)
        if cap < 1:
            cap = min(max_tokens, remaining // sequences - verdicts)
        if cap < 1:
            raise BudgetExhausted(f"{remaining} tokens left for {sequences} sequences")
        return cap

    def affordable(self, sequences: int, verdicts: int = 0) -> int:
        """How many of `sequences` the budget can still start (at least one token each, and
        `verdicts` tokens each for scoring them)."""
        remaining = self.remaining
        return sequences if remaining is None else min(sequences, remaining // (1 + verdicts))

    def check_cancelled(self) -> None:
        if self.cancel_event is not None and self.cancel_event.is_set():
            raise RunCancelled()

    def _before_verdict(self) -> None:
        """Before a model verdict: the run may be cancelled, and the budget must pay for it."""
        self.check_cancelled()
        remaining = self.remaining
        if remaining is not None and remaining < VERDICT_TOKENS:
            raise BudgetExhausted("no tokens left for a verdict")

    def take_seeds(self, count: int) -> list[int]:
        """Fresh seeds, so no two sequences of a run share one."""
        seeds = list(range(self._next_seed, self._next_seed + count))
        self._next_seed += count
        return seeds

    # -- generation ---------------------------------------------------------------------------
    def sample(
        self,
        prompt: Prompt,
        parents: Sequence[Node],
        sampling: SamplingParams,
        kind: NodeKind = NodeKind.CHAIN,
        prefixes: Sequence[str] | None = None,
        on_token: StopHook | None = None,
        meta: dict[str, Any] | None = None,
        extract: bool = True,
    ) -> list[Node]:
        """One engine call drawing one sequence per parent (continuing `prefixes[i]` when
        given); each becomes a node under its parent, filled token by token, its answer
        extracted unless `extract` is False. The call never asks for more than the budget."""
        self.check_cancelled()
        cap = self.token_cap(sampling.max_tokens, len(parents))
        if cap < sampling.max_tokens:
            sampling = sampling.with_(max_tokens=cap)
        seeds = self.take_seeds(len(parents))
        nodes = [self.add_node(parent, kind, meta={**(meta or {}), "seed": seed})
                 for parent, seed in zip(parents, seeds, strict=True)]

        def token_hook(index: int, token: Token) -> bool:
            node = nodes[index]
            node.tokens.append(token)
            node.text += token.text
            self.emit(EventKind.TOKEN, node, token)
            return bool(on_token(node, token)) if on_token is not None else False

        try:
            generation = self.engine.continue_prefixes(
                prompt, list(prefixes) if prefixes is not None else [""] * len(nodes), sampling,
                token_hook, self.cancel_event, seeds,
            )
        except GenerationCancelled as cancelled:
            self._apply(nodes, cancelled.partial.completions, extract, cancelled=True)
            self._account_sampling(cancelled.partial, nodes)
            raise RunCancelled() from cancelled
        self._apply(nodes, generation.completions, extract)
        self._account_sampling(generation, nodes)
        return nodes

    def _apply(self, nodes: list[Node], completions: Sequence[Completion], extract: bool,
               cancelled: bool = False) -> None:
        by_index = {c.index: c for c in completions}
        for index, node in enumerate(nodes):
            completion = by_index.get(index)
            if completion is not None:
                node.text, node.tokens = completion.text, list(completion.tokens)
                node.finish_reason = completion.finish_reason
            if cancelled:
                node.finish_reason = "cancelled"
            if cancelled or node.finish_reason == "stopped":
                node.status = NodeStatus.STOPPED
            if node.finish_reason == CUT_FINISH:
                node.meta[CUT] = True  # ended at its token cap
            if extract:
                self.extract(node)
            else:
                self.emit(EventKind.NODE_UPDATED, node)

    def extract(self, node: Node, text: str | None = None) -> None:
        """Set the node's answer from `text` (default: its own text) and emit the update."""
        from lab.tasks.answers import extract_answer

        extraction = extract_answer(node.text if text is None else text)
        node.answer = extraction.answer
        node.answer_span = extraction.span if text is None else None
        node.meta["extract_rule"] = extraction.rule
        self.emit(EventKind.NODE_UPDATED, node)

    def _account_sampling(self, generation: Generation, nodes: Sequence[Node]) -> None:
        compute = self.trace.compute
        compute.prompt_tokens += generation.prompt_tokens_decoded
        compute.cached_prompt_tokens += generation.prompt_tokens_cached
        compute.generated_tokens += generation.completion_tokens
        for completion in generation.completions:
            node = nodes[completion.index]
            kind = "rollout" if node.meta.get("rollout") else str(node.kind)
            compute.generated_by[kind] = (compute.generated_by.get(kind, 0)
                                          + completion.completion_tokens)
        self._count_call(1)

    def _record_call(self, call: ModelCall) -> None:
        """A model verdict's compute (its seconds are in the run's wall time)."""
        compute = self.trace.compute
        compute.prompt_tokens += call.decoded
        compute.cached_prompt_tokens += max(0, call.prompt_tokens - call.decoded)
        compute.verdict_tokens += call.generated
        compute.generated_by[call.scorer] = (compute.generated_by.get(call.scorer, 0)
                                             + call.generated)
        self._count_call(call.calls)

    def _count_call(self, calls: int) -> None:
        compute = self.trace.compute
        compute.engine_calls += calls
        compute.wall_s = time.perf_counter() - self._start  # the run's wall time so far

    # -- scoring ------------------------------------------------------------------------------
    def candidate(self, node: Node, partial: bool = False) -> Candidate:
        return Candidate(node.text, node.tokens, node.answer, partial)

    def score(self, node: Node, scorer: str, candidate: Candidate | None = None) -> float:
        """Score `node` (or the given candidate, e.g. its whole path) and record it on the node."""
        value = self.scoring.score(scorer, candidate or self.candidate(node))
        node.scores[scorer] = value
        self.emit(EventKind.NODE_UPDATED, node)
        return value

    def verify(self, node: Node, verifier: str, threshold: float,
               candidate: Candidate | None = None) -> Verdict:
        """Run a verifier on `node`; the judgement becomes a verification node under it."""
        verdict = self.scoring.verify(verifier, candidate or self.candidate(node), threshold)
        node.scores[verifier] = verdict.score
        self.add_node(node, NodeKind.VERIFICATION, verdict.detail, scores={verifier: verdict.score},
                      status=NodeStatus.ACCEPTED if verdict.accepted else NodeStatus.REJECTED,
                      meta={"verifier": verifier, "threshold": threshold})
        self.update(node, status=NodeStatus.ACCEPTED if verdict.accepted else NodeStatus.REJECTED)
        return verdict

    # -- the end ------------------------------------------------------------------------------
    def finish(self, answer: str | None, reason: str, chosen: Node | None = None) -> None:
        """Set the final answer and why; mark the path to `chosen` and add an answer node."""
        self.trace.final_answer = answer
        self.trace.reason = reason
        if chosen is not None:
            for node in self.trace.path_to(chosen.id):
                if not node.chosen:
                    self.update(node, chosen=True)
        if answer is not None:
            self.add_node(chosen or self.root, NodeKind.ANSWER, answer, answer=answer, chosen=True,
                          meta={"reason": reason})

    @property
    def root(self) -> Node | None:
        return self.trace.nodes[0] if self.trace.nodes else None

    def close(self) -> None:
        self.trace.compute.wall_s = time.perf_counter() - self._start
