"""Prompt tokens a step-level search decodes, against the unique tokens of its tree (not a
test: prints one row per strategy and scorer).

Each search (beam and tree search, ranked by mean-logprob or self-verify) runs on the same
problems with the same seeds. `paths` counts the prompt tokens the search's expansions
decoded (what the KV cache did not already hold); `unique` is the tree's own tokens: the
prompt once plus every step once. A search that keeps its cache decodes each path token once,
when it is generated, so (paths + generated) / unique stays near 1. `verify` counts the
prompt tokens the scoring calls decoded (in the engine's scoring context), on their own.
It is a ratio of tokens, not a speed: a busy machine gives the same figures.

    python bench/search.py --model qwen2.5-coder-0.5b --problems 2
"""

from __future__ import annotations

import argparse
import platform

from lab.config import n_threads
from lab.engine.llamacpp import LlamaCppEngine
from lab.models import resolve_model_path
from lab.prompts import solve_messages
from lab.strategies.registry import run_strategy
from lab.tasks.datasets import load_set
from lab.trace import NodeKind

SEARCHES = {
    "beam-search": {"width": 2, "branch": 2, "depth": 4, "max_tokens": 48},
    "tree-search": {"search": "best-first", "iterations": 6, "branch": 2, "depth": 4,
                    "max_tokens": 48},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--set", default="arith", help="problem set")
    parser.add_argument("--problems", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--evicting", action="store_true",
                        help="score in the search's own context, as the engine did before "
                             "it had a scoring context (every verification evicts the paths)")
    args = parser.parse_args()

    engine = LlamaCppEngine(resolve_model_path(args.model), n_threads=args.threads)
    if args.evicting:
        engine._scoring = lambda: engine._cache  # type: ignore[method-assign]
    paths = [0]
    original = engine._generate_targets

    def counting(targets, prefixes, *rest, **kwargs):
        generation = original(targets, prefixes, *rest, **kwargs)
        paths[0] += generation.prompt_tokens_decoded
        return generation

    engine._generate_targets = counting  # type: ignore[method-assign]
    problems = load_set(args.set, limit=args.problems)
    print(f"# {engine.model_name}, {len(problems)} {args.set} problems, "
          f"threads={args.threads or n_threads()}, {platform.machine()}"
          + (", scoring evicts the search's paths" if args.evicting else ""))
    print(f"{'strategy':<12} {'scorer':<13} {'unique':>7} {'paths':>6} {'generated':>9} "
          f"{'ratio':>6} {'verify':>7} {'calls':>6}")
    for name, params in SEARCHES.items():
        for scorer in ("mean-logprob", "self-verify"):
            unique = decoded = generated = verify = calls = 0
            for problem in problems:
                engine._cache.reset()  # every run starts cold
                engine._scoring().reset()
                paths[0] = 0
                trace = run_strategy(name, problem, engine,
                                     {**params, "scorer": scorer, "seed": 1})
                prompt = engine.prompt_tokens(solve_messages(problem, "steps",
                                                             engine.prompt_format))
                steps = [n for n in trace.nodes if n.kind == NodeKind.STEP]
                unique += len(prompt) + sum(len(n.tokens) for n in steps)
                decoded += paths[0]
                generated += sum(len(n.tokens) for n in steps)
                verify += trace.compute.prompt_tokens - paths[0]
                calls += trace.compute.engine_calls
            ratio = (decoded + generated) / unique
            print(f"{name:<12} {scorer:<13} {unique:>7} {decoded:>6} {generated:>9} "
                  f"{ratio:>6.2f} {verify:>7} {calls:>6}", flush=True)
    engine.close()


if __name__ == "__main__":
    main()
