"""Access (issue 27): bound beyond loopback the lab asks for a token, and a session deletes
only its own runs unless it came in with the admin token; on loopback nothing changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest
from test_app_support import APP, TIMEOUT_S, finish, set_param, texts

from lab import config
from lab.engine.scripted import ScriptedEngine
from lab.store.ledger import Ledger

USER, ADMIN = "user-token-1", "admin-token-2"
LOCKED = "This lab asks for its access token"
ONLY_OWN = "Only the session that made a run, or an admin, can delete it."


@pytest.fixture(autouse=True)
def served_through_app_py(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run goes through app.py, as on a server after its first visit.

    AppTest starts each run in Streamlit's pages-directory mode (a pages/ folder sits beside
    app.py), where switch_page runs a page's file on its own and lab.ui.entry lets it (see
    there); a server leaves that mode for good once app.py calls st.navigation, and its first
    visitor's page reruns through app.py (the browser test checks that start)."""
    init = PagesManager.__init__

    def v2(self: PagesManager, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", v2)


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab as `lab ui --host 0.0.0.0` starts it (app.py reads these)."""
    monkeypatch.setenv("LAB_TOKEN", USER)
    monkeypatch.setenv("LAB_ADMIN_TOKEN", ADMIN)


def visit(token: str | None = None, page: str | None = None) -> AppTest:
    """A new browser session opening the lab's address, with `?token=` if given."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    if token is not None:
        at.query_params["token"] = token
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def ledger_file() -> Path:
    return Path(os.environ["LAB_HOME"]) / "ledger.db"


def assert_locked(at: AppTest) -> None:
    """Only the message: no page, no sidebar, no widget; nothing run, the ledger unopened."""
    assert any(LOCKED in w for w in texts(at.warning))
    assert len(at.title) == 0 and len(at.sidebar.children) == 0
    assert len(at.button) == 0 and len(at.selectbox) == 0 and len(at.number_input) == 0
    assert len(at.markdown) == 0 and len(at.dataframe) == 0
    assert "pg.batch" not in at.session_state
    assert not ledger_file().exists()


@pytest.mark.parametrize("token", [None, "", "not-the-token", USER[:-1]])
@pytest.mark.parametrize("page", [None, "playground", "history", "compare", "scaling", "learn"])
def test_without_the_token_no_page_and_no_run(tokens: None, scripted: ScriptedEngine,
                                              token: str | None, page: str | None):
    at = visit(token, page)
    assert_locked(at)
    assert scripted.calls == []
    if token:
        assert any("not this lab's" in w for w in texts(at.warning))


def test_the_token_opens_the_playground_and_stays_across_pages(tokens: None,
                                                               scripted: ScriptedEngine):
    at = visit(USER)
    assert not at.warning
    assert [t.value for t in at.title] == ["Playground"]
    assert config.database_url() in texts(at.sidebar.code)  # the sidebar, the ledger opened
    at.query_params.clear()  # a page switch drops the address's query
    at.switch_page("pages/history.py").run()
    assert [t.value for t in at.title] == ["History"]
    assert at.query_params.get("token") == USER  # put back: a reload still gets in


def test_a_session_that_was_let_in_is_not_let_out_by_a_wrong_address(tokens: None,
                                                                     scripted: ScriptedEngine):
    at = visit(ADMIN)
    at.query_params["token"] = "wrong"
    at.run()
    assert [t.value for t in at.title] == ["Playground"]
    assert at.query_params.get("token") == ADMIN


def run_in_playground(at: AppTest) -> int:
    set_param(at, "self-consistency", "n", 2)
    at.button(key="pg.run").click().run()
    assert not at.error, texts(at.error)
    run_id = finish(at, "pg.batch").runs[0].run_id
    assert run_id is not None
    return run_id


def open_in_history(at: AppTest, run_id: int) -> None:
    at.switch_page("pages/history.py").run()
    at.selectbox(key="hist.open").set_value(run_id).run()
    assert not at.exception, at.exception


def runs() -> list[int]:
    return [r.id for r in Ledger(config.database_url()).list_runs()]


def test_a_user_deletes_only_the_runs_of_its_own_session(tokens: None,
                                                         scripted: ScriptedEngine):
    mine, other = visit(USER), visit(USER)
    run_id = run_in_playground(mine)
    open_in_history(other, run_id)  # another session with the same (user) token
    assert not [b for b in other.button if b.key == "hist.delete"]
    assert any(ONLY_OWN in c for c in texts(other.caption))
    open_in_history(mine, run_id)
    assert not any(ONLY_OWN in c for c in texts(mine.caption))
    mine.button(key="hist.delete").click().run()
    assert runs() == []


def test_an_admin_deletes_any_run(tokens: None, scripted: ScriptedEngine):
    run_id = run_in_playground(visit(USER))
    admin = visit(ADMIN)
    open_in_history(admin, run_id)
    assert not any(ONLY_OWN in c for c in texts(admin.caption))
    admin.button(key="hist.delete").click().run()
    assert runs() == []


def test_on_loopback_nothing_is_asked_and_every_session_deletes(monkeypatch: pytest.MonkeyPatch,
                                                                scripted: ScriptedEngine):
    monkeypatch.delenv("LAB_TOKEN", raising=False)
    monkeypatch.delenv("LAB_ADMIN_TOKEN", raising=False)
    run_id = run_in_playground(visit())
    other = visit()  # no token in the address
    assert not other.warning and [t.value for t in other.title] == ["Playground"]
    open_in_history(other, run_id)
    other.button(key="hist.delete").click().run()
    assert runs() == []


# -- lab ui -----------------------------------------------------------------------------------
def lab_ui(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[str, dict[str, str]]:
    """`lab ui ARGS` up to the exec of Streamlit: what it printed and the env it passed."""
    from lab.cli import main
    from lab.commands import ui as ui_command

    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(ui_command.os, "execve", lambda *a: calls.append(a))
    monkeypatch.setattr(ui_command.os, "chdir", lambda path: None)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = CliRunner().invoke(main, ["ui", "--headless", *args])
    assert result.exit_code == 0, result.output
    [(_, command, env)] = calls
    assert isinstance(env, dict)
    return result.output, env


def test_lab_ui_beyond_loopback_prints_an_address_with_a_random_token(
        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LAB_TOKEN", raising=False)
    monkeypatch.delenv("LAB_ADMIN_TOKEN", raising=False)
    output, env = lab_ui(monkeypatch, "--host", "0.0.0.0", "--port", "8765")
    user, admin = env["LAB_TOKEN"], env["LAB_ADMIN_TOKEN"]
    assert len(user) >= 16 and len(admin) >= 16 and user != admin
    assert f"Inference Scaling Lab on http://localhost:8765/?token={user}" in output
    assert f"Admin address (may delete any run): http://localhost:8765/?token={admin}" in output
    _, env2 = lab_ui(monkeypatch, "--host", "0.0.0.0")
    assert env2["LAB_TOKEN"] != user  # a new one at every start


def test_lab_ui_takes_the_tokens_from_options_or_the_environment(
        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAB_TOKEN", "from-env")
    monkeypatch.setenv("LAB_ADMIN_TOKEN", "admin-env")
    output, env = lab_ui(monkeypatch, "--host", "192.168.1.5")
    assert (env["LAB_TOKEN"], env["LAB_ADMIN_TOKEN"]) == ("from-env", "admin-env")
    assert "http://192.168.1.5:8501/?token=from-env" in output
    output, env = lab_ui(monkeypatch, "--host", "::", "--token", "a b/c",
                         "--admin-token", "boss")
    assert (env["LAB_TOKEN"], env["LAB_ADMIN_TOKEN"]) == ("a b/c", "boss")
    assert "http://localhost:8501/?token=a%20b%2Fc" in output  # quoted in the address


def test_lab_ui_on_loopback_asks_for_nothing_unless_a_token_is_given(
        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LAB_TOKEN", raising=False)
    monkeypatch.delenv("LAB_ADMIN_TOKEN", raising=False)
    for host in ("127.0.0.1", "localhost", "::1"):
        output, env = lab_ui(monkeypatch, "--host", host)
        assert "token" not in output.lower() and "Admin" not in output
        assert "LAB_TOKEN" not in env and "LAB_ADMIN_TOKEN" not in env
    output, env = lab_ui(monkeypatch, "--token", "mine")
    assert env["LAB_TOKEN"] == "mine" and env["LAB_ADMIN_TOKEN"]
    assert "http://127.0.0.1:8501/?token=mine" in output


def test_the_health_check_polls_the_server_root_of_an_address_with_a_token():
    from lab.commands import ui as ui_command

    assert ui_command.server_root("http://localhost:8501/?token=x") == "http://localhost:8501"
    assert ui_command.server_root("http://[::1]:8501") == "http://[::1]:8501"
    assert ui_command.is_loopback("127.0.0.2") and not ui_command.is_loopback("0.0.0.0")
    assert not ui_command.is_loopback("") and not ui_command.is_loopback("example.org")
