"""The noise floor of greedy decoding: the same greedy step-by-step chains decoded alone and in
batches with other problems (not a test: prints a table).

Greedy decoding of one sequence is deterministic on one machine, but decoding it in a batch
changes the order of the floating-point sums, so where two tokens are nearly tied the pick
can go either way and the chain continues differently. Each placement is one "rerun" of the
same configuration; the table says how far accuracy moves between them (lab.evaluation.noise)
on the first half of the problems and on all of them. The sampled strategies' noise floor is
`lab eval --repeat K`.

    python bench/noise.py --set gsm8k:../shared/data/gsm8k_train.jsonl --limit 100
    python bench/noise.py --set gsm8k:PATH --range 101-200 --batches 1,4,16 --out noise.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from lab.config import cpu_name
from lab.engine.base import ChatMessage, SamplingParams
from lab.engine.llamacpp import LlamaCppEngine
from lab.evaluation.noise import RERUN_COLUMNS, rerun_cells, reruns
from lab.evaluation.report import text_table
from lab.models import resolve_model_path
from lab.prompts import solve_messages
from lab.tasks.datasets import load_set
from lab.tasks.grading import grade_response
from lab.tasks.problem import Problem


def main() -> None:
    args = _arguments()
    problems = _problems(args)
    engine = LlamaCppEngine(resolve_model_path(args.model), n_threads=args.threads)
    prompts = [solve_messages(p, "cot", engine.prompt_format) for p in problems]
    params = SamplingParams(temperature=0, max_tokens=args.max_tokens)
    print(f"# {engine.model_name}; {len(problems)} problems of {args.set} "
          f"({args.range or f'1-{args.limit}'}); greedy step by step, {args.max_tokens}-token "
          f"cap, prompt format {engine.prompt_format}; {cpu_name()}")
    placements: dict[str, dict[str, Any]] = {}
    for batch in (int(b) for b in args.batches.split(",")):
        name = "alone" if batch == 1 else f"batch {batch}"
        started = time.perf_counter()
        placements[name] = _decode(engine, problems, prompts, params, batch)
        placements[name]["wall_s"] = round(time.perf_counter() - started, 1)
        outcomes = placements[name]["outcomes"]
        print(f"{name:>9}: {sum(outcomes.values()):.0f} of {len(outcomes)} right, "
              f"{placements[name]['cut']} cut, {placements[name]['wall_s']} s", flush=True)
    engine.close()
    results = {"model": engine.model_name, "set": args.set, "cpu": cpu_name(),
               "max_tokens": args.max_tokens, "placements": placements, "floors": {}}
    for size in sorted({len(problems) // 2, len(problems)}):
        ids = [p.id for p in problems[:size]]
        found = reruns({name: {i: data["outcomes"][i] for i in ids}
                        for name, data in placements.items()}, "cot", "greedy")
        print(f"\nthe first {size} problems:")
        print("\n".join(text_table(RERUN_COLUMNS, rerun_cells([found]))))
        changed = _changed_answers(placements, ids)
        print(f"answers that differ from 'alone': {changed}")
        results["floors"][str(size)] = {"accuracies": dict(zip(found.names, found.accuracies,
                                                               strict=True)),
                                        "sd": found.sd, "range": found.range,
                                        "moved": found.moved, "changed_answers": changed}
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


def _decode(engine: LlamaCppEngine, problems: list[Problem], prompts: list[list[ChatMessage]],
            params: SamplingParams, batch: int) -> dict[str, Any]:
    """Every problem's greedy chain, `batch` problems decoded together, graded as `cot`
    grades its chain (a chain cut at the cap keeps the answer it had)."""
    outcomes: dict[str, float] = {}
    answers: dict[str, str | None] = {}
    cut = 0
    for start in range(0, len(problems), batch):
        group = problems[start:start + batch]
        generation = engine.generate_each(prompts[start:start + batch], params)
        for problem, completion in zip(group, generation.completions, strict=True):
            graded = grade_response(problem, completion.text)
            outcomes[problem.id] = 1.0 if graded.correct else 0.0
            answers[problem.id] = graded.answer
            cut += completion.finish_reason == "length"
    return {"outcomes": outcomes, "answers": answers, "cut": cut}


def _changed_answers(placements: dict[str, dict[str, Any]], ids: list[str]) -> dict[str, int]:
    alone = placements.get("alone")
    if alone is None:
        return {}
    return {name: sum(data["answers"][i] != alone["answers"][i] for i in ids)
            for name, data in placements.items() if name != "alone"}


def _problems(args: argparse.Namespace) -> list[Problem]:
    if args.range:
        first, _, last = args.range.partition("-")
        return load_set(args.set, limit=int(last))[int(first) - 1:]
    return load_set(args.set, limit=args.limit)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="gsm8k:../shared/data/gsm8k_train.jsonl")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--range", default=None, metavar="FROM-TO")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--batches", default="1,8,16",
                        help="problems decoded together, one placement each (1: alone)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", help="write the placements and floors as JSON here")
    return parser.parse_args()


if __name__ == "__main__":
    main()
