"""Widgets: problems, strategies and their typed parameters, token budgets.

Every widget has a key under a page prefix ("pg", "cmp", ...), and its default is put in
st.session_state before it is drawn, so Learn's presets can set any control by its key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st

from lab.strategies.base import Strategy
from lab.strategies.params import BUDGET_MAX, Param
from lab.strategies.registry import get_strategy, list_strategies
from lab.tasks.datasets import FILE_KINDS
from lab.tasks.kinds import kind_names
from lab.tasks.problem import AnswerKind, Problem, parse_kind
from lab.tasks.slices import SPAN_HELP, SliceError, parse_span, take_span
from lab.ui.problems import (
    SET_SIZE,
    ProblemSetError,
    builtin_sets,
    describe,
    difficulties,
    load_problems,
)

SOURCES = ("Built-in set", "Dataset file", "Your own question")


def default(key: str, value: Any) -> None:
    """Give a widget its starting value (once), without passing `value=` to the widget."""
    if key not in st.session_state:
        st.session_state[key] = value


# -- problems ---------------------------------------------------------------------------------
def problem_picker(prefix: str) -> Problem | None:
    """A problem from a built-in set (by difficulty), a dataset file, or the user's own."""
    default(f"{prefix}.source", SOURCES[0])
    source = st.radio("Source", SOURCES, key=f"{prefix}.source", horizontal=True,
                      label_visibility="collapsed")
    if source == SOURCES[0]:
        problem = _builtin_problem(prefix)
    elif source == SOURCES[1]:
        problem = _file_problem(prefix)
    else:
        problem = _own_problem(prefix)
    if problem is not None and source != SOURCES[2]:
        with st.container(border=True):
            st.markdown(problem.question)
            if problem.gold is not None:
                st.caption(f"Correct answer: {problem.gold}")
    return problem


def _builtin_problem(prefix: str) -> Problem | None:
    sets = builtin_sets()
    if not sets:
        st.error("No built-in problem set has data: run `lab problems build`.")
        return None
    default(f"{prefix}.set", next(iter(sets)))
    name = st.selectbox("Problem set", list(sets), key=f"{prefix}.set",
                        help="; ".join(f"{k}: {v}" for k, v in sets.items()))
    problems = _load_or_error(name)
    if not problems:
        return None
    levels = difficulties(problems)
    if len(levels) > 1:
        default(f"{prefix}.level.{name}", levels[0])
        level = st.select_slider("Difficulty", levels, key=f"{prefix}.level.{name}",
                                 format_func=lambda v: f"{v:g}")
        problems = [p for p in problems if p.difficulty == level]
    return _pick(problems, f"{prefix}.problem.{name}.{len(problems)}.{problems[0].id}")


def _file_problem(prefix: str) -> Problem | None:
    path = st.text_input("Dataset file", key=f"{prefix}.file",
                         placeholder="/path/to/problems.jsonl",
                         help="A .jsonl or .csv file, or SET:PATH such as gsm8k:/data/test.jsonl "
                              "or math500:/data/test.jsonl")
    if not path.strip():
        st.caption("Give the path of a problem file on this machine.")
        return None
    spec = file_spec(path.strip())
    default(f"{prefix}.span", f"1-{SET_SIZE}")
    span_text = st.text_input("Problems", key=f"{prefix}.span",
                              help=f"Which problems of the file to offer: {SPAN_HELP}.")
    try:
        span = parse_span(span_text)
    except SliceError as exc:
        st.error(str(exc))
        return None
    problems = _load_or_error(spec, limit=span[1])
    problems = take_span(problems, span)
    if not problems:
        st.warning(f"{spec} has no problems in {span_text}.")
        return None
    return _pick(problems, f"{prefix}.problem.file.{spec}.{span_text}", first=span[0])


def file_spec(path: str) -> str:
    """KIND:PATH for the problem loader; a bare .jsonl or .csv path gets its kind."""
    kind = path.partition(":")[0]
    if kind in FILE_KINDS:
        return path
    suffix = path.rsplit(".", 1)[-1].lower()
    return f"{suffix}:{path}" if suffix in ("jsonl", "csv") else path


def _own_problem(prefix: str) -> Problem | None:
    question = st.text_area("Your question", key=f"{prefix}.question", height=110,
                            placeholder="A train leaves at 3 pm and travels 2 hours. When does "
                                        "it arrive?")
    columns = st.columns([2, 1])
    gold = columns[0].text_input("Correct answer (optional)", key=f"{prefix}.gold",
                                 help="Given, the run is graded against it.")
    default(f"{prefix}.kind", AnswerKind.NUMBER.value)
    kind = columns[1].selectbox("Answer kind", list(kind_names()),
                                key=f"{prefix}.kind", help="How answers are compared.")
    if not question.strip():
        st.caption("Type a question to run.")
        return None
    return Problem(id="custom", question=question.strip(), gold=gold.strip() or None,
                   kind=parse_kind(kind), source="custom")


def _load_or_error(spec: str, limit: int | None = SET_SIZE) -> list[Problem]:
    try:
        problems = load_problems(spec, limit)
    except ProblemSetError as exc:
        st.error(str(exc))
        return []
    if not problems:
        st.warning(f"{spec} holds no problems.")
    return problems


def _pick(problems: list[Problem], key: str, first: int | None = None) -> Problem:
    """A problem of the list; `first`: the file position of its first one, shown."""
    default(key, 0)
    index = st.selectbox("Problem", range(len(problems)), key=key,
                         format_func=lambda i: (f"#{first + i} " if first else "")
                         + describe(problems[i], 70))
    return problems[index]


# -- strategies and parameters ----------------------------------------------------------------
def strategy_picker(prefix: str, label: str = "Strategy") -> Strategy:
    names = [s.name for s in list_strategies()]
    default(f"{prefix}.strategy", "self-consistency")
    name = st.selectbox(label, names, key=f"{prefix}.strategy")
    strategy = get_strategy(name)
    st.caption(strategy.summary)
    return strategy


def param_key(prefix: str, strategy: str, param: str) -> str:
    return f"{prefix}.{strategy}.{param}"


def param_controls(strategy: Strategy, prefix: str, names: Iterable[str] | None = None,
                   exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Widgets for the strategy's parameters (those in `names`, minus `exclude`), two per
    row; their values by name."""
    wanted = set(names) if names is not None else None
    skipped = set(exclude)
    params = [p for p in strategy.params
              if (wanted is None or p.name in wanted) and p.name not in skipped]
    values: dict[str, Any] = {}
    columns = st.columns(2)
    for index, param in enumerate(params):
        with columns[index % 2]:
            values[param.name] = param_widget(param, param_key(prefix, strategy.name, param.name))
    return values


def param_widget(param: Param, key: str) -> Any:
    """One control for a typed parameter, its one-line help as the tooltip; a number whose 0
    is special says what 0 means in its label ("batch (0 = all at once)")."""
    default(key, typed(param, param.default))
    label = param.name.replace("_", " ")
    if param.zero and param.kind in ("int", "float"):
        label = f"{label} (0 = {param.zero})"
    if param.kind == "bool":
        return st.checkbox(label, key=key, help=param.help)
    if param.kind == "choice":
        return st.selectbox(label, param.choices, key=key, help=param.help)
    if param.kind == "int":
        return st.number_input(label, min_value=_int(param.min), max_value=_int(param.max),
                               step=1, key=key, help=param.help)
    return st.number_input(label, min_value=_float(param.min), max_value=_float(param.max),
                           step=_step(param), key=key, help=param.help, format="%g")


def typed(param: Param, value: Any) -> Any:
    """`value` as the widget of `param` holds it (number inputs refuse mixed int/float)."""
    return param.parse(value)


def set_param(prefix: str, strategy: str, name: str, value: Any) -> None:
    """Set a parameter's control before it is drawn (Learn's presets)."""
    param = get_strategy(strategy).param(name)
    st.session_state[param_key(prefix, strategy, name)] = typed(param, value)


def budget_input(prefix: str, value: int = 0) -> int | None:
    """The generated-token budget of a run; 0 means no limit beyond the strategy's knobs."""
    key = f"{prefix}.budget"
    default(key, value)
    budget = st.number_input("Token budget (0 = no limit)", min_value=0,
                             max_value=BUDGET_MAX, step=256, key=key,
                             help="Most tokens the run may generate in all "
                                  "(0: only the strategy's knobs limit it).")
    return int(budget) or None


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _step(param: Param) -> float:
    top = param.max if param.max is not None else 10.0
    return 0.05 if top <= 1 else 0.1 if top <= 10 else 1.0
