"""Access in a real headless Chromium: `lab ui --token` (as beyond loopback) serves a browser
without the token no page and no run, and one with the address `lab ui` printed the lab."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from test_ui_command import LAB, free_port, fresh_env, stop, wait_for_health

USER, ADMIN = "browser-user-token", "browser-admin-token"
LOCKED = "This lab asks for its access token"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM}: install "
                       "Debian's package (apt-get install -y chromium) to run the browser test"),
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """`lab ui --token` on a fresh server: (its root, what it printed, its ledger file)."""
    port = free_port()
    log = tmp_path / "lab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*LAB, "--port", str(port), "--token", USER, "--admin-token", ADMIN, "--headless"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
            env=fresh_env(tmp_path, LAB_MODEL="smollm2-135m", LAB_GALLERY="off"),
            start_new_session=True)
    try:
        assert wait_for_health(port, process), log.read_text(errors="replace")
        yield f"http://127.0.0.1:{port}", log.read_text(errors="replace"), \
            tmp_path / "lab-home" / "ledger.db"
    finally:
        stop(process)


def test_without_the_token_no_page_and_no_run(lab: tuple[str, str, Path]):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    url, printed, ledger = lab
    assert f"Inference Scaling Lab on {url}/?token={USER}" in printed
    assert f"Admin address (may delete any run): {url}/?token={ADMIN}" in printed
    with urllib.request.urlopen(f"{url}/history", timeout=10) as response:
        shell = response.read().decode(errors="replace")  # Streamlit's static shell only
    assert "Playground" not in shell and "ledger" not in shell
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(60_000)
        # the fresh server's first visit, a deep link: its page reruns through app.py
        for address in (f"{url}/history", f"{url}/?token=wrong", f"{url}/playground"):
            page.goto(address)
            page.get_by_text(LOCKED).wait_for()
            time.sleep(1.0)  # nothing else arrives later
            assert page.get_by_role("button", name="Run").count() == 0
            assert page.get_by_role("heading", name=re.compile("History|Playground")).count() == 0
            assert page.get_by_text("Every run is stored in:").count() == 0  # no sidebar
            assert page.get_by_role("link", name="History").count() == 0  # no navigation
        assert not ledger.exists()  # never opened: no run stored, nothing read

        page.goto(f"{url}/?token={USER}")
        page.get_by_role("heading", name="Playground", exact=True).wait_for()
        page.get_by_role("button", name="Run").wait_for()
        assert page.get_by_text(LOCKED).count() == 0
        page.get_by_role("link", name="History").click()
        page.get_by_role("heading", name="History", exact=True).wait_for()
        deadline = time.monotonic() + 10  # the token goes back into the address
        while f"token={USER}" not in page.url and time.monotonic() < deadline:
            time.sleep(0.1)
        assert f"token={USER}" in page.url
        page.reload()  # so a reload still gets in
        page.get_by_role("heading", name="History", exact=True).wait_for()
        browser.close()
