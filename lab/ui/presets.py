"""The categories of inference-time scaling that Learn explains, each with a Playground preset."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from lab.ui.controls import SOURCES, set_param

PENDING = "preset"  # st.session_state key: a preset for the Playground to apply once


@dataclass(frozen=True)
class Preset:
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    problem_set: str = "arith"
    budget: int = 0


@dataclass(frozen=True)
class Category:
    title: str
    strategies: tuple[str, ...]
    what: str
    cost: str
    helps: str
    preset: Preset


CATEGORIES = (
    Category(
        "Think before answering", ("direct", "cot"),
        "Ask for the reasoning before the answer (chain of thought) instead of the answer "
        "alone. The model spends tokens on intermediate results it can then build on.",
        "One sequence, but several times longer than a bare answer.",
        "Multi-step problems, on models big enough to follow their own steps. A tiny model "
        "may just ramble.",
        Preset("cot", {"max_tokens": 256}),
    ),
    Category(
        "Sample many, vote", ("self-consistency",),
        "Draw N chains at a temperature above zero and take the answer most of them reach. "
        "Wrong chains tend to disagree with each other; right ones agree.",
        "N times the generated tokens; the prompt is decoded once and shared, and the N "
        "chains are decoded side by side in one batch.",
        "When the model is right more often than it is wrong in any one particular way. "
        "Accuracy climbs with N, then flattens.",
        Preset("self-consistency", {"n": 5, "max_tokens": 192, "temperature": 0.8}),
    ),
    Category(
        "Vote with confidence", ("confidence-vote",),
        "Weigh each chain's vote by how confident the model was while writing it, and stop "
        "chains whose confidence drops below a threshold learned from a few warm-up chains "
        "(DeepConf).",
        "Fewer tokens than plain voting at the same N: unsure chains stop early.",
        "When low confidence marks wrong chains; a little model's confidence is a noisy "
        "signal.",
        Preset("confidence-vote", {"n": 6, "warmup": 3, "max_tokens": 192}),
    ),
    Category(
        "Generate, then verify", ("best-of-n", "rejection"),
        "Sample candidates and let a scorer or verifier choose: best-of-N keeps the "
        "highest-scored one, rejection sampling stops at the first one a verifier accepts.",
        "N chains plus one scoring call per candidate when the verifier is a model.",
        "When the verifier is better than chance: a programmatic check (Game of 24) is "
        "exact; a small model judging itself is weak.",
        Preset("best-of-n", {"n": 4, "scorer": "programmatic", "max_tokens": 192},
               problem_set="game24"),
    ),
    Category(
        "Revise", ("self-refine",),
        "Write a draft, ask the model to critique it, then revise; keep a revision only if "
        "it scores at least as high as the draft.",
        "Two extra calls per round, each reading the whole previous solution.",
        "When the model can spot its own mistakes, which small models rarely can.",
        Preset("self-refine", {"rounds": 1, "max_tokens": 192}),
    ),
    Category(
        "Search over steps", ("beam-search", "tree-search"),
        "Grow the solution one step at a time, sample several next steps, score the partial "
        "solutions and keep the promising ones (beam search), or explore a tree with Monte "
        "Carlo tree search.",
        "Many short calls plus a score for every step; the cached prefix of each path is "
        "reused.",
        "When intermediate steps can be judged, as in puzzles like Game of 24.",
        Preset("beam-search", {"width": 2, "branch": 2, "depth": 3, "max_tokens": 64},
               problem_set="game24"),
    ),
)


def request_preset(preset: Preset) -> None:
    """Ask the Playground to load this preset on its next run."""
    st.session_state[PENDING] = preset


def apply_pending_preset(prefix: str) -> Preset | None:
    """Set the Playground's controls from a requested preset (before they are drawn)."""
    preset = st.session_state.pop(PENDING, None)
    if not isinstance(preset, Preset):
        return None
    st.session_state[f"{prefix}.source"] = SOURCES[0]
    st.session_state[f"{prefix}.set"] = preset.problem_set
    st.session_state[f"{prefix}.strategy"] = preset.strategy
    st.session_state[f"{prefix}.budget"] = preset.budget
    for name, value in preset.params.items():
        set_param(prefix, preset.strategy, name, value)
    return preset
