"""A strategy from an installed package: its entry point in the group `inference_scaling_lab`
adds it with no setting, in this process and in a fresh one (as a worker process is)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_app_support import answer_18

from lab.cli import main
from lab.engine.scripted import ScriptedEngine
from lab.plugins import ENTRY_POINT_GROUP, PLUGINS_ENV, PluginError, entry_point_modules
from lab.scorers.registry import scorers
from lab.strategies import registry
from lab.tasks.kinds import registry as kinds

MODULE = '''
"""`first-of-n`: sample N chains, answer with the first one's answer (a test strategy)."""

from lab.prompts import solve_messages
from lab.strategies.base import Strategy, sampling
from lab.strategies.params import n_param, sampling_params, seed_param
from lab.trace import TraceView


class FirstOfN(Strategy):
    name = "first-of-n"
    summary = "Sample N chains and answer with the first one."
    views = (TraceView.VOTES, TraceView.CHAINS)
    sweep_knob = "n"
    params = (n_param(3), *sampling_params(temperature=0.7, max_tokens=48), seed_param())

    def solve(self, ctx):
        messages = solve_messages(ctx.problem, "cot")
        root = ctx.add_prompt(messages, style="cot")
        chains = ctx.sample(messages, [root] * ctx.params["n"], sampling(ctx.params))
        first = chains[0]
        ctx.set_votes({first.answer: 1.0} if first.answer else {})
        ctx.finish(first.answer, "the first chain's answer", first)
'''

Install = Callable[[str, str, dict[str, str]], None]


def clear() -> None:
    """Forget what was found: the entry points, then every registry built from them."""
    entry_point_modules.cache_clear()
    scorers.cache_clear()
    kinds.cache_clear()
    registry.refresh()


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Install a one-module package in tmp_path, as pip would (the module and its dist-info
    with entry points), for this process and for the processes it starts; uninstall it after."""
    modules: list[str] = []

    def put(module: str, source: str, entry_points: dict[str, str]) -> None:
        (tmp_path / module).mkdir()
        (tmp_path / module / "__init__.py").write_text(source, encoding="utf-8")
        info = tmp_path / f"{module}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n", encoding="utf-8")
        lines = [f"{name} = {value}" for name, value in entry_points.items()]
        (info / "entry_points.txt").write_text(
            f"[{ENTRY_POINT_GROUP}]\n" + "\n".join(lines) + "\n", encoding="utf-8")
        modules.append(module)

    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]))
    yield put
    monkeypatch.undo()  # sys.path and the environment as they were, before finding again
    for module in modules:
        sys.modules.pop(module, None)
    clear()


@pytest.fixture
def first_of_n(install: Install) -> str:
    # the same module twice, as a module and as a class of it: found once
    install("lab_ep_demo", MODULE, {"first_of_n": "lab_ep_demo",
                                    "first_of_n_class": "lab_ep_demo:FirstOfN"})
    clear()
    return "first-of-n"


def lab(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_it_is_registered_after_the_lab_strategies(first_of_n: str):
    strategy = registry.get_strategy(first_of_n)
    assert type(strategy).__module__ == "lab_ep_demo"
    assert registry.list_strategies()[-1] is strategy  # default order: after the lab's own
    assert [name for name in registry.STRATEGIES if name == first_of_n] == [first_of_n]


def test_lab_solve_lists_and_runs_it(first_of_n: str, monkeypatch: pytest.MonkeyPatch):
    code, out, _ = lab("solve", "--list")
    assert code == 0 and "first-of-n: Sample N chains and answer with the first one." in out
    engine = ScriptedEngine(answer_18, model_name="scripted")
    monkeypatch.setattr("lab.commands.solve.open_engine", lambda name: engine)
    code, out, err = lab("solve", "-s", first_of_n, "-p", "n=2", "--problem", "What is 9 + 9?",
                         "--gold", "18", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["strategy"] == first_of_n and data["status"] == "complete"
    assert data["correct"] is True and isinstance(data["run_id"], int)
    assert [len(call.seeds) for call in engine.calls] == [2]  # n=2 chains, one batch


def test_a_fresh_process_finds_it_with_no_setting(first_of_n: str):
    """A worker process sees the installed packages its parent sees (here: by PYTHONPATH)."""
    result = subprocess.run(
        [sys.executable, "-c", "from lab.cli import main; main()", "solve", "--list"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "first-of-n: Sample N chains and answer with the first one." in result.stdout


@pytest.mark.parametrize(("source", "value", "cause"), [
    ("raise RuntimeError('needs a GPU')\n", "lab_ep_broken", "RuntimeError: needs a GPU"),
    ("", "lab_ep_broken:Missing", "AttributeError: "),
    ("import lab_ep_absent_dependency\n", "lab_ep_broken",
     "ModuleNotFoundError: No module named 'lab_ep_absent_dependency'"),
])
def test_a_broken_entry_point_is_named_with_its_cause(install: Install, source: str,
                                                      value: str, cause: str):
    install("lab_ep_broken", source, {"broken": value})
    entry_point_modules.cache_clear()
    with pytest.raises(PluginError) as failure:
        registry.refresh()
    assert str(failure.value).startswith(
        f"entry point 'broken' = '{value}' of package 'lab_ep_broken' "
        f"(group {ENTRY_POINT_GROUP}) failed to load: {cause}")
    assert "first-of-n" not in registry.STRATEGIES  # the registry is left as it was
