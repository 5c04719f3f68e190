"""The app's pieces without a page: renderers' HTML and tables, the tree layout, run checks,
the runner's queueing and the `lab ui` command."""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from test_app_support import answer_18

from lab.engine.base import Token
from lab.engine.scripted import ScriptedEngine
from lab.strategies.registry import get_strategy, run_strategy
from lab.tasks.problem import Problem
from lab.trace import Node, NodeKind, NodeStatus
from lab.trace_html import chain_html
from lab.ui.runner import RunBatch, RunSpec, cannot_start
from lab.views import chains, tree, votes
from lab.views.base import Canvas
from lab.views.candidates import CandidatesView

PROBLEM = Problem(id="p1", question="What is 9 + 9?", gold="18", source="test")


def node(text: str, tokens: list[tuple[str, float]], span: tuple[int, int] | None) -> Node:
    return Node(id=1, parent=0, kind=NodeKind.CHAIN, text=text, answer_span=span,
                answer=text[span[0]:span[1]] if span else None,
                tokens=[Token(id=i, text=t, logprob=lp) for i, (t, lp) in enumerate(tokens)])


def test_chain_html_shades_tokens_and_highlights_the_answer():
    chain = node("So <b>18</b>", [("So", -0.01), (" <b>", -2.0), ("18", -0.5), ("</b>", -0.1)],
                 (6, 8))
    html = chain_html(chain)
    assert "&lt;b&gt;" in html and "<b>" not in html  # model text is escaped
    assert ('<mark style="background:#ffd966;font-weight:700;padding:0 2px">'
            '<span title="p = 0.61"') in html  # the answer, shaded too
    assert 'title="p = 0.14"' in html  # exp(-2.0), shaded
    plain = chain_html(chain, shade=False)
    assert "title=" not in plain and "<mark" in plain


def test_chain_html_falls_back_when_tokens_do_not_spell_the_text():
    chain = node("abc", [("x", -1.0)], None)
    assert "title=" not in chain_html(chain)


def test_candidate_rows_say_why_for_rejection():
    engine = ScriptedEngine(answer_18, yes_probability=0.3)
    trace = run_strategy("rejection", PROBLEM, engine, {"n": 2, "max_tokens": 16})
    rows = CandidatesView().rows(trace, Canvas("t"))
    assert [r["candidate"] for r in rows] == ["Chain 1", "Chain 2"]
    assert all("self-verify rejected: P(yes) = 0.30 (threshold 0.5)" in r["why"] for r in rows)
    assert [r["decision"] for r in rows].count("★ chosen") == 1


def test_votes_figure_marks_winner_and_correct_answer():
    figure = votes.votes_figure([("18", 2.0), ("17", 1.0)], "18", [True, False], live=False)
    bar = figure.data[0]
    assert list(bar.marker.color) == [votes.WINNER, votes.OTHER]
    assert bar.marker.line.color[0] == votes.CORRECT and "✓ correct" in bar.text[0]


def test_tree_layout_centres_parents_over_children():
    engine = ScriptedEngine(answer_18)
    trace = run_strategy("beam-search", PROBLEM, engine,
                         {"width": 2, "branch": 2, "depth": 2, "max_tokens": 16})
    nodes = tree.tree_nodes(trace)
    positions = tree.layout(nodes)
    assert set(positions) == {n.id for n in nodes}
    root = nodes[0]
    children = [n for n in nodes if n.parent == root.id]
    xs = [positions[c.id][0] for c in children]
    assert positions[root.id] == ((xs[0] + xs[-1]) / 2, 0)
    figure = tree.tree_figure(trace, nodes, positions)
    markers = figure.data[-1].marker
    pruned = [n.status == NodeStatus.PRUNED for n in nodes]
    assert [o == 0.25 for o in markers.opacity] == pruned
    assert any(w == 3.5 for w in markers.line.width)  # the chosen path is outlined


def test_cannot_start_explains_context_params_and_judge():
    engine = ScriptedEngine("x", n_ctx=200)
    too_big = RunSpec("self-consistency", PROBLEM, {"n": 4, "max_tokens": 100})
    assert "context holds 200" in cannot_start(engine, too_big)
    assert cannot_start(engine, RunSpec("self-consistency", PROBLEM, {"n": 4}, budget=50)) is None
    bad = RunSpec("self-consistency", PROBLEM, {"n": 2, "batch": 3})
    assert "batch must be at most n" in cannot_start(engine, bad)
    judged = RunSpec("best-of-n", PROBLEM, {"scorer": "judge"})
    assert "judge scorer needs a second model" in cannot_start(engine, judged)


def test_runs_queue_for_the_model_and_stop_while_waiting():
    engine = ScriptedEngine(answer_18, delay_s=0.02)
    slot = threading.Lock()
    spec = RunSpec("cot", PROBLEM, {"max_tokens": 200})
    first = RunBatch([spec], engine, None, slot).start()
    second = RunBatch([spec], engine, None, slot).start()
    for _ in range(200):
        if first.runs[0].phase == "running" and second.runs[0].phase == "waiting":
            break
        threading.Event().wait(0.01)
    assert (first.runs[0].phase, second.runs[0].phase) == ("running", "waiting")
    second.stop()
    assert second.wait(5) and second.runs[0].error == "stopped while waiting for the model"
    assert first.wait(30) and first.runs[0].trace.final_answer == "18"


def test_lab_ui_sets_the_model_and_passes_streamlit_options(monkeypatch: pytest.MonkeyPatch):
    from lab.cli import main
    from lab.commands import ui as ui_command

    calls = []
    monkeypatch.setattr(ui_command.os, "execve", lambda *args: calls.append(args))
    monkeypatch.setattr(ui_command.os, "chdir", lambda path: None)
    result = CliRunner().invoke(main, ["ui", "--model", "smollm2-135m", "--port", "8765",
                                       "--headless", "--theme.base", "dark"])
    assert result.exit_code == 0, result.output
    [(_, command, env)] = calls
    assert command[1:5] == ["-m", "streamlit", "run", str(ui_command.APP)]
    assert command[command.index("--server.port") + 1] == "8765"
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[-2:] == ["--theme.base", "dark"]
    assert env["LAB_MODEL"] == "smollm2-135m"


def test_runner_records_params_errors_without_raising():
    batch = RunBatch([RunSpec("cot", PROBLEM, {"nope": 1})], ScriptedEngine("x"), None,
                     threading.Lock()).start()
    assert batch.wait(5)
    assert "unknown parameter 'nope'" in batch.runs[0].error
    assert get_strategy("beam-search").parallel_sequences({"width": 3, "branch": 2}) == 6


def test_the_live_view_reuses_unchanged_chain_panels():
    nodes = [Node(1, 0, NodeKind.CHAIN, "Add 9 and 9."), Node(2, 0, NodeKind.CHAIN, "Nine")]
    chains._live_panel.cache_clear()
    first = chains.live_chains_html([(f"Chain {n.id}", n.text, "") for n in nodes], 2, 220)
    nodes[1].text += " plus nine"
    second = chains.live_chains_html([(f"Chain {n.id}", n.text, "") for n in nodes], 2, 220)
    info = chains._live_panel.cache_info()
    assert (info.hits, info.misses) == (1, 3)  # chain 1 drawn once, chain 2 twice
    assert "Add 9 and 9." in second and "Nine plus nine" in second and first != second


def test_the_live_view_waits_for_the_end_and_the_first_tokens_not_for_its_timer():
    import time

    from lab.ui.live import await_change, generated

    engine = ScriptedEngine(answer_18, delay_s=0.02)
    batch = RunBatch([RunSpec("cot", PROBLEM, {"max_tokens": 200})], engine, None,
                     threading.Lock()).start()
    started = time.monotonic()
    assert await_change(batch, False, 10.0) == "first tokens"  # drawn at once, not in 10 s
    assert generated(batch) > 0 and time.monotonic() - started < 5
    assert await_change(batch, True, 10.0) == "done"  # the final view as the run ends
    assert batch.done and time.monotonic() - started < 9
    assert await_change(batch, True, 0.2) == "done"
    idle = RunBatch([RunSpec("cot", PROBLEM, {"max_tokens": 200})],
                    ScriptedEngine(answer_18, delay_s=0.5), None, threading.Lock()).start()
    assert await_change(idle, True, 0.1) is None  # nothing to draw before the timer's redraw
    idle.stop()
    assert idle.wait(10)
