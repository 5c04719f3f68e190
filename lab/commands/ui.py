"""`lab ui`: start the lab in the browser (`streamlit run app.py` with the lab's settings)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from lab import config

APP = config.REPO_ROOT / "app.py"


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--model", default=None, metavar="NAME",
              help="Registry name or .gguf path the app starts with (sets LAB_MODEL; "
                   "default: LAB_MODEL, else the lab's default).")
@click.option("--port", type=int, default=8501, show_default=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 shares the lab with your network).")
@click.option("--headless", is_flag=True, help="Do not open a browser window.")
@click.argument("streamlit_args", nargs=-1, type=click.UNPROCESSED)
def ui(model: str | None, port: int, host: str, headless: bool,
       streamlit_args: tuple[str, ...]) -> None:
    """Start the lab in the browser. Arguments after the options go to `streamlit run`,
    e.g. `lab ui --model smollm2-135m -- --theme.base dark`."""
    env = dict(os.environ)
    if model:
        env["LAB_MODEL"] = _absolute_if_path(model)
    command = streamlit_command(port, host, headless, streamlit_args)
    click.echo(f"Inference Scaling Lab on http://{host}:{port}  "
               f"(model {env.get('LAB_MODEL', config.default_model())}, "
               f"ledger {config.database_url()})", err=True)
    os.chdir(config.REPO_ROOT)  # so Streamlit reads the lab's .streamlit/config.toml
    os.execve(sys.executable, command, env)


def streamlit_command(port: int, host: str, headless: bool,
                      extra: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", host, "--server.headless", "true" if headless else "false",
            *extra]


def _absolute_if_path(model: str) -> str:
    """A relative .gguf path still works after the working directory changes."""
    path = Path(model).expanduser()
    if path.suffix == ".gguf" or os.sep in model:
        return str(path.resolve())
    return model
