"""A strategy that needs a drawing of its own brings its view in the same file, from
LAB_PLUGINS or an installed package's entry point: the Playground and the report draw it,
with nothing else edited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_app_support import answer_18, finish, open_app, texts
from test_plugin_entry_point import Install, clear, install  # noqa: F401 - the fixture

from lab.engine.scripted import ScriptedEngine
from lab.evaluation.handout import runs_report
from lab.plugins import PLUGINS_ENV
from lab.strategies import registry
from lab.strategies.registry import views_of
from lab.tasks.problem import Problem

PLUGIN = '''
"""`tally-of-n`: sample N chains and answer with the most common answer, drawn as a tally."""

from lab.prompts import solve_messages
from lab.strategies.base import Strategy, sampling
from lab.strategies.params import n_param, sampling_params, seed_param
from lab.trace import TraceView
from lab.views.base import View
from lab.views.blocks import Caption, Heading, Table


class TallyOfN(Strategy):
    name = "tally-of-n"
    summary = "Sample N chains and answer with the most common answer."
    views = ("tally", TraceView.CHAINS)
    sweep_knob = "n"
    params = (n_param(3), *sampling_params(temperature=0.7, max_tokens=48), seed_param())

    def solve(self, ctx):
        messages = solve_messages(ctx.problem, "cot")
        root = ctx.add_prompt(messages, style="cot")
        chains = ctx.sample(messages, [root] * ctx.params["n"], sampling(ctx.params))
        answers = [c.answer for c in chains if c.answer is not None]
        best = max(set(answers), key=answers.count) if answers else None
        ctx.finish(best, "the most common answer", next(
            (c for c in chains if c.answer == best), None))


class TallyView(View):
    name = "tally"
    summary = "How many chains gave each answer, as tally marks."

    def describe(self, trace, canvas):
        answers = [n.answer for n in trace.solutions() if n.answer is not None]
        rows = [{"answer": a, "tally": "|" * answers.count(a)} for a in sorted(set(answers))]
        return [Heading("Tally of the answers"), Table(rows),
                Caption(f"{len(answers)} chains answered ({canvas.key}).")]
'''
PROBLEM = Problem(id="p1", question="What is 9 + 9?", gold="18", source="test")


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = tmp_path / "tally_of_n.py"
    path.write_text(PLUGIN)
    monkeypatch.setenv(PLUGINS_ENV, str(path))
    registry.refresh()
    yield "tally-of-n"
    monkeypatch.delenv(PLUGINS_ENV)
    registry.refresh()


def report_of(strategy: str) -> str:
    trace = registry.run_strategy(strategy, PROBLEM, ScriptedEngine(answer_18), {"n": 3})
    assert [view.name for view in views_of(trace)] == ["tally", "chains"]
    return runs_report([trace], [None])


def test_the_report_draws_its_own_view(plugin: str):
    page = report_of(plugin)
    assert "<h3>Tally of the answers</h3>" in page
    assert "<td>17</td><td>|</td>" in page and "<td>18</td><td>||</td>" in page
    assert "3 chains answered (report)." in page and "<h3>3 chains</h3>" in page


def test_the_playground_draws_its_own_view(plugin: str, scripted: ScriptedEngine):
    at = open_app()
    at.selectbox(key="pg.strategy").set_value(plugin).run()
    at.button(key="pg.run").click().run()
    finish(at, "pg.batch")
    assert "##### Tally of the answers" in texts(at.markdown)
    assert "3 chains answered (pg)." in texts(at.caption)
    assert sum(len(marks) for marks in at.dataframe[0].value["tally"]) == 3
    assert sum(m.startswith("**Chain ") for m in texts(at.markdown)) == 3


def test_an_installed_package_brings_its_view_too(install: Install):  # noqa: F811
    install("lab_ep_tally", PLUGIN, {"tally_of_n": "lab_ep_tally"})
    clear()
    page = report_of("tally-of-n")
    assert "<h3>Tally of the answers</h3>" in page and "<td>18</td><td>||</td>" in page
