"""`lab ui` starts the server unattended: no first-run prompt under a terminal with a fresh
HOME, and a start with no terminal at all; the browser opens only where there is a display."""

from __future__ import annotations

import http.server
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO_ROOT, TEST_MODEL

from lab.commands import ui as ui_command

START_TIMEOUT_S = 60.0
LAB = [sys.executable, "-c", "from lab.cli import main; main()", "ui"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def fresh_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A newcomer's environment: an empty HOME (no ~/.streamlit), no display, no browser."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "XDG_CONFIG_HOME")}
    env.update(HOME=str(home), LAB_HOME=str(tmp_path / "lab-home"), **extra)
    return env


def stop(process: subprocess.Popen) -> None:
    """End the server's whole process group (it runs in a session of its own)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # nothing of it is left behind
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"processes of group {process.pid} outlived SIGTERM")


def wait_for_health(port: int, process: subprocess.Popen, read=lambda: None) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        read()
        if healthy(port):
            return True
        time.sleep(0.25)
    return False


@pytest.mark.slow
def test_starts_under_a_terminal_with_an_empty_home(tmp_path: Path) -> None:
    """The README's main command in a terminal: without a display nothing opens, and
    Streamlit's "Email:" prompt never holds the server back."""
    port = free_port()
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [*LAB, "--port", str(port), "--model", TEST_MODEL],
        stdin=secondary, stdout=secondary, stderr=secondary, cwd=tmp_path,
        env=fresh_env(tmp_path), start_new_session=True)
    os.close(secondary)
    output = bytearray()

    def read() -> None:
        while select.select([primary], [], [], 0)[0]:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the terminal closed: the process is gone
                return
            if not chunk:
                return
            output.extend(chunk)

    try:
        ready = wait_for_health(port, process, read)
        time.sleep(0.5)
        read()
    finally:
        stop(process)
        os.close(primary)
    text = output.decode(errors="replace")
    assert ready, f"no health check answer within {START_TIMEOUT_S:.0f} s:\n{text}"
    assert "Email" not in text and "Welcome to Streamlit" not in text, text
    assert f"Inference Scaling Lab on http://127.0.0.1:{port}" in text
    assert "Open that address in your browser" in text
    assert not (tmp_path / "home" / ".streamlit").exists()


@pytest.mark.slow
def test_starts_with_no_terminal_and_opens_the_browser_on_a_display(tmp_path: Path) -> None:
    """A service or CI job: stdin is /dev/null. With a display named, the browser (here a
    script that records its argument) is sent the lab's address once the server answers."""
    port = free_port()
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    log = tmp_path / "lab.log"
    env = fresh_env(tmp_path, DISPLAY=":99", BROWSER=str(browser))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*LAB, "--port", str(port), "--model", TEST_MODEL],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
            env=env, start_new_session=True)
    try:
        ready = wait_for_health(port, process)
        deadline = time.monotonic() + 10
        while ready and not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop(process)
    text = log.read_text(errors="replace")
    assert ready, f"no health check answer within {START_TIMEOUT_S:.0f} s:\n{text}"
    assert "Email" not in text and "Welcome to Streamlit" not in text, text
    assert opened.read_text().strip() == f"http://127.0.0.1:{port}"


def test_streamlit_runs_headless_without_usage_statistics() -> None:
    command = ui_command.streamlit_command(8501, "127.0.0.1")
    assert command[command.index("--server.headless") + 1] == "true"
    assert command[command.index("--browser.gatherUsageStats") + 1] == "false"
    config = (REPO_ROOT / ".streamlit" / "config.toml").read_text()
    assert "gatherUsageStats = false" in config and "showEmailPrompt = false" in config


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:8501"),
    ("0.0.0.0", "http://localhost:8501"),
    ("::1", "http://[::1]:8501"),
])
def test_browser_url(host: str, url: str) -> None:
    assert ui_command.browser_url(host, 8501) == url


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="a desktop is always there")
def test_a_display_is_needed_to_open_a_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not ui_command.has_display()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert ui_command.has_display()


def test_opens_the_browser_only_once_the_server_answers(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    answers = iter([b"not yet", b"ok"])

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the handler's name is fixed)
            body = next(answers, b"ok") if self.path == "/_stcore/health" else b""
            self.send_response(200 if body == b"ok" else 503)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    opened: list[str] = []
    monkeypatch.setattr(ui_command.webbrowser, "open", lambda url: opened.append(url) or True)
    with http.server.HTTPServer(("127.0.0.1", 0), Health) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert ui_command.open_when_ready(url, timeout=10)
        server.shutdown()
    assert opened == [url]
    assert not ui_command.open_when_ready("http://127.0.0.1:9", timeout=0.5)
    assert opened == [url]


def test_controls_say_what_zero_means() -> None:
    """The Playground's token budget and self-consistency's batch say what 0 means in their
    labels, not only in a tooltip; their keys (what presets set) stay the same."""
    from test_app_support import open_app

    at = open_app("playground")
    at.selectbox(key="pg.strategy").set_value("self-consistency").run()
    assert at.number_input(key="pg.budget").label == "Token budget (0 = no limit)"
    assert at.number_input(key="pg.self-consistency.batch").label == (
        "batch (0 = all at once; with early stop, a majority first)")
    assert at.number_input(key="pg.self-consistency.n").label == "n"
