"""Learn's sections and their Playground presets, read from the registered strategies: each
category of strategies is a section; its preset is the first of its strategies with a demo.

A demo's problem and seed come from data/demos.json, written by scripts/find_demos.py: for
each model, the problems on which each strategy was measured to beat its baseline across
seeds, and the problems tried where it did not. `Measured` is one strategy's entry, and
`expectation` says in a sentence what a learner will see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from lab import config
from lab.models import REGISTRY
from lab.strategies.categories import Category
from lab.strategies.registry import categories
from lab.tasks.problem import Problem
from lab.ui.controls import SOURCES, set_param
from lab.ui.findings import finding
from lab.ui.problems import ProblemSetError, difficulties, load_problems

PENDING = "preset"  # st.session_state key: a preset for the Playground to apply once
DEMOS = config.REPO_ROOT / "data" / "demos.json"


@dataclass(frozen=True)
class Preset:
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    problem_set: str = "arith"
    budget: int = 0
    problem_id: str | None = None  # the problem to open; None: the set's first
    problem: Problem | None = None  # a stored problem, opened as the user's own question


@dataclass(frozen=True)
class Measured:
    """What scripts/find_demos.py measured for one strategy with one model."""

    strategy: str
    model: str
    entry: dict[str, Any]  # the section's record in data/demos.json
    measured: str = ""  # the date
    prompt_format: str = ""  # how the model was asked then (lab.prompts.PROMPT_FORMATS)

    @property
    def found(self) -> dict[str, Any] | None:
        """The first problem on which the effect held, if any."""
        return next(iter(self.entry.get("found") or []), None)

    @property
    def tried(self) -> list[dict[str, Any]]:
        return list(self.entry.get("tried") or [])


@dataclass(frozen=True)
class Section:
    category: Category
    strategies: tuple[str, ...]
    preset: Preset | None
    measured: Measured | None = None


def sections(model: str | None = None) -> list[Section]:
    """One section per category of the registered strategies, in strategy order; a preset
    opens the problem measured for `model` (default: the lab's default model)."""
    demos = demos_for(model or config.default_model())
    found = []
    for category, strategies in categories():
        with_demo = [(s.name, s.demo) for s in strategies if s.demo is not None]
        if not with_demo:
            found.append(Section(category, tuple(s.name for s in strategies), None))
            continue
        first, demo = with_demo[0]
        measured = demos.get(first)
        preset = Preset(first, dict(demo.params), demo.problem_set, demo.budget)
        found.append(Section(category, tuple(s.name for s in strategies),
                             with_measured(preset, measured), measured))
    return found


def demos_for(model: str, path: Path = DEMOS) -> dict[str, Measured]:
    """The demos measured with `model`, else those of the first model measured (the problems
    likely show the effect with a similar model; each sentence names the model measured)."""
    models = _measured_models(path)
    if found := _demos_of(model, models.get(model)):
        return found
    first = next(iter(models), None)
    return _demos_of(first, models[first]) if first is not None else {}


def load_demos(model: str, path: Path = DEMOS) -> dict[str, Measured]:
    """The measured demos of `model` by strategy; empty when the file or the model's entry is
    absent (an unreadable file is reported as absent: Learn still works without it)."""
    return _demos_of(model, _measured_models(path).get(model))


def _measured_models(path: Path) -> dict[str, Any]:
    """The file's entries by model, read once; empty when it is absent or unreadable."""
    try:
        models = json.loads(path.read_text())["models"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return models if isinstance(models, dict) else {}


def _demos_of(model: str, entry: Any) -> dict[str, Measured]:
    if not isinstance(entry, dict):
        return {}
    return {name: Measured(name, model, record,
                           str(record.get("measured") or entry.get("measured", "")),
                           str(record.get("prompt_format") or entry.get("prompt_format", "")))
            for name, record in (entry.get("sections") or {}).items()}


def with_measured(preset: Preset, measured: Measured | None) -> Preset:
    """The preset opening the measured problem, with the settings and a seed it held on; where
    none held, the first problem tried (the baseline is wrong there, so the learner sees the
    strategy try, and fail, to fix it) rather than a problem the baseline already solves."""
    if measured is None:
        return preset
    shown = measured.found or next(iter(measured.tried), None)
    if shown is None:
        return preset
    params = dict(measured.entry.get("params") or preset.params)
    if shown.get("seed") is not None:
        params["seed"] = shown["seed"]
    return Preset(preset.strategy, params, measured.entry.get("problem_set", preset.problem_set),
                  int(measured.entry.get("budget") or preset.budget), shown["problem"])


RECURSIVE_RESULTS = "docs/results.md, *Recursive calls over long contexts*"


def not_searched(strategy: str) -> str | None:
    """Why scripts/find_demos.py does not measure this strategy, and what was measured."""
    if strategy != "recursive":
        return None
    return ("Not searched by `scripts/find_demos.py`; measured with `lab eval` instead "
            f"({finding('recursive').get('measured', RECURSIVE_RESULTS)}). "
            f"{finding('recursive').get('text', '')} The button opens the first "
            "`longctx-easy` problem at the strategy's defaults.")


def expectation(measured: Measured | None, strategy: str = "") -> str:
    """What the learner should expect from the preset, in the measured numbers."""
    if measured is None:
        return not_searched(strategy) or (
            "Not measured: `scripts/find_demos.py` has no entry for this strategy, so the "
            "button opens the set's first problem, which may not show the effect.")
    entry = measured.entry
    if "baseline" not in entry:
        return (f"No demonstration yet ({entry.get('note', 'no record')}). The button opens "
                "the set's first problem, which may not show the effect.")
    where = (f"Measured with `{measured.model}` on {measured.measured} "
             f"(`scripts/find_demos.py`)")
    baseline = _name(entry["baseline"]["strategy"])
    found = measured.found
    if found is None:
        return _not_found(measured, where, baseline)
    strategy = f"`{measured.strategy}`{_settings(entry.get('params') or {})}"
    said = _said_by_baseline(found)
    effect = f"; {entry['effect']}" if entry.get("effect") else ""
    if entry.get("deterministic") and entry.get("states"):
        outcome = (f"{strategy} says **{found['answer']}** (temperature 0, so seeds change "
                   "nothing: run with the prompt decoded afresh and served from the cache, "
                   f"right both times{effect})")
    elif entry.get("deterministic"):
        outcome = (f"{strategy} says **{found['answer']}** (temperature 0: measured once, "
                   "seeds change nothing; greedy text can still shift with what the model's "
                   "cache holds, so a rerun may differ)")
    else:
        outcome = (f"{strategy} says **{found['answer']}** in {found['held']} of "
                   f"{found['runs']} seeds; the button opens seed {found['seed']}"
                   f"{_minority(found)}")
    caveat = f" {entry['caveat']}" if entry.get("caveat") else ""
    caveat += _format_changed(measured)
    return (f"On **{found['problem']}** (correct answer {found['gold']}) {baseline} says "
            f"{said}; {outcome}. {where}.{caveat}")


def _minority(found: dict[str, Any]) -> str:
    """How often the strategy was right where a plain majority of its own chains was not."""
    picks = int(found.get("minority_picks") or 0)
    if not picks:
        return ""
    return (f" (in {picks} of those seeds a plain majority of the same chains was wrong: "
            "the answer picked was a minority's)")


def _format_changed(measured: Measured) -> str:
    """A warning when the model is now asked in another prompt format than when measured."""
    known = REGISTRY.get(measured.model)
    if not measured.prompt_format or known is None:
        return ""
    if known.prompt_format == measured.prompt_format:
        return ""
    return (f" Measured with the `{measured.prompt_format}` prompt format; the model is now "
            f"asked in the `{known.prompt_format}` format, so the effect may differ until "
            "`scripts/find_demos.py` measures it again.")


def _not_found(measured: Measured, where: str, baseline: str) -> str:
    entry, tried = measured.entry, measured.tried
    if not tried:
        return (f"No demonstration found: {entry.get('baseline_right_skipped', 0)} "
                f"candidates tried, and {baseline} was right on each. {where}.")
    best = max(t["held"] for t in tried)
    if entry.get("deterministic") and entry.get("states"):
        how = ("was wrong on each with its prompt decoded afresh (it had to be right both "
               "fresh and cached)" if best == 0 else
               "was right on some only once of the two runs, fresh and cached")
    elif best == 0:
        how = (f"was wrong at the first seed on each (needed {entry['need']} of "
               f"{len(entry['seeds'])} seeds)")
    else:
        how = (f"was right in at most {best} of the seeds tried (needed {entry['need']} of "
               f"{len(entry['seeds'])})")
    if entry.get("effect") and any(t.get("right_without_effect") for t in tried):
        how += f"; a right answer counted only when {entry['effect']}"
    first = tried[0]
    return (f"No demonstration found: on the {len(tried)} problems of `{entry['problem_set']}` "
            f"where {baseline} was wrong, `{measured.strategy}` {how}. The button opens the "
            f"first of them, **{first['problem']}** (correct answer {first['gold']}), where "
            f"{baseline} says {_said_by_baseline(first)} and `{measured.strategy}` said "
            f"{_said(next(iter(first.get('answers') or []), None))}: watch how it tries, and "
            f"expect the effect to be rare with this model. {where}.")


def _name(strategy: str) -> str:
    return {"cot": "greedy step-by-step (`cot`)",
            "direct": "the greedy direct answer (`direct`)"}.get(strategy, f"`{strategy}`")


def _said_by_baseline(found: dict[str, Any]) -> str:
    """The baseline's answer; both when it differed between a fresh and a cached prompt."""
    said = _said(found.get("baseline_answer"))
    others = {str(a) for a in found.get("baseline_answers") or []} - {
        str(found.get("baseline_answer"))}
    if others:
        said += f" (or **{', '.join(sorted(others))}** with its prompt already cached)"
    return said


def _said(answer: object) -> str:
    return f"**{answer}**" if answer is not None else "nothing it could extract"


def _settings(params: dict[str, Any]) -> str:
    shown = {k: v for k, v in params.items() if k in ("n", "width", "rounds", "min_tokens")}
    return f" ({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else ""


def request_preset(preset: Preset) -> None:
    """Ask the Playground to load this preset on its next run."""
    st.session_state[PENDING] = preset


def apply_pending_preset(prefix: str) -> Preset | None:
    """Set the Playground's controls from a requested preset (before they are drawn)."""
    preset = st.session_state.pop(PENDING, None)
    if not isinstance(preset, Preset):
        return None
    st.session_state[f"{prefix}.strategy"] = preset.strategy
    st.session_state[f"{prefix}.budget"] = preset.budget
    for name, value in preset.params.items():
        set_param(prefix, preset.strategy, name, value)
    if preset.problem is not None:  # its set may not be on this machine: ask it as typed
        st.session_state[f"{prefix}.source"] = SOURCES[2]
        st.session_state[f"{prefix}.question"] = preset.problem.question
        st.session_state[f"{prefix}.gold"] = preset.problem.gold or ""
        st.session_state[f"{prefix}.kind"] = str(preset.problem.kind)
        return preset
    st.session_state[f"{prefix}.source"] = SOURCES[0]
    st.session_state[f"{prefix}.set"] = preset.problem_set
    select_problem(prefix, preset.problem_set, preset.problem_id)
    return preset


def select_problem(prefix: str, problem_set: str, problem_id: str | None) -> bool:
    """Set the built-in problem picker's difficulty and problem to `problem_id` (None: the
    set's first), by the keys of lab.ui.controls.problem_picker; False when the set does not
    offer it."""
    try:
        problems = load_problems(problem_set)
    except ProblemSetError:
        return False
    chosen = next((p for p in problems if p.id == problem_id or problem_id is None), None)
    if chosen is None:
        return False
    if len(difficulties(problems)) > 1:
        st.session_state[f"{prefix}.level.{problem_set}"] = chosen.difficulty
        problems = [p for p in problems if p.difficulty == chosen.difficulty]
    key = f"{prefix}.problem.{problem_set}.{len(problems)}.{problems[0].id}"
    st.session_state[key] = problems.index(chosen)
    return True
