"""`lab generate`: sample completions of one prompt, batched on the shared prompt."""

from __future__ import annotations

import sys
from contextlib import nullcontext

import click
from rich.console import Console

from lab.commands.common import (
    engine_url_option,
    engine_urls,
    fail,
    open_engine,
    open_server,
    print_json,
)
from lab.engine.base import EngineError, Generation, SamplingParams

console = Console(stderr=True)


@click.command()
@click.argument("prompt")
@click.option("--model", default=None, help="Registry name or .gguf path (default: the lab's).")
@engine_url_option
@click.option("--n", "n", type=click.IntRange(1, 32), default=1, show_default=True,
              help="Samples, decoded together on the shared prompt.")
@click.option("--temperature", type=click.FloatRange(0, 5), default=0.7, show_default=True,
              help="0 is greedy.")
@click.option("--top-p", type=click.FloatRange(0, 1), default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Sample i uses seed + i.")
@click.option("--max-tokens", type=click.IntRange(1, 8192), default=256, show_default=True)
@click.option("--stop", multiple=True, help="Stop string (repeatable).")
@click.option("--raw", is_flag=True, help="Send the prompt as is, without the chat template.")
@click.option("--json", "as_json", is_flag=True,
              help="Print a list of objects: text, tokens, mean logprob, finish reason.")
def generate(prompt: str, model: str | None, engine_url: tuple[str, ...], n: int,
             temperature: float, top_p: float, seed: int, max_tokens: int,
             stop: tuple[str, ...], raw: bool, as_json: bool) -> None:
    """Sample N completions of PROMPT and print them."""
    urls = engine_urls(engine_url)
    if len(urls) > 1:
        fail("lab generate samples from one server: give one --engine-url")
    engine = open_server(urls[0], model) if urls else open_engine(model)
    params = SamplingParams(temperature=temperature, top_p=top_p, seed=seed,
                            max_tokens=max_tokens, stop=stop)
    request = prompt if raw else [{"role": "user", "content": prompt}]
    stream = n == 1 and not as_json and sys.stdout.isatty()
    on_token = (lambda _i, token: print(token.text, end="", flush=True)) if stream else None
    try:
        with console.status(f"{engine.model_name}: sampling {n} x {max_tokens} tokens",
                            spinner="dots") if not stream else nullcontext():
            result = engine.generate(request, n=n, params=params, on_token=on_token)
    except EngineError as exc:
        fail(str(exc))
    if as_json:
        print_json(_as_json(result))
    elif stream:
        print()
    else:
        _print_samples(result)
    for note in engine.take_notes():
        console.print(f"note: {note}", style="yellow", markup=False)
    console.print(f"[dim]{result.completion_tokens} tokens in {result.wall_s:.1f} s "
                  f"({result.completion_tokens / max(result.generate_s, 1e-9):.1f} tokens/s); "
                  f"prompt {result.prompt_tokens_decoded} tokens decoded[/dim]")


def _as_json(result: Generation) -> list[dict]:
    return [
        {
            "index": c.index,
            "seed": c.seed,
            "text": c.text,
            "finish_reason": c.finish_reason,
            "mean_logprob": c.mean_logprob,
            "tokens": [{"id": t.id, "text": t.text, "logprob": t.logprob} for t in c.tokens],
        }
        for c in result.completions
    ]


def _print_samples(result: Generation) -> None:
    for c in result.completions:
        click.echo(click.style(f"--- sample {c.index} (seed {c.seed}, {c.finish_reason}, "
                               f"mean logprob {c.mean_logprob:.3f})", dim=True))
        click.echo(c.text)

