"""End to end in a real headless Chromium: start the app on the smallest model, run
self-consistency with N=3 on a built-in problem, see three chains and the vote chart, find the
run in History and reopen it; a screenshot of every page goes to test-artifacts/screenshots."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 2200}  # tall: Streamlit scrolls inside the page
RUN_TIMEOUT_MS = 240_000  # the two shared cores may be busy with other work

pytestmark = [
    pytest.mark.slow,
    pytest.mark.model,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM}: install "
                       "Debian's package (apt-get install -y chromium) to run the browser test"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not answer at {url} within {timeout_s:.0f} s")


@pytest.fixture
def app_url(smollm_path: Path, tmp_path: Path) -> Iterator[str]:
    with serve_app("smollm2-135m", tmp_path) as url:
        yield url


@contextlib.contextmanager
def serve_app(model: str, tmp_path: Path) -> Iterator[str]:
    """The app on `model` with its own ledger, at a free port; stopped (and its run worker
    checked gone) on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "LAB_DATABASE_URL"}
    env.update(LAB_MODEL=model, LAB_HOME=str(tmp_path / "lab-home"))
    log = (tmp_path / "streamlit.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    assert not worker_pids(server.pid), "the app's run worker outlived the server"


def worker_pids(server_pid: int, wait_s: float = 10) -> list[int]:
    """The run workers the server started (their command line names its pid) still alive."""
    deadline = time.monotonic() + wait_s
    while True:
        found = subprocess.run(["pgrep", "-f", f"lab.worker.server [0-9]+ {server_pid}$"],
                               capture_output=True, text=True).stdout.split()
        if not found or time.monotonic() > deadline:
            return [int(pid) for pid in found]
        time.sleep(0.2)


@pytest.fixture
def page(app_url: str, capsys: pytest.CaptureFixture[str]):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\nbrowser test screenshots: {SCREENSHOTS}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(60_000)
        page.goto(f"{app_url}/learn")  # a deep link as the server's first visit
        yield page
        browser.close()


def shoot(page, name: str) -> None:
    time.sleep(1.0)  # let charts finish drawing
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def open_page(page, title: str) -> None:
    page.get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, exact=True).wait_for()


def set_number(page, label: str, value: int) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")


def test_self_consistency_end_to_end(page):
    page.get_by_role("heading", name="Learn", exact=True).wait_for()
    page.get_by_text("Every run is stored in:").wait_for()  # app.py's sidebar: navigation is on
    open_page(page, "Playground")
    page.get_by_text("Correct answer:").wait_for()  # the first problem of a built-in set
    set_number(page, "n", 3)
    set_number(page, "max tokens", 24)
    page.get_by_text("cut votes", exact=True).click()  # 24-token chains are cut: let them vote
    page.get_by_text("Colour tokens by log-prob").click()
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Stored in the ledger as run #1").wait_for(timeout=RUN_TIMEOUT_MS)
    page.get_by_role("button", name="Stop", exact=True).wait_for(state="detached")
    panels = page.locator('[class*="st-key-pg-chain-"]')  # one bordered panel per chain
    assert panels.count() == 3
    for index, chain in enumerate(("Chain 1", "Chain 2", "Chain 3")):
        assert panels.nth(index).get_by_text(chain, exact=True).count() == 1
    assert page.get_by_text("Chain 4", exact=True).count() == 0
    page.get_by_text("Where the chains part ways").wait_for()  # the divergence view
    page.get_by_role("heading", name="Votes").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()  # Plotly draws after the heading
    assert page.locator(".js-plotly-plot").count() == 1  # the vote chart
    shoot(page, "1-playground")

    open_page(page, "History")
    page.get_by_role("combobox", name="Open a run").click()
    page.get_by_role("option", name=re.compile(r"^#1 · self-consistency")).click()
    page.get_by_text("Chain 3", exact=True).first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.locator(".js-plotly-plot").count() == 1
    shoot(page, "4-history")

    for index, title in ((2, "Compare"), (3, "Scaling"), (5, "Learn")):
        open_page(page, title)
        shoot(page, f"{index}-{title.lower()}")

    # a long run: reload the page while it goes, find it still running, and stop it
    open_page(page, "Playground")
    set_number(page, "n", 8)
    set_number(page, "max tokens", 512)
    page.get_by_role("button", name="Run").click()
    page.get_by_role("button", name="Stop", exact=True).wait_for(timeout=RUN_TIMEOUT_MS)
    page.get_by_text("Chain 1", exact=True).first.wait_for()
    page.reload()
    page.get_by_role("button", name="Stop", exact=True).click()  # reattached to the run
    page.get_by_text("Stopped.").wait_for(timeout=RUN_TIMEOUT_MS)
    page.get_by_text("Stored in the ledger as run #2").wait_for()
    shoot(page, "6-stopped-after-reload")
