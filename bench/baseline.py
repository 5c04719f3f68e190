"""Greedy step-by-step baseline by prompt format and token cap (not a test: prints a table).

For each prompt format, decodes one greedy chain per problem up to the largest cap, several
problems per batch (`Engine.generate_each`). Greedy decoding is deterministic, so the chain
cut at a smaller cap is the first `cap` tokens of that chain: one run per format gives every
cap. A chain that reaches the cap is `cut` and counts as no answer (the lab's default: a cut
chain neither votes nor is ranked).

    python bench/baseline.py --data ../shared/data/gsm8k_train.jsonl --limit 100
    python bench/baseline.py --model qwen2.5-coder-1.5b --formats lab,boxed --out run.json

Formats: `lab` (the lab's step-by-step prompt, "The answer is X."), `boxed` (Qwen's math
system prompt, the question alone), `few-shot` (4 worked exemplars taken from the end of the
same file, never among the evaluated problems, then the lab's prompt).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.engine.base import ChatMessage, Completion, SamplingParams
from lab.engine.llamacpp import LlamaCppEngine
from lab.evaluation.estimators import wilson_interval
from lab.models import resolve_model_path
from lab.prompts import solve_messages
from lab.tasks.datasets import load_set
from lab.tasks.extraction import extract_answer
from lab.tasks.grading import grade_answer
from lab.tasks.problem import Problem

BOXED_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
EXEMPLARS = 4
_CALCULATOR = re.compile(r"<<[^>]*>>")


def main() -> None:
    args = _arguments()
    caps = sorted(int(c) for c in args.caps.split(","))
    problems = load_set(f"gsm8k:{args.data}", limit=args.limit)
    exemplars = _exemplars(Path(args.data), EXEMPLARS, avoid={p.id for p in problems})
    engine = LlamaCppEngine(resolve_model_path(args.model), n_threads=args.threads)
    params = SamplingParams(temperature=0, max_tokens=caps[-1])
    print(f"# {engine.model_name}; {len(problems)} problems of {args.data}; greedy; caps "
          f"{caps}; {args.batch} problems per batch; {platform.processor() or platform.machine()}")
    print(f"{'format':<9} {'cap':>5} {'correct':>8} {'accuracy':>9} {'95% Wilson':>15} "
          f"{'% cut':>6} {'mean gen':>9} {'mean prompt':>12}")
    results: dict[str, Any] = {"model": engine.model_name, "problems": len(problems),
                               "caps": caps, "formats": {}}
    for name in args.formats.split(","):
        build = _formats(exemplars)[name]
        started = time.perf_counter()
        chains = _greedy_chains(engine, [build(p) for p in problems], params, args.batch)
        wall_s = time.perf_counter() - started
        rows = [_row(problems, chains, cap) for cap in caps]
        for row in rows:
            _print_row(name, row)
        results["formats"][name] = {"wall_s": round(wall_s, 1), "rows": rows,
                                    "prompt_tokens": [c["prompt_tokens"] for c in chains]}
    if args.check_alone:
        results["alone"] = _check_alone(engine, problems[: args.check_alone], params, caps[-1])
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    engine.close()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/gsm8k_train.jsonl")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--caps", default="256,512,768")
    parser.add_argument("--formats", default="lab,boxed,few-shot")
    parser.add_argument("--batch", type=int, default=8, help="problems decoded together")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--check-alone", type=int, default=0, metavar="K",
                        help="also decode the first K problems one at a time (lab format) and "
                             "count how many greedy answers differ from the batched ones")
    parser.add_argument("--out", help="write every row as JSON here")
    return parser.parse_args()


def _formats(exemplars: list[Problem]) -> dict[str, Callable[[Problem], list[ChatMessage]]]:
    return {
        "lab": lambda p: solve_messages(p, "cot"),
        "boxed": lambda p: [{"role": "system", "content": BOXED_SYSTEM},
                            {"role": "user", "content": p.question}],
        "few-shot": lambda p: _few_shot(p, exemplars),
    }


def _few_shot(problem: Problem, exemplars: list[Problem]) -> list[ChatMessage]:
    messages = solve_messages(problem, "cot")
    system, question = messages[0], messages[-1]
    turns: list[ChatMessage] = [system]
    for exemplar in exemplars:
        turns.append(solve_messages(exemplar, "cot")[-1])
        turns.append({"role": "assistant", "content": _worked(exemplar)})
    return [*turns, question]


def _worked(exemplar: Problem) -> str:
    """A GSM8K reference solution in the lab's answer format (calculator notes removed)."""
    steps, gold = exemplar.metadata["solution"].rsplit("####", 1)
    return f"{_CALCULATOR.sub('', steps).strip()}\nThe answer is {gold.strip()}."


def _exemplars(path: Path, count: int, avoid: set[str]) -> list[Problem]:
    every = load_set(f"gsm8k:{path}")
    chosen = [p for p in every[-count:] if p.id not in avoid]
    if len(chosen) < count:
        raise SystemExit("the file is too short to keep the exemplars apart from the problems")
    return chosen


def _greedy_chains(engine: LlamaCppEngine, prompts: list[list[ChatMessage]],
                   params: SamplingParams, batch: int) -> list[dict[str, Any]]:
    chains: list[dict[str, Any]] = []
    for start in range(0, len(prompts), batch):
        group = prompts[start:start + batch]
        generation = engine.generate_each(group, params)
        for prompt, completion in zip(group, generation.completions, strict=True):
            chains.append(_chain(engine, prompt, completion))
        print(f"  ... {len(chains)}/{len(prompts)}", flush=True)
    return chains


def _chain(engine: LlamaCppEngine, prompt: list[ChatMessage],
           completion: Completion) -> dict[str, Any]:
    return {"tokens": [t.text for t in completion.tokens],
            "ended": completion.finish_reason != "length",
            "prompt_tokens": len(engine.prompt_tokens(prompt))}


def _row(problems: list[Problem], chains: list[dict[str, Any]], cap: int) -> dict[str, Any]:
    correct = cut = generated = 0
    answers: list[str | None] = []
    for problem, chain in zip(problems, chains, strict=True):
        tokens = chain["tokens"]
        was_cut = len(tokens) > cap or (len(tokens) == cap and not chain["ended"])
        answer = None if was_cut else extract_answer("".join(tokens[:cap])).answer
        answers.append(answer)
        cut += was_cut
        correct += bool(grade_answer(problem, answer))
        generated += min(len(tokens), cap)
    n = len(problems)
    low, high = wilson_interval(correct, n)
    return {"cap": cap, "correct": correct, "n": n, "accuracy": correct / n, "low": low,
            "high": high, "cut": cut / n, "mean_generated": generated / n,
            "mean_prompt": sum(c["prompt_tokens"] for c in chains) / n, "answers": answers}


def _print_row(name: str, row: dict[str, Any]) -> None:
    interval = f"{row['low']:.2f}-{row['high']:.2f}"
    print(f"{name:<9} {row['cap']:>5} {row['correct']:>4}/{row['n']:<3} {row['accuracy']:>9.2f} "
          f"{interval:>15} {100 * row['cut']:>5.0f}% {row['mean_generated']:>9.0f} "
          f"{row['mean_prompt']:>12.0f}", flush=True)


def _check_alone(engine: LlamaCppEngine, problems: list[Problem], params: SamplingParams,
                 cap: int) -> dict[str, int]:
    prompts = [solve_messages(p, "cot") for p in problems]
    batched = _greedy_chains(engine, prompts, params, len(prompts))
    alone = [_chain(engine, prompt, engine.generate(prompt, n=1, params=params).completions[0])
             for prompt in prompts]
    rows = [_row(problems, chains, cap) for chains in (batched, alone)]
    differ = sum(a != b for a, b in zip(rows[0]["answers"], rows[1]["answers"], strict=True))
    print(f"# one at a time against batched (lab format, first {len(problems)}): "
          f"{rows[1]['correct']} against {rows[0]['correct']} right; answers differ on {differ}")
    return {"problems": len(problems), "batched_correct": rows[0]["correct"],
            "alone_correct": rows[1]["correct"], "answers_differ": differ}


if __name__ == "__main__":
    main()
