"""Helpers for the app's AppTest tests: a scripted model, running a page, waiting for runs."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.ui.runner import RunBatch

APP = Path(__file__).resolve().parent.parent / "app.py"
TIMEOUT_S = 60  # generous: the test machine's two cores are shared


def answer_18(request: ScriptedRequest) -> str:
    """Step-shaped replies: a first step, then an answer; prefix-aware for searches."""
    if request.prefix:
        return "So the total is 18.\n\nThe answer is 18."
    if "Is this" in request.prompt or "Check the solution" in request.prompt:
        return "No mistakes."
    return f"Add the {2 + request.seed % 2} numbers.\n\nThe answer is {18 - request.seed % 2}."


def scripted_engine(model: str) -> ScriptedEngine:
    """The worker's engine in the app's worker tests (picklable: a module-level function)."""
    return ScriptedEngine(answer_18, model_name="scripted", yes_probability=0.8)


def slow_scripted_engine(model: str) -> ScriptedEngine:
    """A scripted engine slow enough (0.5 s a token) to press Stop or kill its worker: its run
    outlasts a page's live view waiting up to 1.25 s for the run's end (lab.ui.live)."""
    return ScriptedEngine(answer_18, model_name="scripted", delay_s=0.5)


def open_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()
    if page is not None:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def finish(at: AppTest, key: str) -> RunBatch:
    """Wait for the page's run batch to end, then rerun so the page draws the final view."""
    batch = at.session_state[key]
    assert batch.wait(TIMEOUT_S), "the run did not finish in time"
    at.run()
    assert not at.exception, at.exception
    return batch


def texts(elements: object) -> list[str]:
    return [str(e.value) for e in elements]  # type: ignore[attr-defined]


def set_param(at: AppTest, strategy: str, name: str, value: object, prefix: str = "pg") -> None:
    at.number_input(key=f"{prefix}.{strategy}.{name}").set_value(value)
