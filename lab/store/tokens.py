"""Per-token data in a compact form: ids as int32 and log-probs as float64 packed little-endian,
texts as a JSON list, top alternatives as JSON (NULL when no token has any).

Log-probs are float64, not float32, so a stored trace reads back exactly equal. Optional
per-token floats (entropy, self-certainty) use NaN for "unknown", so a NaN value itself reads
back as None.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from lab.engine.base import Token


@dataclass
class PackedTokens:
    ids: bytes
    logprobs: bytes
    texts: list[str]
    top: list[list[list[Any]]] | None
    entropy: bytes | None
    self_certainty: bytes | None


def pack_tokens(tokens: list[Token]) -> PackedTokens:
    n = len(tokens)
    return PackedTokens(
        ids=struct.pack(f"<{n}i", *(t.id for t in tokens)),
        logprobs=struct.pack(f"<{n}d", *(t.logprob for t in tokens)),
        texts=[t.text for t in tokens],
        top=[[list(alt) for alt in t.top] for t in tokens] if any(t.top for t in tokens) else None,
        entropy=_pack_optional([t.entropy for t in tokens]),
        self_certainty=_pack_optional([t.self_certainty for t in tokens]),
    )


def unpack_tokens(packed: PackedTokens) -> list[Token]:
    n = len(packed.texts)
    ids = struct.unpack(f"<{n}i", packed.ids)
    logprobs = struct.unpack(f"<{n}d", packed.logprobs)
    tops = packed.top or [[] for _ in range(n)]
    entropy = _unpack_optional(packed.entropy, n)
    certainty = _unpack_optional(packed.self_certainty, n)
    return [
        Token(
            id=ids[i],
            text=packed.texts[i],
            logprob=logprobs[i],
            top=[(str(text), float(lp)) for text, lp in tops[i]],
            entropy=entropy[i],
            self_certainty=certainty[i],
        )
        for i in range(n)
    ]


def _pack_optional(values: list[float | None]) -> bytes | None:
    if all(v is None for v in values):
        return None
    return struct.pack(f"<{len(values)}d", *(math.nan if v is None else v for v in values))


def _unpack_optional(data: bytes | None, n: int) -> list[float | None]:
    if data is None:
        return [None] * n
    return [None if math.isnan(v) else v for v in struct.unpack(f"<{n}d", data)]
