"""`lab ui`: start the lab in the browser (`streamlit run app.py` with the lab's settings).

Streamlit always runs headless: a non-headless Streamlit asks a first-time user for an email
address ("Welcome to Streamlit! ... Email:") and serves nothing until it is answered, and with
no terminal it never starts. The lab opens the browser itself instead, once the server
answers its health check, and only where there is a display to open it on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import webbrowser
from pathlib import Path

import click

from lab import config
from lab.commands.common import engine_urls

APP = config.REPO_ROOT / "app.py"
HEALTH_PATH = "/_stcore/health"
READY_TIMEOUT_S = 60.0


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--model", default=None, metavar="NAME",
              help="Registry name or .gguf path the app starts with (sets LAB_MODEL; "
                   "default: LAB_MODEL, else the lab's default).")
@click.option("--engine-url", "engine_url", multiple=True, metavar="URL",
              help="Run against an OpenAI-compatible model server instead of a local model "
                   "(sets LAB_ENGINE_URL; repeat it to give a Scaling sweep several servers).")
@click.option("--port", type=int, default=8501, show_default=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 shares the lab with your network).")
@click.option("--headless", is_flag=True,
              help="Do not open a browser window (none opens without a display anyway).")
@click.argument("streamlit_args", nargs=-1, type=click.UNPROCESSED)
def ui(model: str | None, engine_url: tuple[str, ...], port: int, host: str, headless: bool,
       streamlit_args: tuple[str, ...]) -> None:
    """Start the lab in the browser. Arguments after the options go to `streamlit run`,
    e.g. `lab ui --model smollm2-135m -- --theme.base dark`."""
    env = dict(os.environ)
    if model:
        env["LAB_MODEL"] = _absolute_if_path(model)
    if engine_url:
        env["LAB_ENGINE_URL"] = " ".join(engine_urls(engine_url))
    command = streamlit_command(port, host, streamlit_args)
    url = browser_url(host, port)
    open_browser = not headless and has_display()
    servers = env.get("LAB_ENGINE_URL", "").replace(",", " ").split()
    engine = (f"model server {', '.join(servers)}" if servers else
              f"model {env.get('LAB_MODEL', config.default_model())}")
    click.echo(f"Inference Scaling Lab on {url}  ({engine}, ledger {config.database_url()})",
               err=True)
    click.echo("Opening it in your browser once the server answers." if open_browser else
               "Open that address in your browser.", err=True)
    if open_browser:
        open_when_ready_in_background(url)
    os.chdir(config.REPO_ROOT)  # so Streamlit reads the lab's .streamlit/config.toml
    os.execve(sys.executable, command, env)


def streamlit_command(port: int, host: str, extra: tuple[str, ...] = ()) -> list[str]:
    """`streamlit run app.py`, headless (never the first-run email prompt), no usage stats."""
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", host, "--server.headless", "true",
            "--browser.gatherUsageStats", "false", *extra]


def browser_url(host: str, port: int) -> str:
    """The address a browser on this machine opens (a wildcard listen address is localhost)."""
    if host in ("", "0.0.0.0", "::"):
        host = "localhost"
    elif ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{port}"


def has_display() -> bool:
    """Whether a browser window can open here: macOS and Windows have a desktop; elsewhere
    an X11 or Wayland display must be named (not over plain SSH, in a container or in CI)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def wait_until_ready(url: str, timeout: float = READY_TIMEOUT_S) -> bool:
    """Poll Streamlit's health check until it answers "ok" (True) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + HEALTH_PATH, timeout=2) as response:
                if response.read().strip() == b"ok":
                    return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


def open_when_ready(url: str, timeout: float = READY_TIMEOUT_S) -> bool:
    """Open `url` in the user's browser once the server behind it answers."""
    return wait_until_ready(url, timeout) and webbrowser.open(url)


def open_when_ready_in_background(url: str) -> None:
    """Run `open_when_ready` in a process of its own: this one is about to become Streamlit.
    On POSIX a double fork hands the opener to init, so no zombie is left under Streamlit."""
    if not hasattr(os, "fork"):
        subprocess.Popen([sys.executable, "-c",
                          "import sys; from lab.commands.ui import open_when_ready; "
                          "open_when_ready(sys.argv[1])", url],
                         stdin=subprocess.DEVNULL)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child:
        os.waitpid(child, 0)
        return
    try:
        if os.fork() == 0:
            open_when_ready(url)
    finally:  # also after Ctrl-C, which reaches the opener too: leave quietly, at once
        os._exit(0)


def _absolute_if_path(model: str) -> str:
    """A relative .gguf path still works after the working directory changes."""
    path = Path(model).expanduser()
    if path.suffix == ".gguf" or os.sep in model:
        return str(path.resolve())
    return model
