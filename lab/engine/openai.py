"""An engine that talks to an OpenAI-compatible server: llama.cpp's `llama-server` (parallel
slots), vLLM, or `python -m llama_cpp.server`. This is how the lab scales past one machine.

Samples are asked for with `n` in one request; a server that ignores `n` (llama-cpp-python's
own) gets the missing ones asked for one by one, each with its own seed. Tokens come back
with their log-probabilities where the server gives them (no token ids: they are -1), and
`on_token` is called as each completion arrives rather than token by token.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from lab.engine.base import (
    ChatMessage,
    Completion,
    Engine,
    EngineError,
    Generation,
    GenerationCancelled,
    Prompt,
    SamplingParams,
    Token,
    TokenCallback,
)

MISSING_LOGPROB = -30.0  # a candidate the server did not list among its top tokens


class OpenAICompatibleEngine(Engine):
    def __init__(self, base_url: str, model: str = "", api_key: str | None = None,
                 timeout_s: float = 300.0, n_ctx: int = 8192):
        super().__init__()
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.model = model
        self.model_name = model or self.base_url
        self.api_key = api_key
        self.timeout_s = timeout_s
        self._n_ctx = n_ctx

    # -- HTTP ---------------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.model:
            body = {"model": self.model, **body}
        request = urllib.request.Request(f"{self.base_url}{path}", json.dumps(body).encode(),
                                         headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", errors="replace")[:300]
            raise EngineError(f"{self.base_url}{path} answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise EngineError(f"cannot reach the model server at {self.base_url} ({exc}); "
                              "is it running?") from exc

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
        for prefix, indices in groups.items():
            pending = list(indices)
            while pending:
                if self._cancelled(cancel):
                    raise GenerationCancelled(self._generation(completions, prompt_tokens,
                                                               started))
                reply = self._request(prompt, prefix, params, seeds[pending[0]], len(pending))
                prompt_tokens += int(reply.get("usage", {}).get("prompt_tokens", 0))
                for choice, index in zip(reply.get("choices", []), pending, strict=False):
                    completion = self._completion(choice, index, seeds[index], prefix)
                    completions.append(completion)
                    for token in completion.tokens:
                        if on_token is not None:
                            on_token(index, token)
                done = len(reply.get("choices", []))
                if done == 0:
                    raise EngineError(f"{self.base_url} returned no choices")
                pending = pending[done:]
        completions.sort(key=lambda c: c.index)
        return self._generation(completions, prompt_tokens, started)

    @staticmethod
    def _generation(completions: list[Completion], prompt_tokens: int,
                    started: float) -> Generation:
        return Generation(completions=completions, prompt_tokens=prompt_tokens,
                          prompt_tokens_decoded=prompt_tokens,
                          generate_s=time.perf_counter() - started)

    def _request(self, prompt: Prompt, prefix: str, params: SamplingParams, seed: int,
                 n: int) -> dict[str, Any]:
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
            return self._post("/v1/completions", body)
        messages: list[ChatMessage] = list(prompt)
        if prefix:
            # Prefill: the server continues the final assistant message.
            messages.append({"role": "assistant", "content": prefix})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        body["messages"] = messages
        # Some servers (llama-cpp-python's) return no log-probs unless top_logprobs is set.
        body["top_logprobs"] = max(1, params.top_logprobs)
        return self._post("/v1/chat/completions", body)

    @staticmethod
    def _completion(choice: dict[str, Any], index: int, seed: int, prefix: str) -> Completion:
        text = choice.get("text")
        if text is None:
            text = (choice.get("message") or {}).get("content") or ""
        reason = {"stop": "stop", "length": "length"}.get(choice.get("finish_reason"), "stop")
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
