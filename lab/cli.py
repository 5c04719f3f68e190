"""The `lab` command. Subcommands live in `lab/commands/` and load only when used,
so `lab --help` stays fast (no llama.cpp, Streamlit or SQLAlchemy import)."""

from __future__ import annotations

import importlib

import click

from lab import __version__, config

# name -> ("module:attribute", one-line help shown by `lab --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("lab.commands.models:models", "List, pull, verify and inspect GGUF models."),
    "generate": ("lab.commands.generate:generate", "Sample completions of a prompt."),
    "problems": ("lab.commands.problems:problems", "Browse and check problem sets."),
    "solve": ("lab.commands.solve:solve", "Run one strategy on one problem."),
    "runs": ("lab.commands.runs:runs", "List, show, export and delete stored runs."),
    "eval": ("lab.commands.evaluate:evaluate", "Sweep strategies over a problem set."),
    "plot": ("lab.commands.evaluate:plot", "Draw accuracy against compute for an experiment."),
    "advise": ("lab.commands.advise:advise", "Probe a problem and advise a strategy and budget."),
    "ui": ("lab.commands.ui:ui", "Start the lab in the browser."),
    "gallery": ("lab.commands.gallery:gallery",
                "Import or export the gallery of measured experiments."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target, _ = COMMANDS[cmd_name]
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in sorted(COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    epilog=f"Models: {config.models_dir()}\n\nLedger: {config.database_url()}",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="lab")
def main() -> None:
    """Inference Scaling Lab: watch a language model think harder.

    Run a local GGUF model with an inference-time scaling strategy (chain of thought,
    self-consistency, best-of-N, search, ...) and see what the extra compute bought.
    """
