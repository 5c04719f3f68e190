"""A classroom in browsers: K headless-browser sessions press Run at once (not a test: prints a
table).

Starts `lab ui --concurrency C` on a free port (a local model; or `--engine-url URL` for a
model server such as `llama-server -np 8`), opens K sessions in headless Chromium (each its
own browser context, so its own lab session), and has each pick a problem of its own in the
Playground and run self-consistency (n=4 by default). Measured twice on the same served app,
the two ways taking turns `--repeat` times: all K press Run at the same moment, and the same
K runs one after another (each session presses Run when the one before has its answer).
Prints, for each way, the runs stored complete, the generated tokens, the aggregate tokens/s
(every token over the time from the first click to the last stored run) and the slowest
session's wait (its click to its stored run), then the ratio of the aggregate rates.

The browsers run on the same machine as the lab here, so on a small machine their drawing
takes CPU time a classroom's own laptops would spend: the figures are a lower bound there.

    python bench/classroom_browser.py 4                 # 4 sessions, local model, 4 lanes
    python bench/classroom_browser.py 8 --concurrency 8 --engine-url http://127.0.0.1:8089
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ui import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO_ROOT,
    RUN_TIMEOUT_MS,
    STORED,
    choose_problem,
    free_port,
    newest_runs,
    set_number,
    wait_healthy,
)

from lab.config import MAX_LOCAL_LANES, cpu_name


@dataclass
class Way:
    """One way of running the K runs: when each was stored, and what the ledger holds."""

    name: str
    waits: list[float]
    wall_s: float
    complete: int
    generated: int

    @property
    def rate(self) -> float:
        return self.generated / self.wall_s


def main() -> None:
    args = _arguments()
    lab = str(Path(sys.executable).with_name("lab"))
    home = Path(tempfile.mkdtemp(prefix="lab-bench-classroom-"))
    env = {"LAB_HOME": str(home), "LAB_MODEL": args.model, "LAB_GALLERY": "off"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [lab, "ui", "--headless", "--port", str(port), "--concurrency",
               str(args.concurrency)]
    for server in args.engine_url or []:
        command += ["--engine-url", server]
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=os.environ | env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine = ", ".join(args.engine_url) if args.engine_url else f"{args.model} here"
    print(f"# {args.sessions} sessions, self-consistency n={args.n}, arith problems "
          f"1-{args.sessions}, lab ui --concurrency {args.concurrency}, engine {engine}; "
          f"{cpu_name()}", flush=True)
    ways: list[Way] = []
    try:
        wait_healthy(url)
        from playwright.sync_api import sync_playwright
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            ready = (re.compile("connects on the first run|connected in") if args.engine_url
                     else re.compile("tokens/s measured here"))
            pages = [_session(browser, url, i, args.n, ready) for i in range(args.sessions)]
            for _ in range(args.repeat):  # interleaved: a slow spell hits both ways
                ways.append(_count(env, "one after another", _one_after_another(pages)))
                ways.append(_count(env, "all at once", _all_at_once(pages)))
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    print(f"{'':>17}  {'complete':>8}  {'tokens':>7}  {'wall s':>7}  {'tok/s':>6}  "
          f"{'slowest wait s':>14}")
    for way in ways:
        print(f"{way.name:>17}  {way.complete:>4} of {args.sessions:<1}  {way.generated:>7}  "
              f"{way.wall_s:>7.1f}  {way.rate:>6.1f}  {max(way.waits):>14.1f}")
    ratios = [ways[i + 1].rate / ways[i].rate for i in range(0, len(ways), 2)]
    print(f"aggregate tokens/s, all at once / one after another: "
          f"{' '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})")


def _session(browser, url: str, index: int, n: int, ready: re.Pattern[str]):
    """A page of its own browser context (a session of its own) with problem `index` of the
    arith set and self-consistency's n set, ready to press Run (the sidebar shows `ready`:
    a local model loaded, or a server's engine to be connected)."""
    page = browser.new_context(viewport={"width": 1400, "height": 2000}).new_page()
    page.set_default_timeout(RUN_TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("heading", name="Playground", exact=True).wait_for()
    page.get_by_text(ready).first.wait_for()
    choose_problem(page, index)
    set_number(page, "n", n)
    return page


def _one_after_another(pages) -> tuple[list[float], float]:
    started = time.perf_counter()
    waits = []
    for page in pages:
        clicked = time.perf_counter()
        waits += _press_and_wait([page], clicked)
    return waits, time.perf_counter() - started


def _all_at_once(pages) -> tuple[list[float], float]:
    """Every session's Run pressed in turn without waiting (playwright drives the pages from
    one thread: the K clicks take a fraction of a second), then every new run awaited."""
    started = time.perf_counter()
    waits = _press_and_wait(pages, started)
    return waits, time.perf_counter() - started


def _press_and_wait(pages, started: float) -> list[float]:
    """Press Run on each page, then wait until each shows a stored run it did not show before:
    the seconds from `started` to each."""
    before = [_stored_id(page) for page in pages]
    for page in pages:
        page.get_by_role("button", name="Run").click()
    waits: list[float | None] = [None] * len(pages)
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while any(w is None for w in waits):
        if time.monotonic() > deadline:
            raise SystemExit("a session's run was not stored in time")
        for i, page in enumerate(pages):
            if waits[i] is None and _stored_id(page) not in (None, before[i]):
                waits[i] = time.perf_counter() - started
            refused = page.get_by_text("The run could not be done.")
            if waits[i] is None and refused.count():
                raise SystemExit(f"session {i + 1}: {refused.first.inner_text()}")
        pages[0].wait_for_timeout(100)
    return [w for w in waits if w is not None]


def _stored_id(page) -> int | None:
    """The run number of the page's "Stored in the ledger as run #N" caption, if shown."""
    found = page.get_by_text(STORED)
    if not found.count():
        return None
    match = re.search(r"#(\d+)", found.first.inner_text())
    return int(match[1]) if match else None


def _count(env: dict[str, str], name: str, timing: tuple[list[float], float]) -> Way:
    """The ledger's newest runs, one per session: how many complete, and their tokens."""
    waits, wall = timing
    runs = newest_runs(os.environ | env, len(waits))
    return Way(name, waits, wall, sum(r["status"] == "complete" for r in runs),
               sum(r["generated_tokens"] or 0 for r in runs))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sessions", type=int, nargs="?", default=4)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--n", type=int, default=4, help="self-consistency's chains")
    parser.add_argument("--concurrency", type=int, default=None,
                        help=f"lab ui --concurrency (default: the sessions, at most "
                             f"{MAX_LOCAL_LANES} on a local model)")
    parser.add_argument("--engine-url", action="append", metavar="URL")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if args.concurrency is None:
        args.concurrency = (args.sessions if args.engine_url
                            else min(args.sessions, MAX_LOCAL_LANES))
    return args


if __name__ == "__main__":
    main()
