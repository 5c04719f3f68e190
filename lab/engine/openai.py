"""An engine that talks to an OpenAI-compatible server: llama.cpp's `llama-server` (parallel
slots), vLLM, or `python -m llama_cpp.server`. This is how the lab scales past one machine.

Samples are asked for with `n` in one request; a server that ignores `n` (llama-cpp-python's
own) gets the missing ones asked for one by one, each with its own seed, and one that refuses
`n` (llama-server) gets every request with n=1. Tokens come back with their log-probabilities
where the server gives them (no token ids: they are -1).

What a server cannot give degrades with a note (`take_notes`, which the run path copies into
the trace's meta): `on_token` is called as each completion arrives, not token by token, so a
callback that stops a sequence cuts it where it asked after the server generated all of it;
a prefix is continued as an assistant message the server is asked to continue
(`continue_final_message`), which some servers ignore. Entropy and self-certainty need the
full distribution, which no server returns (`lacks`): scorers that read them are refused.
A server that stops answering raises EngineUnavailable (the run is interrupted, not failed).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab.engine.base import (
    ChatMessage,
    Completion,
    Engine,
    EngineError,
    EngineUnavailable,
    Generation,
    GenerationCancelled,
    Prompt,
    SamplingParams,
    Token,
    TokenCallback,
)

MISSING_LOGPROB = -30.0  # a candidate the server did not list among its top tokens
CANCEL_POLL_S = 0.1  # how often a waiting request looks at its cancel flag
DEFAULT_N_CTX = 8192  # when the server does not say
NOTE_PREFIX = ("prefix continuation: each partial answer was sent as an assistant message for "
               "the server to continue (continue_final_message); a server that ignores it "
               "(llama-cpp-python's) starts a new reply instead, so steps may not follow "
               "their prefix")


def is_server_url(name: str | None) -> bool:
    """Whether a model name is the address of a model server rather than a model."""
    return bool(name) and str(name).startswith(("http://", "https://"))


class _HTTPRefused(EngineError):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class OpenAICompatibleEngine(Engine):
    lacks = frozenset({"entropy", "self_certainty", "token_ids"})
    context_per_sequence = True  # each chain is its own request, in its own slot

    def __init__(self, base_url: str, model: str = "", api_key: str | None = None,
                 timeout_s: float = 600.0, n_ctx: int | None = None):
        super().__init__()
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.model = model
        self.model_name = model or self.base_url
        self.api_key = api_key
        self.timeout_s = timeout_s
        self._n_ctx = n_ctx or DEFAULT_N_CTX
        self._ctx_given = n_ctx is not None
        self._one_per_request = False  # the server refused n > 1
        self._notes: dict[str, None] = {}  # ordered, without repeats
        self._notes_lock = threading.Lock()

    def connect(self) -> OpenAICompatibleEngine:
        """Ask the server what it serves: the model to name in requests (the first one, unless
        one was given), the name runs are stored under (a GGUF path's stem, so a server of the
        same file stores runs under the local engine's name) and, where the server says it,
        its context length. Raises EngineUnavailable when nothing answers."""
        models = [m for m in self._get("/v1/models").get("data") or [] if m.get("id")]
        served = next((m for m in models if self.model in (m["id"], _stored_name(m["id"]))),
                      None)
        if self.model and served is None and models:
            names = ", ".join(str(m["id"]) for m in models)
            raise EngineError(f"the server at {self.base_url} serves {names}, not "
                              f"{self.model!r}")
        served = served or (models[0] if models else None)
        if served is not None:
            self.model = str(served["id"])
            if served.get("max_model_len") and not self._ctx_given:  # vLLM
                self._n_ctx = int(served["max_model_len"])
        if self.model:
            self.model_name = _stored_name(self.model)
        if not self._ctx_given:
            self._read_server_ctx()
        return self

    def _read_server_ctx(self) -> None:
        """llama-server says its context per slot under /props."""
        try:
            props = self._get("/props")
        except EngineError:
            return
        settings = props.get("default_generation_settings") or {}
        n_ctx = settings.get("n_ctx") or props.get("n_ctx")
        if isinstance(n_ctx, int) and n_ctx > 0:
            self._n_ctx = n_ctx

    # -- notes --------------------------------------------------------------------------
    def _note(self, text: str) -> None:
        with self._notes_lock:
            self._notes[text] = None

    def take_notes(self) -> list[str]:
        with self._notes_lock:
            notes, self._notes = list(self._notes), {}
        return notes

    # -- HTTP ---------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.base_url}{path}", headers=self._headers())
        return self._send(request, path, timeout_s=30.0)

    def _post(self, path: str, body: dict[str, Any],
              cancel: threading.Event | None = None) -> dict[str, Any]:
        """POST and wait for the answer; a cancel stops the waiting at once (the server may
        finish the request, its answer is dropped)."""
        if self.model:
            body = {"model": self.model, **body}
        request = urllib.request.Request(f"{self.base_url}{path}", json.dumps(body).encode(),
                                         self._headers())
        if cancel is None and not self._cancel_current.is_set():
            return self._send(request, path)
        answer: dict[str, Any] = {}
        done = threading.Event()

        def send() -> None:
            try:
                answer["reply"] = self._send(request, path)
            except EngineError as exc:
                answer["error"] = exc
            finally:
                done.set()

        threading.Thread(target=send, name="server-request", daemon=True).start()
        while not done.wait(CANCEL_POLL_S):
            if self._cancelled(cancel):
                raise GenerationCancelled(Generation(completions=[]))
        if "error" in answer:
            raise answer["error"]
        return answer["reply"]

    def _send(self, request: urllib.request.Request, path: str,
              timeout_s: float | None = None) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(request, timeout=timeout_s or self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", errors="replace")[:300]
            raise _HTTPRefused(f"{self.base_url}{path} answered {exc.code}: {detail}",
                               exc.code) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError,
                http.client.HTTPException) as exc:
            raise EngineUnavailable(f"cannot reach the model server at {self.base_url} "
                                    f"({exc}); is it running?") from exc
        except json.JSONDecodeError as exc:
            raise EngineError(f"{self.base_url}{path} answered something that is not "
                              f"JSON ({exc})") from exc

    # -- generation ---------------------------------------------------------------------
    def _continue(self, prompt: Prompt, prefixes: list[str], params: SamplingParams,
                  seeds: list[int], on_token: TokenCallback | None,
                  cancel: threading.Event | None) -> Generation:
        started = time.perf_counter()
        completions: list[Completion] = []
        prompt_tokens = 0
        # Requests group sequences that share a prefix: one request with n for each group.
        groups: dict[str, list[int]] = {}
        for index, prefix in enumerate(prefixes):
            groups.setdefault(prefix, []).append(index)
        if any(prefixes) and not isinstance(prompt, str):
            self._note(NOTE_PREFIX)
        for prefix, indices in groups.items():
            pending = list(indices)
            while pending:
                try:
                    if self._cancelled(cancel):
                        raise GenerationCancelled(Generation(completions=[]))
                    reply = self._ask(prompt, prefix, params, seeds[pending[0]], len(pending),
                                      cancel)
                except GenerationCancelled:
                    completions.sort(key=lambda c: c.index)
                    raise GenerationCancelled(self._generation(completions, prompt_tokens,
                                                               started)) from None
                prompt_tokens += int(reply.get("usage", {}).get("prompt_tokens", 0))
                for choice, index in zip(reply.get("choices", []), pending, strict=False):
                    completion = self._completion(choice, index, seeds[index], prefix)
                    if on_token is not None:
                        self._replay(completion, on_token)
                    completions.append(completion)
                done = len(reply.get("choices", []))
                if done == 0:
                    raise EngineError(f"{self.base_url} returned no choices")
                pending = pending[done:]
        completions.sort(key=lambda c: c.index)
        return self._generation(completions, prompt_tokens, started)

    def _ask(self, prompt: Prompt, prefix: str, params: SamplingParams, seed: int, n: int,
             cancel: threading.Event | None) -> dict[str, Any]:
        """One request for up to n samples; a server that refuses n > 1 gets n=1 from now on."""
        if self._one_per_request:
            n = 1
        try:
            return self._request(prompt, prefix, params, seed, n, cancel)
        except _HTTPRefused as exc:
            if n == 1 or exc.code not in (400, 422):
                raise
            self._one_per_request = True
            return self._request(prompt, prefix, params, seed, 1, cancel)

    def _replay(self, completion: Completion, on_token: TokenCallback) -> None:
        """Give the callback the completion's tokens; where it asks to stop the sequence, cut
        the completion there (the server had already generated the rest)."""
        for position, token in enumerate(completion.tokens):
            if not on_token(completion.index, token):
                continue
            past = len(completion.tokens) - position - 1
            if past:
                completion.tokens = completion.tokens[: position + 1]
                completion.text = "".join(t.text for t in completion.tokens)
                self._note("stopping a sequence from a callback: the server returns whole "
                           "completions, so stopped sequences were cut where the callback "
                           "stopped them after the server had generated them (the tokens "
                           "past the stop are not counted)")
            completion.finish_reason = "stopped"
            return

    @staticmethod
    def _generation(completions: list[Completion], prompt_tokens: int,
                    started: float) -> Generation:
        return Generation(completions=completions, prompt_tokens=prompt_tokens,
                          prompt_tokens_decoded=prompt_tokens,
                          generate_s=time.perf_counter() - started)

    def _request(self, prompt: Prompt, prefix: str, params: SamplingParams, seed: int,
                 n: int, cancel: threading.Event | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "n": n,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": seed,
            "logprobs": True,
        }
        if params.top_k:
            body["top_k"] = params.top_k
        if params.min_p:
            body["min_p"] = params.min_p
        if params.stop:
            body["stop"] = list(params.stop)
        if isinstance(prompt, str):
            body["prompt"] = prompt + prefix
            body["logprobs"] = max(1, params.top_logprobs)
            return self._post("/v1/completions", body, cancel)
        messages: list[ChatMessage] = list(prompt)
        if prefix:
            # Prefill: the server continues the final assistant message.
            messages.append({"role": "assistant", "content": prefix})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        body["messages"] = messages
        # Some servers (llama-cpp-python's) return no log-probs unless top_logprobs is set.
        body["top_logprobs"] = max(1, params.top_logprobs)
        return self._post("/v1/chat/completions", body, cancel)

    @staticmethod
    def _completion(choice: dict[str, Any], index: int, seed: int, prefix: str) -> Completion:
        text = choice.get("text")
        if text is None:
            text = (choice.get("message") or {}).get("content") or ""
        reason = "length" if choice.get("finish_reason") == "length" else "stop"
        return Completion(index=index, text=text, tokens=_tokens(choice.get("logprobs")),
                          finish_reason=reason, seed=seed, prefix=prefix)

    # -- scoring ------------------------------------------------------------------------
    def score(self, prompt: Prompt, continuation: str | Sequence[int]) -> list[Token]:
        if not isinstance(continuation, str):
            raise EngineError("a server engine scores text, not token ids")
        head = self.format_prompt(prompt)
        with self._lock:
            reply = self._post("/v1/completions", {"prompt": head + continuation,
                                                   "max_tokens": 0, "echo": True,
                                                   "logprobs": 1})
        self._read_usage(reply, head + continuation)
        tokens = _tokens(reply["choices"][0].get("logprobs"))
        # Keep the tokens of the continuation: those past the prompt's characters.
        kept, seen = [], 0
        for token in tokens:
            if seen >= len(head):
                kept.append(token)
            seen += len(token.text)
        return kept

    def next_token_logprobs(self, prompt: Prompt, candidates: Sequence[str]) -> dict[str, float]:
        params = SamplingParams(temperature=0, max_tokens=1, top_logprobs=20)
        with self._lock:
            reply = self._request(prompt, "", params, 0, 1)
        self._read_usage(reply, self.format_prompt(prompt))
        tokens = _tokens(reply["choices"][0].get("logprobs"))
        if not tokens:
            raise EngineError(f"{self.base_url} returned no log-probabilities")
        first = tokens[0]
        table = {text.strip(): logprob for text, logprob in first.top}
        table.setdefault(first.text.strip(), first.logprob)
        return {c: table.get(c.strip(), MISSING_LOGPROB) for c in candidates}

    def _read_usage(self, reply: dict[str, Any], text: str) -> None:
        """Report a scoring call's prompt: the server's count, else an estimate; a server
        does not say what its cache served, so all of it counts as decoded."""
        tokens = int(reply.get("usage", {}).get("prompt_tokens", 0)) or self.count_tokens(text)
        self._read_prompt(tokens, tokens)

    def format_prompt(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        from lab.engine.chat import plain_layout

        return plain_layout(list(prompt))

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # servers differ in how (and whether) they tokenize

    @property
    def n_ctx(self) -> int:
        return self._n_ctx


def _stored_name(model_id: str) -> str:
    """The name runs are stored under: a GGUF path's stem (as the local engine names it)."""
    return Path(model_id).stem if model_id.endswith(".gguf") else model_id


def _tokens(logprobs: dict[str, Any] | None) -> list[Token]:
    """Tokens from either shape of `logprobs`: chat (`content`) or completions (lists)."""
    if not logprobs:
        return []
    if "content" in logprobs:
        return [Token(id=-1, text=item.get("token", ""), logprob=float(item.get("logprob", 0)),
                      top=[(alt.get("token", ""), float(alt.get("logprob", 0)))
                           for alt in item.get("top_logprobs") or []])
                for item in logprobs.get("content") or []]
    texts = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or [None] * len(texts)
    return [Token(id=-1, text=text, logprob=float(value if value is not None else 0.0),
                  top=sorted(((t, float(v)) for t, v in (top or {}).items()),
                             key=lambda alt: -alt[1]))
            for text, value, top in zip(texts, values, tops, strict=False)]
