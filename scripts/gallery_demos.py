"""Store Learn's demonstrations as runs for the gallery: for each section of data/demos.json
(written by scripts/find_demos.py), its baseline and its strategy once each on the problem
and seed it names (the first where the effect held, else the first tried), in one experiment.

    python scripts/gallery_demos.py                 # experiment learn-demos, default model
    lab gallery export ladder-gsm8k50 learn-demos   # then into data/gallery.jsonl.gz

Cells already stored in the experiment are skipped, so a stopped run resumes.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from lab import config
from lab.engine.llamacpp import LlamaCppEngine
from lab.execution import RunRequest, execute
from lab.models import resolve_model_path
from lab.store.ledger import Ledger
from lab.tasks.datasets import load_set
from lab.tasks.problem import Problem
from lab.ui.presets import DEMOS, Measured, load_demos


def demo_requests(measured: Measured, experiment: str) -> list[RunRequest]:
    """The baseline and the strategy on the section's problem, at the seed it held on."""
    entry = measured.entry
    shown: dict[str, Any] | None = measured.found or next(iter(measured.tried), None)
    if shown is None or "baseline" not in entry:
        return []
    problem = find_problem(str(entry.get("problem_set", "arith")), str(shown["problem"]))
    params = dict(entry.get("params") or {})
    if shown.get("seed") is not None:
        params["seed"] = shown["seed"]
    baseline = entry["baseline"]
    meta = {"demo": measured.strategy}
    return [RunRequest(baseline["strategy"], problem, dict(baseline.get("params") or {}),
                       experiment=experiment, meta=meta),
            RunRequest(measured.strategy, problem, params, int(entry.get("budget") or 0) or None,
                       experiment=experiment, meta=meta)]


def find_problem(problem_set: str, problem_id: str) -> Problem:
    problems = {p.id: p for p in load_set(problem_set)}
    if problem_id not in problems:
        raise SystemExit(f"{problem_set} has no problem {problem_id}")
    return problems[problem_id]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="learn-demos")
    parser.add_argument("--model", default=config.default_model())
    args = parser.parse_args()
    demos = load_demos(args.model, DEMOS)
    if not demos:
        raise SystemExit(f"{DEMOS} has no demonstrations for {args.model}")
    requests = [r for m in demos.values() for r in demo_requests(m, args.experiment)]
    engine = LlamaCppEngine(resolve_model_path(args.model))
    with Ledger() as ledger:
        for request in requests:
            stored = ledger.find_run(strategy=request.strategy, params=dict(request.params),
                                     problem_set=request.problem.source,
                                     problem_id=request.problem.id, model=engine.model_name,
                                     seed=int(request.params.get("seed", 0)),
                                     budget=request.budget, experiment=args.experiment)
            label = f"{request.strategy} {dict(request.params)} on {request.problem.id}"
            if stored is not None:
                print(f"stored already: {label}")
                continue
            started = time.monotonic()
            outcome = execute(request, engine, ledger)
            print(f"{label}: {outcome.trace.final_answer} ({outcome.trace.correct}), "
                  f"{outcome.trace.compute.generated_tokens} tokens, "
                  f"{time.monotonic() - started:.0f} s")
    engine.close()


if __name__ == "__main__":
    main()
