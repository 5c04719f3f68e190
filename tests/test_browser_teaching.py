"""In headless Chromium: Learn's self-consistency button opens its demonstration in the
Playground; the finished run's divergence view (where the chains part ways) opens and shows
its forks; the report downloads from its button and opens with every network request
refused, its chart drawn from the inlined Plotly.

Screenshots go to test-artifacts/screenshots. The PNGs in docs/ were taken by this test on
the default model, with the demonstration's own settings:

    LAB_TEST_BROWSER_MODEL=qwen2.5-coder-0.5b LAB_DOCS_SCREENSHOTS=1 \\
        pytest tests/test_browser_teaching.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO_ROOT,
    RUN_TIMEOUT_MS,
    SCREENSHOTS,
    serve_app,
    set_number,
)

MODEL = os.environ.get("LAB_TEST_BROWSER_MODEL", "smollm2-135m")
DOCS = os.environ.get("LAB_DOCS_SCREENSHOTS") == "1"  # keep the demo's settings, shoot docs/
DOCS_DIR = REPO_ROOT / "docs"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.model,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM}: install "
                       "Debian's package (apt-get install -y chromium) to run the browser test"),
]


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    from lab.models import find_local_model

    if find_local_model(MODEL) is None:
        pytest.fail(f"{MODEL} is not in models/: run `lab models pull {MODEL}` first")
    with serve_app(MODEL, tmp_path) as url:
        yield url


@pytest.fixture
def browser(app_url: str):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_demonstration_divergence_view_and_report(browser, app_url: str, tmp_path: Path):
    page = browser.new_page(viewport={"width": 1300, "height": 2000}, accept_downloads=True)
    page.set_default_timeout(60_000)
    page.goto(f"{app_url}/learn")
    page.get_by_role("heading", name="Learn", exact=True).wait_for()
    page.get_by_role("tab", name="Strategies").click()  # the first tab is the ladder
    page.get_by_text("What to expect.").first.wait_for()
    page.get_by_role("button", name="Try self-consistency in the Playground").click()
    page.get_by_role("heading", name="Playground", exact=True).wait_for()
    page.get_by_text("Correct answer:").wait_for()
    if not DOCS:  # the test model is fast only on short chains; let the cut ones vote
        set_number(page, "n", 4)
        set_number(page, "max tokens", 32)
        page.get_by_text("cut votes", exact=True).click()
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Stored in the ledger as run #1").wait_for(
        timeout=RUN_TIMEOUT_MS * (5 if DOCS else 2))  # docs: 8 chains of 512 tokens, queued
    page.get_by_role("button", name="Stop", exact=True).wait_for(state="detached")

    view = page.locator("details").filter(has_text="Where the chains part ways").first
    view.locator("summary").first.click()
    view.get_by_text("forks").first.wait_for()  # the summary sentence
    forks = view.locator("details summary")  # one collapsible branch per next token
    assert forks.count() >= 2
    assert "p = " in forks.first.inner_text() and "→" in forks.first.inner_text()
    view.scroll_into_view_if_needed()
    view.screenshot(path=str(SCREENSHOTS / "teaching-divergence.png"))
    if DOCS:
        shrink(view.screenshot(), DOCS_DIR / "divergence-view.png")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download report").click()
    report = tmp_path / download.value.suggested_filename
    download.value.save_as(report)
    text = report.read_text()
    assert report.suffix == ".html" and "Where the chains part ways" in text
    assert 'src="http' not in text  # (plotly.js names its CDN in a string: not a fetch)

    offline = browser.new_context(viewport={"width": 1200, "height": 1500})
    asked: list[str] = []

    def refuse(route) -> None:
        asked.append(route.request.url)
        route.abort()

    offline.route("http*://**/*", refuse)  # nothing may come from a network
    sheet = offline.new_page()
    sheet.goto(report.as_uri())
    sheet.locator(".js-plotly-plot .main-svg").first.wait_for()  # drawn by inlined Plotly
    assert asked == []
    sheet.screenshot(path=str(SCREENSHOTS / "teaching-report.png"))
    if DOCS:
        shrink(sheet.screenshot(), DOCS_DIR / "report.png")
    offline.close()


def shrink(png: bytes, out: Path, limit: int = 300_000) -> None:
    """Write a screenshot for docs/ under `limit` bytes: fewer colours, then smaller."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    while True:
        buffer = io.BytesIO()
        image.quantize(colors=64).save(buffer, format="PNG", optimize=True)
        if buffer.tell() <= limit or image.width < 500:
            out.write_bytes(buffer.getvalue())
            return
        image = image.resize((image.width * 4 // 5, image.height * 4 // 5))
