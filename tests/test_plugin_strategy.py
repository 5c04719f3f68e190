"""A strategy added as one file, outside the lab's code, works everywhere with no other edit:
`lab solve` (on the real model), `lab eval`, the Playground, Compare, Scaling and Learn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_app_support import answer_18, finish, open_app, texts

from lab.cli import main
from lab.engine.scripted import ScriptedEngine
from lab.plugins import PLUGINS_ENV
from lab.strategies import registry

PLUGIN = '''
"""`last-of-n`: sample N chains, answer with the last one's answer (a test strategy)."""

from lab.prompts import solve_messages
from lab.strategies.base import Demo, Strategy, sampling
from lab.strategies.categories import Category
from lab.strategies.params import n_param, sampling_params, seed_param
from lab.trace import TraceView

LAST = Category("Trust the last word", "Keeps the last chain.", "N chains.", "Never.")


class LastOfN(Strategy):
    name = "last-of-n"
    summary = "Sample N chains and answer with the last one."
    category = LAST
    views = (TraceView.VOTES, TraceView.CHAINS)
    sweep_knob = "n"
    demo = Demo({"n": 2, "max_tokens": 24})
    params = (n_param(3), *sampling_params(temperature=0.7, max_tokens=48), seed_param())

    def solve(self, ctx):
        messages = solve_messages(ctx.problem, "cot")
        root = ctx.add_prompt(messages, style="cot")
        chains = ctx.sample(messages, [root] * ctx.params["n"], sampling(ctx.params))
        last = chains[-1]
        ctx.set_votes({last.answer: 1.0} if last.answer else {})
        ctx.finish(last.answer, "the last chain's answer", last)
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = tmp_path / "last_of_n.py"
    path.write_text(PLUGIN)
    monkeypatch.setenv(PLUGINS_ENV, str(path))
    registry.refresh()
    yield "last-of-n"
    monkeypatch.delenv(PLUGINS_ENV)
    registry.refresh()


def lab(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_it_is_registered_with_its_description(plugin: str):
    strategy = registry.get_strategy(plugin)
    assert strategy.knobs == ("n", "max_tokens")
    assert registry.list_strategies()[-1] is strategy  # default order: after the lab's own
    assert [c.title for c, _ in registry.categories()][-1] == "Trust the last word"
    code, out, _ = lab("solve", "--list")
    assert code == 0 and "last-of-n: Sample N chains and answer with the last one." in out


@pytest.mark.model
def test_lab_solve_runs_it_on_the_real_model(plugin: str):
    code, out, err = lab("solve", "-s", plugin, "-p", "n=2", "-p", "max_tokens=32",
                         "--model", "smollm2-135m", "--set", "arith", "--index", "0", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["strategy"] == plugin and data["status"] == "complete"
    assert data["correct"] in (True, False) and isinstance(data["run_id"], int)
    assert data["compute"]["generated_tokens"] > 0


def test_lab_eval_sweeps_its_knob(plugin: str, monkeypatch: pytest.MonkeyPatch):
    engine = ScriptedEngine(answer_18)
    monkeypatch.setattr("lab.commands.evaluate.open_engine", lambda name: engine)
    monkeypatch.setattr("lab.commands.evaluate._model_name", lambda name: "scripted")
    code, out, err = lab("eval", "--set", "arith", "--limit", "2", "-s", plugin, "--sweep",
                         "n=1,2", "--experiment", "plugin", "--json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert {row["strategy"] for row in rows} == {plugin}
    assert len(engine.calls) == 4  # 2 problems x n in (1, 2): no sample reuse without `pick`


def test_the_playground_runs_it_and_draws_its_views(plugin: str, scripted: ScriptedEngine):
    at = open_app()
    at.selectbox(key="pg.strategy").set_value(plugin).run()
    at.number_input(key=f"pg.{plugin}.n").set_value(2)  # a knob: drawn beside the budget
    at.button(key="pg.run").click().run()
    # the scripted run may already be drawn, its (wrong) answer in an error box: no other error
    assert not [e for e in texts(at.error) if "Answer:" not in e], texts(at.error)
    batch = finish(at, "pg.batch")
    assert batch.runs[0].trace.strategy == plugin and batch.runs[0].run_id is not None
    assert sum(m.startswith("**Chain ") for m in texts(at.markdown)) == 2
    assert "##### Votes" in texts(at.markdown)


def test_compare_runs_it_beside_a_lab_strategy(plugin: str, scripted: ScriptedEngine):
    at = open_app("compare")
    at.multiselect(key="cmp.strategies").set_value(["cot", plugin]).run()
    at.button(key="cmp.run").click().run()
    finish(at, "cmp.batch")
    summary = at.dataframe[-1].value
    assert list(summary["strategy"]) == ["cot", plugin]
    assert set(summary["status"]) == {"complete"}


def test_learn_and_scaling_offer_it(plugin: str, scripted: ScriptedEngine):
    at = open_app("learn")
    assert "Trust the last word" in texts(at.subheader)
    at = open_app("scaling")
    assert plugin in at.multiselect(key="sc.strategies").options
