"""The recursive strategy's own view: its run as a conversation, each REPL turn's reply and
code, what the code printed or raised, and every `llm()` sub-call nested under its turn (a
nested REPL's own turns inside it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lab.strategies.recursive import CODE, DEPTH, ERROR, FINAL, OUTPUT, PROMPT, TURN
from lab.trace import Node, NodeKind, Trace, TraceView
from lab.views.base import Canvas, View
from lab.views.blocks import Block, Caption, Code, Expander, Heading, Note, Panel

REPLY_CHARS, ERROR_CHARS, PROMPT_CHARS = 2000, 1500, 1500


class ConversationView(View):
    name = TraceView.CONVERSATION
    summary = "REPL turns: each reply's code, what it printed, and its llm() calls nested."
    order = 40

    def applies(self, trace: Trace) -> bool:
        return any(n.kind == NodeKind.CODE for n in trace.nodes)

    def describe(self, trace: Trace, canvas: Canvas) -> Sequence[Block]:
        turns = conversation(trace)
        if not turns:
            return []
        return [Heading(f"REPL turns ({len(turns)})"),
                Caption("The model never sees the whole context: it writes code against it, "
                        "and calls a model on pieces with llm()."),
                *(_turn(turn, f"{canvas.key}-turn-{i}") for i, turn in enumerate(turns))]


def conversation(trace: Trace, prompt: Node | None = None) -> list[dict[str, Any]]:
    """The REPL turns under `prompt` (default: the root), each with its sub-calls, and a nested
    REPL's turns inside its sub-call."""
    node = prompt or next((n for n in trace.nodes if n.kind == NodeKind.PROMPT
                           and n.parent is None), None)
    turns = []
    while node is not None:
        node = next((c for c in trace.children(node.id) if c.kind == NodeKind.CODE), None)
        if node is not None:
            turns.append({
                "turn": node.meta.get(TURN), "depth": node.meta.get(DEPTH),
                "reply": node.text, "code": node.meta.get(CODE),
                "output": node.meta.get(OUTPUT), "error": node.meta.get(ERROR),
                "final": node.meta.get(FINAL),
                "subcalls": [_subcall_of(trace, s) for s in trace.children(node.id)
                             if s.kind == NodeKind.SUBCALL],
            })
    return turns


def _subcall_of(trace: Trace, node: Node) -> dict[str, Any]:
    inner = next((c for c in trace.children(node.id) if c.kind == NodeKind.PROMPT), None)
    return {"prompt": node.meta.get(PROMPT), "answer": node.text,
            "error": node.meta.get(ERROR), "depth": node.meta.get(DEPTH),
            "turns": conversation(trace, inner) if inner is not None else []}


def _turn(turn: dict[str, Any], key: str) -> Panel:
    depth = turn.get("depth") or 0
    label = f"Turn {turn.get('turn')}" + (f" · depth {depth}" if depth else "")
    body: list[Block] = []
    if turn.get("code"):
        body.append(Code(turn["code"]))
    elif turn.get("reply"):
        body.append(Code(turn["reply"][:REPLY_CHARS], None))
    if turn.get("output"):
        body += [Caption("printed"), Code(turn["output"], "text")]
    if turn.get("error"):
        body.append(Note(turn["error"][-ERROR_CHARS:], "error"))
    for number, call in enumerate(turn.get("subcalls") or [], start=1):
        body.append(_subcall(number, call, f"{key}-call-{number}"))
    if turn.get("final") is not None:
        body.append(Note(f"final({turn['final']})", "success"))
    return Panel(f"**{label}**", body, key=key)


def _subcall(number: int, call: dict[str, Any], key: str) -> Expander:
    body: list[Block] = [Caption("prompt"), Code((call.get("prompt") or "")[:PROMPT_CHARS], None)]
    if call.get("error"):
        body.append(Note(call["error"], "error"))
    else:
        body += [Caption("answer"), Code(call.get("answer") or "", None)]
    body += [_turn(turn, f"{key}-turn-{i}") for i, turn in enumerate(call.get("turns") or [])]
    return Expander(f"llm() call {number}: {_first_line(call.get('prompt') or '')}", body,
                    key=key)


def _first_line(text: str, width: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"
