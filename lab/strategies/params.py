"""Typed strategy parameters: what the UI and the CLI read to build their controls.

Shared knobs have shared names (`n`, `temperature`, `top_p`, `max_tokens`, `width`, `depth`,
`rounds`, `scorer`, `verifier`, `prompt`, `seed`); the factories below keep their ranges and
help text identical across strategies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

ParamKind = Literal["int", "float", "choice", "bool"]

# The generated-token budget a run may be given (None means only the strategy's knobs bound it).
BUDGET_MIN = 1
BUDGET_MAX = 1_000_000

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


class ParamError(ValueError):
    """A parameter value the user can fix; the message is one line naming the valid range."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamKind
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    knob: bool = False  # sets how much compute the run spends (drawn beside the token budget)
    zero: str = ""  # what the value 0 means, in words ("all at once"), where it is special

    def parse(self, raw: Any) -> Any:
        """Convert `raw` (a string from the CLI, or a typed value) and check its range."""
        value = self._convert(raw)
        too_low = self.min is not None and value < self.min
        too_high = self.max is not None and value > self.max
        if self.kind in ("int", "float") and (too_low or too_high):
            raise ParamError(
                f"{self.name} must be between {_fmt(self.min)} and {_fmt(self.max)} "
                f"(got {_fmt(value)})"
            )
        if self.kind == "choice" and value not in self.choices:
            raise ParamError(
                f"{self.name} must be one of {', '.join(self.choices)} (got {value!r})"
            )
        return value

    def _convert(self, raw: Any) -> Any:
        try:
            if self.kind == "bool":
                return _to_bool(raw)
            if self.kind == "int":
                if isinstance(raw, float) and not raw.is_integer():
                    raise ValueError
                return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
            if self.kind == "float":
                return float(raw)
        except (TypeError, ValueError):
            raise ParamError(f"{self.name} must be {_article(self.kind)} (got {raw!r})") from None
        return str(raw).strip()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "default": self.default,
            "help": self.help,
            "min": self.min,
            "max": self.max,
            "choices": list(self.choices),
            "knob": self.knob,
            "zero": self.zero,
        }


def validate_params(
    strategy_name: str, params: Sequence[Param], raw: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Every parameter of the strategy, typed: the defaults overridden by `raw`."""
    known = {p.name: p for p in params}
    unknown = sorted(set(raw or {}) - set(known))
    if unknown:
        raise ParamError(
            f"unknown parameter {unknown[0]!r} for {strategy_name}; "
            f"valid: {', '.join(known) or '(none)'}"
        )
    values = {p.name: p.default for p in params}
    for name, value in (raw or {}).items():
        values[name] = known[name].parse(value)
    return values


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """`["n=8", "temperature=0.7"]` -> `{"n": "8", "temperature": "0.7"}` (CLI `--param`)."""
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ParamError(f"--param takes NAME=VALUE (got {item!r})")
        result[name.strip()] = value.strip()
    return result


def check_budget(budget: int | None) -> int | None:
    if budget is not None and not BUDGET_MIN <= budget <= BUDGET_MAX:
        raise ParamError(
            f"budget must be between {BUDGET_MIN} and {BUDGET_MAX} tokens (got {budget})"
        )
    return budget


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(raw)


def _article(kind: str) -> str:
    return {"int": "an integer", "float": "a number", "bool": "true or false"}.get(kind, kind)


def _fmt(value: float | None) -> str:
    if value is None:
        return "any"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# -- the shared knobs ------------------------------------------------------------------------
# Tokens per step-by-step chain by default: the smallest cap at which fewer than 10% of the
# default model's greedy chains on GSM8K are cut (69% at 256, 3% at 512; bench/baseline.py,
# docs/results.md, the prompt and cap baseline). A cut chain neither votes nor is ranked.
CHAIN_TOKENS = 512

def n_param(default: int = 8, maximum: int = 64) -> Param:
    return Param("n", "int", default, "samples (chains) to draw", 1, maximum, knob=True)


def temperature_param(default: float = 0.7) -> Param:
    return Param("temperature", "float", default, "sampling temperature (0 = greedy)", 0.0, 2.0)


def top_p_param(default: float = 0.95) -> Param:
    return Param("top_p", "float", default, "nucleus sampling: keep this much probability",
                 0.05, 1.0)


def max_tokens_param(default: int = CHAIN_TOKENS,
                     what: str = "tokens per chain") -> Param:
    return Param("max_tokens", "int", default, f"most {what}", 1, 4096, knob=True)


def seed_param() -> Param:
    return Param("seed", "int", 0, "random seed (sequence i uses seed + i)", 0, 2**31 - 1)


def prompt_param(default: str = "cot") -> Param:
    return Param("prompt", "choice", default, "direct answer or step-by-step prompt", choices=(
        "direct", "cot"))


def width_param(default: int = 3) -> Param:
    return Param("width", "int", default, "partial solutions kept at each step", 1, 16,
                 knob=True)


def branch_param(default: int = 2) -> Param:
    return Param("branch", "int", default, "next steps sampled from each partial solution", 1, 8,
                 knob=True)


def depth_param(default: int = 6) -> Param:
    return Param("depth", "int", default, "most reasoning steps", 1, 32, knob=True)


def rounds_param(default: int = 2) -> Param:
    return Param("rounds", "int", default, "rounds of critique and revision", 0, 8,
                 knob=True)


def scorer_param(default: str, choices: Sequence[str], what: str = "ranks candidates") -> Param:
    return Param("scorer", "choice", default, f"what {what}", choices=tuple(choices))


def verifier_param(default: str, choices: Sequence[str]) -> Param:
    return Param("verifier", "choice", default, "what accepts or rejects a solution",
                 choices=tuple(choices))


def threshold_param(default: float = 0.5) -> Param:
    return Param("threshold", "float", default, "verifier score needed to accept", 0.0, 1.0)


def sampling_params(temperature: float = 0.7, max_tokens: int = CHAIN_TOKENS) -> list[Param]:
    return [temperature_param(temperature), top_p_param(), max_tokens_param(max_tokens)]


def cut_votes_param(what: str = "vote") -> Param:
    return Param("cut_votes", "bool", False, f"let chains cut at the token cap {what} (their "
                 "answer is whatever number they last wrote)")
