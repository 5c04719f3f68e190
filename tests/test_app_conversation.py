"""A recursive run is drawn as a conversation: turns, code, output, nested sub-calls."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lab.engine.scripted import ScriptedEngine
from lab.strategies.recursive_view import ConversationView
from lab.strategies.registry import run_strategy
from lab.tasks.datasets import load_set


def _draw(trace_json: str) -> None:
    from lab.trace import Trace
    from lab.ui.render import Canvas, render_trace

    render_trace(Trace.from_json(trace_json), Canvas(key="t"))


def block(code: str) -> str:
    return f"```python\n{code}\n```"


def test_recursive_trace_is_drawn_as_turns_with_subcalls():
    replies = iter([block("print(len(context))"),
                    block("x = llm('How many lines mention Oslo?\\n\\n' + context[:200])\n"
                          "print(x)"),
                    block("final(7)")])
    engine = ScriptedEngine(lambda r: next(replies) if "```python" in r.prompt or
                            "Question:" in r.prompt else "7", n_ctx=32_768)
    problem = load_set("longctx", limit=1)[0]
    trace = run_strategy("recursive", problem, engine, {"max_turns": 3, "timeout_s": 5})
    assert ConversationView().applies(trace)

    at = AppTest.from_function(_draw, args=(trace.to_json(),)).run(timeout=30)
    assert not at.exception
    assert any("REPL turns (3)" in m.value for m in at.markdown)
    code = [c.value for c in at.code]
    assert "print(len(context))" in code and "final(7)" in code
    assert any(e.label.startswith("llm() call 1: How many lines mention Oslo?")
               for e in at.expander)
    assert any("final(7)" in s.value for s in at.success)
