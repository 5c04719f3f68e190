"""A recursive run drawn as a conversation: each REPL turn's reply and code, what the code
printed or raised, and every `llm()` sub-call nested under its turn (with a nested REPL's
own turns inside it)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lab.strategies.recursive import conversation
from lab.trace import NodeKind, Trace


def has_turns(trace: Trace) -> bool:
    return any(n.kind == NodeKind.CODE for n in trace.nodes)


def repl_conversation(trace: Trace) -> None:
    turns = conversation(trace)
    st.subheader(f"REPL turns ({len(turns)})")
    st.caption("The model never sees the whole context: it writes code against it, and "
               "calls a model on pieces with llm().")
    for turn in turns:
        _turn(turn)


def _turn(turn: dict[str, Any]) -> None:
    depth = turn.get("depth") or 0
    label = f"Turn {turn.get('turn')}" + (f" · depth {depth}" if depth else "")
    with st.container(border=True):
        st.markdown(f"**{label}**")
        if turn.get("code"):
            st.code(turn["code"], language="python")
        elif turn.get("reply"):
            st.text(turn["reply"][:2000])
        if turn.get("output"):
            st.caption("printed")
            st.code(turn["output"], language="text")
        if turn.get("error"):
            st.error(turn["error"][-1500:])
        for number, call in enumerate(turn.get("subcalls") or [], start=1):
            _subcall(number, call)
        if turn.get("final") is not None:
            st.success(f"final({turn['final']})")


def _subcall(number: int, call: dict[str, Any]) -> None:
    title = f"llm() call {number}: {_first_line(call.get('prompt') or '')}"
    with st.expander(title):
        st.caption("prompt")
        st.text((call.get("prompt") or "")[:1500])
        if call.get("error"):
            st.error(call["error"])
        else:
            st.caption("answer")
            st.text(call.get("answer") or "")
        for turn in call.get("turns") or []:
            _turn(turn)


def _first_line(text: str, width: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"
