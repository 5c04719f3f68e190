"""The engine interface every strategy uses: tokens, sampling and log-probs, nothing more.

An engine knows nothing about problems or strategies. It turns a prompt (raw text, or chat
messages it formats with the model's own template) into sampled completions, with each
token's log-probability, and reports what it cost.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, Protocol, TypedDict


class ChatMessage(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


# A prompt is raw text (completion mode, for base models) or chat messages (instruct models).
Prompt = str | Sequence[ChatMessage]


class EngineError(RuntimeError):
    """A problem the user can fix (bad model file, prompt too long, server unreachable)."""


class EngineUnavailable(EngineError):
    """The engine's model server stopped answering: a run it cuts short is interrupted (and
    can be run again), not failed."""


class GenerationCancelled(Exception):  # noqa: N818 - reads better at the raise site
    """Raised when a caller cancels a generation; holds what was generated so far."""

    def __init__(self, partial: Generation):
        super().__init__("generation cancelled")
        self.partial = partial


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.7  # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 means off
    min_p: float = 0.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0  # sequence i is sampled with seed + i unless seeds are given
    top_logprobs: int = 0  # alternatives to report per token

    def with_(self, **changes: Any) -> SamplingParams:
        return SamplingParams(**{**asdict(self), **changes})


@dataclass
class Token:
    id: int
    text: str
    logprob: float  # log-probability under the model's raw distribution (temperature 1)
    top: list[tuple[str, float]] = field(default_factory=list)  # best alternatives
    entropy: float | None = None  # of the full next-token distribution, in nats
    # KL(uniform || p): how far the distribution is from uniform (Kang et al., self-certainty)
    self_certainty: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "logprob": self.logprob,
            "top": [list(alt) for alt in self.top],
            "entropy": self.entropy,
            "self_certainty": self.self_certainty,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Token:
        return cls(
            id=int(data["id"]),
            text=data["text"],
            logprob=float(data["logprob"]),
            top=[(str(t), float(lp)) for t, lp in data.get("top", [])],
            entropy=data.get("entropy"),
            self_certainty=data.get("self_certainty"),
        )


@dataclass
class Completion:
    index: int  # position in the request
    text: str  # generated text, stop string excluded
    tokens: list[Token]
    finish_reason: str  # "stop" (stop string), "eos", "length" (max_tokens), "cancelled"
    seed: int
    prefix: str = ""  # the partial solution this completion continues ("" for plain samples)

    @property
    def completion_tokens(self) -> int:
        return len(self.tokens)

    @property
    def mean_logprob(self) -> float:
        if not self.tokens:
            return 0.0
        return sum(t.logprob for t in self.tokens) / len(self.tokens)


@dataclass
class PromptReads:
    """Running totals of the prompts an engine's scoring calls (`score`,
    `next_token_logprobs`) read in one thread; a caller takes the difference around its
    calls to learn what they cost."""

    calls: int = 0
    tokens: int = 0  # prompt tokens read
    decoded: int = 0  # of them, decoded (the rest were served from the KV cache)

    def __sub__(self, other: PromptReads) -> PromptReads:
        return PromptReads(self.calls - other.calls, self.tokens - other.tokens,
                           self.decoded - other.decoded)


@dataclass
class Generation:
    completions: list[Completion]
    prompt_tokens: int = 0  # prompt tokens of all sequences, shared ones counted each time
    prompt_tokens_decoded: int = 0  # what the engine actually had to decode (cache misses)
    prompt_s: float = 0.0
    generate_s: float = 0.0

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.completions)

    @property
    def prompt_tokens_cached(self) -> int:
        """Prompt tokens of the sequences served from the cache instead of decoded."""
        return max(0, self.prompt_tokens - self.prompt_tokens_decoded)

    @property
    def wall_s(self) -> float:
        return self.prompt_s + self.generate_s

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.completions]


# on_token(index of the sequence in the request, the new token); returning True stops that
# sequence there (finish_reason "stopped"), e.g. when its running confidence falls too low.
TokenCallback = Callable[[int, Token], bool | None]


def shifted_generation(generation: Generation, start: int) -> Generation:
    """The generation with its completions' indexes moved up by `start` (in place)."""
    for completion in generation.completions:
        completion.index += start
    return generation


def merged_generations(parts: Sequence[Generation]) -> Generation:
    """One generation of the parts' completions, in order, and their summed costs."""
    return Generation(
        completions=[c for part in parts for c in part.completions],
        prompt_tokens=sum(p.prompt_tokens for p in parts),
        prompt_tokens_decoded=sum(p.prompt_tokens_decoded for p in parts),
        prompt_s=sum(p.prompt_s for p in parts),
        generate_s=sum(p.generate_s for p in parts),
    )


class EngineLock(Protocol):
    """What serialises an engine's requests: a threading.Lock, or lab.engine.turn.TurnLock
    (which also takes this process's turn on the machine)."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...

    def release(self) -> None: ...

    def locked(self) -> bool: ...

    def __enter__(self) -> bool: ...

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None: ...


class Engine(ABC):
    """One loaded model. Implementations serialise requests: concurrent callers queue."""

    model_name: str = "model"
    # How the model's family is asked to solve (a name in lab.prompts.PROMPT_FORMATS), set by
    # whoever loads the model from the registry; the engine only carries it.
    prompt_format: str = "lab"
    # Per-token statistics this engine cannot report ("entropy", "self_certainty",
    # "token_ids"): a run whose scorer reads one is refused before it starts.
    lacks: frozenset[str] = frozenset()
    # Whether the sequences of one request share `n_ctx` (llama.cpp's unified KV cache: a
    # batch of N chains needs room for all of them) or each has n_ctx of its own (a server's
    # slots: every chain is its own request).
    context_per_sequence: bool = False

    def __init__(self) -> None:
        self._lock: EngineLock = threading.Lock()
        self._cancel_current = threading.Event()
        self._reads = threading.local()

    # -- the interface strategies use -------------------------------------------------
    def generate(
        self,
        prompt: Prompt,
        n: int = 1,
        params: SamplingParams | None = None,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
        seeds: Sequence[int] | None = None,
    ) -> Generation:
        """Sample `n` completions of one prompt; the prompt is decoded once and shared."""
        return self.continue_prefixes(prompt, [""] * n, params, on_token, cancel, seeds)

    def continue_prefixes(
        self,
        prompt: Prompt,
        prefixes: Sequence[str],
        params: SamplingParams | None = None,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
        seeds: Sequence[int] | None = None,
    ) -> Generation:
        """Extend each partial answer `prompt + prefixes[i]` (e.g. by one step, up to a stop
        string). Prefixes may repeat, to draw several continuations of one prefix; sequence
        i is sampled with `seeds[i]`, else `params.seed + i`."""
        params = params or SamplingParams()
        if not prefixes:
            return Generation(completions=[])
        if seeds is None:
            seeds = [params.seed + i for i in range(len(prefixes))]
        seed_list = list(seeds)
        if len(seed_list) != len(prefixes):
            raise ValueError("seeds must match prefixes one to one")
        with self._lock:
            self._cancel_current.clear()
            return self._continue(prompt, list(prefixes), params, seed_list, on_token, cancel)

    def generate_each(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | None = None,
        cancel: threading.Event | None = None,
        seeds: Sequence[int] | None = None,
    ) -> Generation:
        """One completion of each of several different prompts (completion i answers
        prompts[i]); engines that can decode them together in one batch do."""
        params = params or SamplingParams()
        seed_list = list(seeds) if seeds is not None else [params.seed] * len(prompts)
        if len(seed_list) != len(prompts):
            raise ValueError("seeds must match prompts one to one")
        if not prompts:
            return Generation(completions=[])
        with self._lock:
            self._cancel_current.clear()
            return self._generate_each(list(prompts), params, seed_list, cancel)

    def _generate_each(self, prompts: list[Prompt], params: SamplingParams, seeds: list[int],
                       cancel: threading.Event | None) -> Generation:
        parts = [self._continue(p, [""], params, [seed], None, cancel)
                 for p, seed in zip(prompts, seeds, strict=True)]
        return merged_generations([shifted_generation(part, i) for i, part in enumerate(parts)])

    def prompt_reads(self) -> PromptReads:
        """What this thread's scoring calls have read so far (engines that do not report
        leave it at zero, and callers count the whole prompt as decoded)."""
        reads = getattr(self._reads, "totals", None)
        return PromptReads() if reads is None else PromptReads(**vars(reads))

    def _read_prompt(self, tokens: int, decoded: int) -> None:
        """Report one scoring call's prompt: `tokens` read, `decoded` of them decoded."""
        totals = getattr(self._reads, "totals", None) or PromptReads()
        totals.calls, totals.tokens, totals.decoded = (totals.calls + 1, totals.tokens + tokens,
                                                       totals.decoded + decoded)
        self._reads.totals = totals

    def take_notes(self) -> list[str]:
        """What this engine could not give as asked since the last call (a model server's
        missing features), for the run's trace; the call clears them."""
        return []

    def cancel(self) -> None:
        """Cancel whatever request is running now (from any thread)."""
        self._cancel_current.set()

    @property
    def busy(self) -> bool:
        """True while a request holds the engine (others would wait)."""
        return self._lock.locked()

    def _cancelled(self, cancel: threading.Event | None) -> bool:
        return self._cancel_current.is_set() or (cancel is not None and cancel.is_set())

    @abstractmethod
    def _continue(
        self,
        prompt: Prompt,
        prefixes: list[str],
        params: SamplingParams,
        seeds: list[int],
        on_token: TokenCallback | None,
        cancel: threading.Event | None,
    ) -> Generation:
        """Do the work of `continue_prefixes`; called with the engine's lock held."""

    @abstractmethod
    def score(self, prompt: Prompt, continuation: str) -> list[Token]:
        """Log-probabilities of `continuation` after `prompt`, token by token (re-scoring)."""

    @abstractmethod
    def next_token_logprobs(self, prompt: Prompt, candidates: Sequence[str]) -> dict[str, float]:
        """Log-probability that the next token starts each candidate (e.g. "Yes", "No")."""

    @abstractmethod
    def format_prompt(self, prompt: Prompt) -> str:
        """The text the model sees: chat messages through the model's template, raw as is."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in this model's vocabulary."""

    @property
    @abstractmethod
    def n_ctx(self) -> int:
        """Context length available to one sequence."""

    def forget_cache(self) -> None:  # noqa: B027 - optional hook
        """Drop the prompts a KV cache holds, so the next call decodes its prompt afresh (greedy
        text can differ between a prompt decoded and one served from the cache)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model's memory."""
