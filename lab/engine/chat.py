"""Prompt formatting: the model's own chat template, or a plain layout for base models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import llama_cpp as ll
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_types import ChatCompletionRequestMessage

from lab.engine.base import ChatMessage


@dataclass
class ChatFormat:
    template: str | None  # the GGUF's tokenizer.chat_template, None for most base models
    bos_text: str
    eos_text: str

    @classmethod
    def from_model(cls, model: ll.llama_model_p, piece: Callable[..., bytes]) -> ChatFormat:
        raw = ll.llama_model_chat_template(model, None)
        vocab = ll.llama_model_get_vocab(model)
        bos, eos = ll.llama_vocab_bos(vocab), ll.llama_vocab_eos(vocab)
        return cls(
            template=raw.decode("utf-8") if raw else None,
            bos_text=piece(bos, True).decode("utf-8", errors="replace") if bos >= 0 else "",
            eos_text=piece(eos, True).decode("utf-8", errors="replace") if eos >= 0 else "",
        )

    @property
    def is_chat(self) -> bool:
        return self.template is not None

    def render(self, messages: list[ChatMessage]) -> str:
        """The prompt text, ending where the assistant's answer begins."""
        if self.template is None:
            return plain_layout(messages)
        formatter = Jinja2ChatFormatter(self.template, self.eos_text, self.bos_text,
                                        add_generation_prompt=True)
        # The formatter hands the dicts to the template as they are: role and content strings
        # are all it reads, whatever role llama_cpp's request types would allow.
        return formatter(messages=cast(list[ChatCompletionRequestMessage], messages)).prompt


def plain_layout(messages: list[ChatMessage]) -> str:
    """A raw-completion layout for base models, which have no chat template."""
    parts = []
    for message in messages:
        if message["role"] == "system":
            parts.append(message["content"].strip())
        elif message["role"] == "user":
            parts.append(f"Question: {message['content'].strip()}")
        else:
            parts.append(f"Answer: {message['content'].strip()}")
    return "\n\n".join(parts) + "\n\nAnswer:"
