"""Batched against sequential sampling on the llama.cpp engine (not a test: prints ratios).

For N in the ladder, draws N samples of 128 new tokens of one prompt twice in one run:
batched (one call, the prompt decoded once and shared, one decode per step for all N) and
one after another (N calls of one sample, the prompt served from the cache). Same seeds,
so both produce the same tokens. Prints one row per N; the last column is the ratio
batched / sequential (lower is better).

    python bench/engine.py --model qwen2.5-coder-0.5b
    python bench/engine.py --threads 2 --ubatch 256 --no-flash-attn   # other settings
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from lab.engine.base import SamplingParams
from lab.engine.llamacpp import LlamaCppEngine
from lab.models import resolve_model_path

PROMPT = "Once upon a time, in a small village by the sea, there lived"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--ns", default="1,4,8", help="comma-separated sample counts")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch", type=int, default=512, help="n_batch")
    parser.add_argument("--ubatch", type=int, default=512, help="n_ubatch")
    parser.add_argument("--no-flash-attn", action="store_true")
    parser.add_argument("--top-logprobs", type=int, default=0)
    args = parser.parse_args()

    engine = LlamaCppEngine(resolve_model_path(args.model), n_threads=args.threads,
                            n_batch=args.batch, n_ubatch=args.ubatch,
                            flash_attn=not args.no_flash_attn)
    params = SamplingParams(temperature=0.8, max_tokens=args.tokens, seed=7,
                            top_logprobs=args.top_logprobs)
    engine.generate(PROMPT, n=1, params=params.with_(max_tokens=8))  # warm-up
    print(f"# {engine.model_name}, {args.tokens} new tokens per sample, "
          f"threads={args.threads or os.cpu_count()}, n_batch={args.batch}, "
          f"n_ubatch={args.ubatch}, flash_attn={not args.no_flash_attn}, {platform.machine()}")
    print(f"{'N':>3} {'tokens':>7} {'batched_s':>10} {'sequential_s':>13} {'batched_tok/s':>14} "
          f"{'sequential_tok/s':>17} {'ratio':>6}")
    for n in [int(x) for x in args.ns.split(",")]:
        batched_s, batched_tokens = _timed(lambda n=n: engine.generate(PROMPT, n=n, params=params))
        sequential_s, sequential_tokens = _timed(
            lambda n=n: [engine.generate(PROMPT, n=1, params=params, seeds=[params.seed + i])
                         for i in range(n)])
        print(f"{n:>3} {batched_tokens:>7} {batched_s:>10.2f} {sequential_s:>13.2f} "
              f"{batched_tokens / batched_s:>14.1f} {sequential_tokens / sequential_s:>17.1f} "
              f"{batched_s / sequential_s:>6.2f}")
    engine.close()


def _timed(work) -> tuple[float, int]:
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    generations = result if isinstance(result, list) else [result]
    return elapsed, sum(g.completion_tokens for g in generations)


if __name__ == "__main__":
    main()
