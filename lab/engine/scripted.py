"""A deterministic engine for tests and demos: replies come from a script, not a model.

    engine = ScriptedEngine(lambda req: "2 + 2 = 4\n\nThe answer is 4.")
    engine = ScriptedEngine(["The answer is 4.", "The answer is 5."])  # in turn, cycling
    engine = ScriptedEngine(ScriptedReply("The answer is 4.", logprob=[-0.1, -2.0]))
    engine = ScriptedEngine(lambda req: ScriptedReply("The answer is 4.", logprob=-0.1),
                            yes_probability=0.9)

A responder gets a ScriptedRequest (the formatted prompt, the prefix being continued, the
sequence's index, seed and sampling settings, the call number) and returns the continuation
after the prefix: a string, or a ScriptedReply that also sets the tokens' log-probs.

It behaves like the real engine where strategies can tell: the text is split into word
tokens ("\\n" runs are tokens of their own), sequences of one call advance in lockstep,
`on_token` sees every token and may return True to stop that sequence (finish_reason
"stopped"), stop strings end a sequence ("stop", the string cut from the text), `max_tokens`
ends it ("length"), the end of the script ends it ("eos"), and a set cancel event raises
GenerationCancelled with what was generated. Each token's statistics come from a fake
distribution over `vocab_size` tokens: the chosen token has probability exp(logprob), the
rest share what is left, so `top`, `entropy` and `self_certainty` are consistent.
Every request is kept in `requests`, every call in `calls`, for assertions.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from lab.engine.base import (
    Completion,
    Engine,
    Generation,
    GenerationCancelled,
    Prompt,
    SamplingParams,
    Token,
    TokenCallback,
)

_TOKEN = re.compile(r"\n+|[^\S\n]*\S+|[^\S\n]+")


@dataclass(frozen=True)
class ScriptedRequest:
    prompt: str  # the formatted prompt (chat messages through the fake template)
    prefix: str  # the partial solution this sequence continues
    index: int  # position of the sequence in its call
    seed: int
    params: SamplingParams
    call: int  # 0-based number of the engine call


@dataclass
class ScriptedReply:
    text: str
    # log-prob of each token; a sequence gives them one by one, its last value repeating
    logprob: float | Sequence[float] = -0.5


@dataclass
class ScriptedCall:
    prompt: str
    prefixes: list[str]
    params: SamplingParams
    seeds: list[int]
    generation: Generation | None = None


Responder = Callable[[ScriptedRequest], "str | ScriptedReply"]
Replies = str | ScriptedReply | Sequence["str | ScriptedReply"]


def tokenize(text: str) -> list[str]:
    """Word tokens with their leading spaces; runs of newlines are tokens of their own."""
    return _TOKEN.findall(text)


class ScriptedEngine(Engine):
    def __init__(
        self,
        respond: Responder | Replies,
        *,
        logprob: float = -0.5,
        yes_probability: float | Callable[[str], float] = 0.5,
        next_token: Callable[[str, Sequence[str]], Mapping[str, float]] | None = None,
        vocab_size: int = 100,
        n_ctx: int = 8192,
        delay_s: float = 0.0,
        model_name: str = "scripted",
    ):
        """`logprob` is the default per-token log-prob; `yes_probability` (a value, or a
        function of the prompt) answers yes/no questions in `next_token_logprobs`, which
        `next_token` (prompt, candidates) -> log-probs replaces entirely when given;
        `delay_s` sleeps before each lockstep token (to test cancellation and live views)."""
        super().__init__()
        self.model_name = model_name
        self._respond = _responder(respond)
        self.logprob = logprob
        self.yes_probability = yes_probability
        self._next_token = next_token
        self.vocab_size = max(2, vocab_size)
        self._n_ctx = n_ctx
        self.delay_s = delay_s
        self._ids: dict[str, int] = {}
        self.calls: list[ScriptedCall] = []
        self.requests: list[ScriptedRequest] = []
        self.judged: list[str] = []  # prompts given to next_token_logprobs

    # -- the Engine interface -------------------------------------------------------------
    def format_prompt(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        turns = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in prompt)
        return turns + "<|assistant|>\n"

    def count_tokens(self, text: str) -> int:
        return len(tokenize(text))

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def score(self, prompt: Prompt, continuation: str) -> list[Token]:
        read = self.count_tokens(self.format_prompt(prompt) + continuation)
        self._read_prompt(read, read)  # no cache: every token decoded
        return [self._token(text, self.logprob, 0) for text in tokenize(continuation)]

    def next_token_logprobs(self, prompt: Prompt, candidates: Sequence[str]) -> dict[str, float]:
        text = self.format_prompt(prompt)
        self.judged.append(text)
        self._read_prompt(self.count_tokens(text), self.count_tokens(text))
        if self._next_token is not None:
            return dict(self._next_token(text, candidates))
        p_yes = (self.yes_probability(text) if callable(self.yes_probability)
                 else self.yes_probability)
        uniform = -math.log(len(candidates)) if candidates else 0.0
        answers = {"yes": p_yes, "no": 1 - p_yes}
        return {c: math.log(max(answers[c.strip().lower()], 1e-12))
                if c.strip().lower() in answers else uniform for c in candidates}

    def _continue(
        self,
        prompt: Prompt,
        prefixes: list[str],
        params: SamplingParams,
        seeds: list[int],
        on_token: TokenCallback | None,
        cancel: threading.Event | None,
    ) -> Generation:
        text = self.format_prompt(prompt)
        call = ScriptedCall(text, list(prefixes), params, list(seeds))
        self.calls.append(call)
        scripts = [self._script(text, prefix, i, seed, params, len(self.calls) - 1)
                   for i, (prefix, seed) in enumerate(zip(prefixes, seeds, strict=True))]
        states = [_Sequence(i, seed, params) for i, seed in enumerate(seeds)]
        cancelled = self._run(scripts, states, params, on_token, cancel)
        generation = Generation(
            completions=[s.completion(prefixes[s.index]) for s in states],
            prompt_tokens=sum(self.count_tokens(text + p) for p in prefixes),
            prompt_tokens_decoded=self.count_tokens(text)
            + sum(self.count_tokens(p) for p in set(prefixes)),
        )
        call.generation = generation
        if cancelled:
            raise GenerationCancelled(generation)
        return generation

    # -- internals ------------------------------------------------------------------------
    def _script(self, prompt: str, prefix: str, index: int, seed: int, params: SamplingParams,
                call: int) -> list[tuple[str, float]]:
        request = ScriptedRequest(prompt, prefix, index, seed, params, call)
        self.requests.append(request)
        reply = self._respond(request)
        if isinstance(reply, str):
            reply = ScriptedReply(reply, self.logprob)
        pieces = tokenize(reply.text)
        if isinstance(reply.logprob, int | float):
            return [(piece, float(reply.logprob)) for piece in pieces]
        values = list(reply.logprob) or [self.logprob]
        return [(piece, float(values[min(i, len(values) - 1)])) for i, piece in enumerate(pieces)]

    def _run(self, scripts: list[list[tuple[str, float]]], states: list[_Sequence],
             params: SamplingParams, on_token: TokenCallback | None,
             cancel: threading.Event | None) -> bool:
        """Advance all sequences one token at a time; True when cancelled."""
        for step in itertools.count():
            live = [s for s in states if s.finish_reason is None]
            if not live:
                return False
            if self._cancelled(cancel):
                for state in live:
                    state.finish_reason = "cancelled"
                return True
            if self.delay_s:
                time.sleep(self.delay_s)
            for state in live:
                script = scripts[state.index]
                if step >= len(script):
                    state.finish_reason = "eos"
                    continue
                piece, logprob = script[step]
                token = self._token(piece, logprob, params.top_logprobs)
                state.append(token)
                if on_token is not None and on_token(state.index, token) is True:
                    state.finish("stopped")
        return False

    def _token(self, text: str, logprob: float, top_k: int) -> Token:
        logprob = min(0.0, logprob)
        p = math.exp(logprob)
        rest = self.vocab_size - 1
        other = math.log(max(1 - p, 1e-12) / rest)  # every other token shares what is left
        entropy = -p * logprob - (1 - p) * other
        mean_log = (logprob + rest * other) / self.vocab_size
        top = [(text, logprob)] + [(f"<alt{i}>", other) for i in range(1, top_k)]
        return Token(id=self._ids.setdefault(text, len(self._ids)), text=text, logprob=logprob,
                     top=top[:top_k], entropy=entropy,
                     self_certainty=-math.log(self.vocab_size) - mean_log)


@dataclass
class _Sequence:
    index: int
    seed: int
    params: SamplingParams
    tokens: list[Token] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None

    def __post_init__(self) -> None:
        if self.params.max_tokens <= 0:
            self.finish_reason = "length"

    def append(self, token: Token) -> None:
        before = len(self.text)
        self.tokens.append(token)
        self.text += token.text
        longest = max((len(s) for s in self.params.stop), default=0)
        if longest:
            start = max(0, before - longest + 1)
            hits = [i for s in self.params.stop if (i := self.text.find(s, start)) >= 0]
            if hits:
                self.text = self.text[: min(hits)]
                self.finish("stop")
                return
        if len(self.tokens) >= self.params.max_tokens:
            self.finish("length")

    def finish(self, reason: str) -> None:
        if self.finish_reason is None:
            self.finish_reason = reason

    def completion(self, prefix: str) -> Completion:
        return Completion(index=self.index, text=self.text, tokens=self.tokens,
                          finish_reason=self.finish_reason or "length", seed=self.seed,
                          prefix=prefix)


def _responder(respond: Responder | Replies) -> Responder:
    if isinstance(respond, str | ScriptedReply):
        return lambda request: respond
    if callable(respond):
        return respond
    replies = list(respond)
    if not replies:
        raise ValueError("a scripted engine needs at least one reply")
    counter = itertools.count()
    return lambda request: replies[next(counter) % len(replies)]
