"""A new lab in a real headless Chromium: Scaling shows the gallery's curves before any run, a
clicked point lists the runs behind it and one opens; History opens on the gallery, and a
self-consistency run there opens with its chains shaded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, VIEWPORT, serve_app, shoot

from lab import config

SHIPPED = config.REPO_ROOT / "data" / "gallery.jsonl.gz"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM}: install "
                       "Debian's package (apt-get install -y chromium) to run the browser test"),
]


def test_a_new_lab_opens_on_the_gallery(smollm_path: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    monkeypatch.setenv("LAB_GALLERY", str(SHIPPED))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with serve_app("smollm2-135m", tmp_path) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(90_000)  # the first visit imports the gallery
        page.goto(f"{url}/scaling")
        page.get_by_role("heading", name="Accuracy against compute").wait_for()
        page.get_by_text("(gallery): measured with the lab's default model").wait_for()
        points = page.locator(".js-plotly-plot .scatterlayer path.point")
        points.first.wait_for()
        assert points.count() >= 10  # the ladder's steps and their pass@k at least
        shoot(page, "gallery-1-scaling")
        box = points.nth(points.count() // 2).bounding_box()  # plotly's drag layer takes
        assert box is not None                                   # the clicks, by position
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.wait_for_timeout(500)  # the hover finds the point
        page.mouse.click(x, y)
        page.get_by_text("Open a run").wait_for()  # the clicked point's runs
        shoot(page, "gallery-2-point")
        runs = page.get_by_role("combobox", name="Open a run")
        runs.click()
        runs.fill("00001")  # the list opens as it filters: the first problem's run
        page.get_by_role("option", name=re.compile(r"^#\d+ · gsm8k_train-00001")).first.click()
        page.get_by_text("Correct answer:").first.wait_for()  # the run opened
        shoot(page, "gallery-3-run")
        page.get_by_role("link", name="History").click()  # a new lab: History on the gallery
        page.get_by_text("In the gallery").wait_for(state="detached")
        history = page.get_by_role("combobox", name="Open a run")
        history.click()
        history.fill("self-consistency · gsm8k")
        page.get_by_role("option", name=re.compile(r"^#\d+ · self-consistency · ")).first.click()
        page.get_by_text("In the gallery").first.wait_for()
        shaded = page.locator('span[style*="#e63946"]')  # its chains, shaded
        shaded.first.wait_for()
        assert shaded.count() > 20
        shoot(page, "gallery-4-history")
        browser.close()
