"""The same run in the browser and on the command line (not a test: prints a row a repeat).

Starts the app on a free port, opens it in headless Chromium, loads the model, runs
self-consistency (n=8, the default model, the strategy's default max tokens, a fixed built-in
problem) from the Playground with the live view on screen the whole time, and reads the
"Tokens / s" the page showed. Then runs the same run (same seed, so the same tokens) with
`lab solve` in a child process. Prints the wall time of each run (app: from the Run click
until the page says the run is stored; cli: the run's own wall time, model already loaded),
their ratio, the run's own wall time in the app's worker (app_run_s: what the engine and
strategy took there) and the rest (around_s: from the click to the worker's start, and from
its end to the page saying so), and the tokens/s the page showed. `--repeat K` takes turns K
times, each app run in a fresh lab home.

    python bench/ui.py                         # the default model, every core
    LAB_THREADS=1 python bench/ui.py           # the engine on one thread
    python bench/ui.py --model smollm2-135m --n 4
    python bench/ui.py --repeat 3              # three rows, app and command line in turn
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from lab.config import cpu_name

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
RUN_TIMEOUT_MS = 900_000
STORED = "Stored in the ledger as run #"  # the page's caption once a run is stored
# True once the page counts a generated token: the live view's "N tokens · ..." caption, or
# the final view's "Generated tokens" metric (looked at every 100 ms in the page itself)
FIRST_TOKEN_JS = r"""() => {
  const counted = text => {
    const m = (text || '').match(/^([\d,]+)(?: of [\d,]+)? tokens · /);
    return m !== null && parseInt(m[1].replace(/,/g, '')) > 0;
  };
  const live = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .some(c => counted(c.innerText));
  const final = [...document.querySelectorAll('[data-testid="stMetric"]')]
    .some(m => m.innerText.includes('Generated tokens'));
  return live || final;
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--index", type=int, default=0, help="problem of the arith set")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rows: the app and the command line take turns this many times")
    args = parser.parse_args()
    threads = os.environ.get("LAB_THREADS", f"all ({os.cpu_count()})")
    print(f"# {args.model}, self-consistency n={args.n}, arith index {args.index}, "
          f"LAB_THREADS={threads}, {platform.machine()}, {cpu_name()}")
    print("# app_run_s: the run's own wall time in the app's worker (its stored record); "
          "around_s: the rest of app_wall_s (start, end, final view); first_token_s: from "
          "the click to the page counting a generated token")
    print(f"{'cli_wall_s':>10} {'app_wall_s':>10} {'app/cli':>8} {'app_run_s':>9} "
          f"{'around_s':>8} {'first_token_s':>13} {'page_tok/s':>10} {'tokens':>7}", flush=True)
    for _ in range(args.repeat):
        home = Path(tempfile.mkdtemp(prefix="lab-bench-ui-"))
        env = {k: v for k, v in os.environ.items() if k != "LAB_DATABASE_URL"}
        env.update(LAB_HOME=str(home), LAB_MODEL=args.model)
        app_s, page_speed, app_tokens, first_s = run_in_app(env, args.n, args.index)
        app_run_s = stored_wall_s(env)
        cli_s, cli_tokens = run_in_cli(env, args.model, args.n, args.index)
        same = "" if app_tokens == cli_tokens else f"  (app generated {app_tokens})"
        print(f"{cli_s:>10.1f} {app_s:>10.1f} {app_s / cli_s:>8.2f} {app_run_s:>9.1f} "
              f"{app_s - app_run_s:>8.1f} {first_s:>13.2f} {page_speed:>10.1f} "
              f"{cli_tokens:>7}{same}",
              flush=True)


def run_in_app(env: dict[str, str], n: int, index: int) -> tuple[float, float, int, float]:
    """(wall s from the Run click to the stored run, page tokens/s, generated tokens, s from
    the click to the first generated token on the page)."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("lab")), "ui", "--headless", "--port", str(port)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.set_default_timeout(RUN_TIMEOUT_MS)
            page.goto(url)
            page.get_by_role("heading", name="Playground", exact=True).wait_for()
            page.get_by_text("tokens/s measured here").wait_for()  # preloaded, before timing
            choose_problem(page, index)
            set_number(page, "n", n)
            before = cpu_by_role(server.pid)
            start = time.perf_counter()
            page.get_by_role("button", name="Run").click()
            page.wait_for_function(FIRST_TOKEN_JS, polling=100)
            first_s = time.perf_counter() - start
            page.get_by_text(STORED).wait_for()
            wall = time.perf_counter() - start
            after = cpu_by_role(server.pid)
            used = {role: after.get(role, 0.0) - before.get(role, 0.0) for role in after}
            print("# CPU seconds during the app's run: " + ", ".join(
                f"{role} {seconds:.1f}" for role, seconds in sorted(used.items())))
            speed = float(metric(page, "Tokens / s"))
            tokens = int(metric(page, "Generated tokens").split()[0].replace(",", ""))
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    return wall, speed, tokens, first_s


def run_in_cli(env: dict[str, str], model: str, n: int, index: int) -> tuple[float, int]:
    """(the run's wall s, generated tokens) of `lab solve` with the same settings."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lab")), "solve", "-s", "self-consistency",
         "-p", f"n={n}",
         "--model", model, "--set", "arith", "--index", str(index), "--json"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    data = json.loads(result.stdout)
    return data["compute"]["wall_s"], data["compute"]["generated_tokens"]


def stored_wall_s(env: dict[str, str]) -> float:
    """The wall time the worker stored for the newest run of the app's ledger."""
    return float(newest_runs(env, 1)[0]["wall_s"])


def newest_runs(env: dict[str, str], limit: int) -> list[dict]:
    """The newest `limit` runs of the ledger `env` names, as `lab runs list --json` prints."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lab")), "runs", "list", "--limit", str(limit),
         "--json"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def choose_problem(page, index: int) -> None:
    if index == 0:
        return
    # by the keyboard: the open list draws only the options in view (a ninth is not there)
    box = page.get_by_role("combobox", name="Problem", exact=True)
    box.click()
    for _ in range(index):
        box.press("ArrowDown")
    box.press("Enter")


def set_number(page, label: str, value: int) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")


def metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def cpu_by_role(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the app's page process, its run worker, and Chromium."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if "lab.worker.server" in command:
            role = "worker"
        elif int(entry.name) == server_pid:
            role = "page"
        elif "chrom" in command:
            role = "chromium"
        else:
            continue
        used[role] = used.get(role, 0.0) + seconds
    return used


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the app did not answer at {url}")


if __name__ == "__main__":
    main()
