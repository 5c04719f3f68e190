"""`lab ui`: start the lab in the browser (`streamlit run app.py` with the lab's settings).

Streamlit always runs headless: a non-headless Streamlit asks a first-time user for an email
address ("Welcome to Streamlit! ... Email:") and serves nothing until it is answered, and with
no terminal it never starts. The lab opens the browser itself instead, once the server
answers its health check, and only where there is a display to open it on.

Bound beyond loopback (`--host 0.0.0.0`) the lab asks for a token, as Jupyter does: `--token`
or LAB_TOKEN, else a random one, printed in the address (`/?token=…`); an admin token
(`--admin-token` or LAB_ADMIN_TOKEN, else random) is printed too. They reach the app as
LAB_TOKEN and LAB_ADMIN_TOKEN (lab.ui.access). On loopback nothing is asked unless a token is
given.

Against model servers (`--engine-url`, LAB_ENGINE_URL) the app's run worker keeps up to
`--concurrency` jobs in flight (LAB_CONCURRENCY; default one per server), as `lab eval
--concurrency` does; on a local model up to 4 jobs (a classroom's) are decoded together, their
sequences in the same batches (lab.engine.shared; default one at a time).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import webbrowser
from pathlib import Path

import click

from lab import config
from lab.commands.common import check_local_concurrency, engine_urls

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
@click.option("--concurrency", type=click.IntRange(1, 256), default=None,
              help="Runs in flight at once on the --engine-url servers, round-robin, or "
                   "decoded together on a local model, at most 4 (sets LAB_CONCURRENCY; "
                   "default: one per server, one on a local model).")
@click.option("--port", type=int, default=8501, show_default=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 shares the lab with your network).")
@click.option("--token", default=None, metavar="TEXT",
              help="The token a browser must bring (…/?token=TEXT; default: LAB_TOKEN, else "
                   "a random one when --host is not a loopback address).")
@click.option("--admin-token", "admin_token", default=None, metavar="TEXT",
              help="The token of a session that may delete any run (default: "
                   "LAB_ADMIN_TOKEN, else a random one whenever a token is asked).")
@click.option("--headless", is_flag=True,
              help="Do not open a browser window (none opens without a display anyway).")
@click.argument("streamlit_args", nargs=-1, type=click.UNPROCESSED)
def ui(model: str | None, engine_url: tuple[str, ...], concurrency: int | None, port: int,
       host: str, token: str | None, admin_token: str | None, headless: bool,
       streamlit_args: tuple[str, ...]) -> None:
    """Start the lab in the browser. Arguments after the options go to `streamlit run`,
    e.g. `lab ui --model smollm2-135m -- --theme.base dark`."""
    env = dict(os.environ)
    if model:
        env["LAB_MODEL"] = _absolute_if_path(model)
    if engine_url:
        env["LAB_ENGINE_URL"] = " ".join(engine_urls(engine_url))
    servers = env.get("LAB_ENGINE_URL", "").replace(",", " ").split()
    if concurrency is not None:
        if not servers:
            check_local_concurrency(concurrency)
        env["LAB_CONCURRENCY"] = str(concurrency)
    tokens = access_tokens(host, token or env.get("LAB_TOKEN") or None,
                           admin_token or env.get("LAB_ADMIN_TOKEN") or None)
    command = streamlit_command(port, host, streamlit_args)
    url = browser_url(host, port)
    if tokens is not None:
        env["LAB_TOKEN"], env["LAB_ADMIN_TOKEN"] = tokens
        url = with_token(url, tokens[0])
    open_browser = not headless and has_display()
    engine = (f"model server {', '.join(servers)}" if servers else
              f"model {env.get('LAB_MODEL', config.default_model())}")
    if concurrency and concurrency > 1:
        engine += f", {concurrency} runs at once" + ("" if servers else ", decoded together")
    click.echo(f"Inference Scaling Lab on {url}  ({engine}, ledger {config.database_url()})",
               err=True)
    if tokens is not None:
        admin_url = with_token(browser_url(host, port), tokens[1])
        click.echo(f"Admin address (may delete any run): {admin_url}", err=True)
        click.echo("A browser without the token gets no page; another machine opens the "
                   "address with this machine's name or IP and the same ?token=.", err=True)
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


def is_loopback(host: str) -> bool:
    """Whether `host` listens on this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name, or "" (every interface)
        return False


def access_tokens(host: str, token: str | None,
                  admin_token: str | None) -> tuple[str, str] | None:
    """The (user, admin) tokens the lab asks for, or None: none asked (loopback, none given).
    A token not given is random."""
    if is_loopback(host) and not token and not admin_token:
        return None
    return token or secrets.token_urlsafe(16), admin_token or secrets.token_urlsafe(16)


def with_token(url: str, token: str) -> str:
    """The address that lets a browser in: `http://HOST:PORT/?token=…`, as Jupyter prints."""
    return f"{url}/?token={urllib.parse.quote(token, safe='')}"


def has_display() -> bool:
    """Whether a browser window can open here: macOS and Windows have a desktop; elsewhere
    an X11 or Wayland display must be named (not over plain SSH, in a container or in CI)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def wait_until_ready(url: str, timeout: float = READY_TIMEOUT_S) -> bool:
    """Poll Streamlit's health check until it answers "ok" (True) or `timeout` passes."""
    url = server_root(url)
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


def server_root(url: str) -> str:
    """`http://HOST:PORT` of an address that may carry a path and a token."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


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
