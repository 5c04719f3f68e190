"""Learn's sections and their Playground presets, read from the registered strategies: each
category of strategies is a section; its preset is the first of its strategies with a demo."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from lab.strategies.categories import Category
from lab.strategies.registry import categories
from lab.ui.controls import SOURCES, set_param

PENDING = "preset"  # st.session_state key: a preset for the Playground to apply once


@dataclass(frozen=True)
class Preset:
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    problem_set: str = "arith"
    budget: int = 0


@dataclass(frozen=True)
class Section:
    category: Category
    strategies: tuple[str, ...]
    preset: Preset | None


def sections() -> list[Section]:
    """One section per category of the registered strategies, in strategy order."""
    found = []
    for category, strategies in categories():
        demos = [Preset(s.name, dict(s.demo.params), s.demo.problem_set, s.demo.budget)
                 for s in strategies if s.demo is not None]
        found.append(Section(category, tuple(s.name for s in strategies),
                             demos[0] if demos else None))
    return found


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
