"""A small gallery made on a scripted engine: the ladder's experiment (direct, cot and
self-consistency n=8 swept over n) on the first arith problems, written to a file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.evaluation import StrategySpec, SweepSpec, build_cells, run_sweep
from lab.evaluation.ladder import load_spec
from lab.store import Ledger
from lab.store.gallery import export_gallery
from lab.tasks.datasets import load_set
from lab.tasks.problem import Problem


def climber(problems: list[Problem]) -> Callable[[ScriptedRequest], str]:
    """Wrong when answering at once; step by step right on seeds 0 and 2 of every 3 (greedy
    is seed 0), so votes are mostly right and single sampled chains sometimes wrong."""
    golds = {p.question: p.gold for p in problems}

    def reply(request: ScriptedRequest) -> str:
        gold = next((g for q, g in golds.items() if q in request.prompt), "0")
        if "final answer, with no explanation" in request.prompt:
            return f"The answer is {gold}1."
        right = request.seed % 3 != 1
        return f"Let me add.\n\nThe answer is {gold if right else gold + '9'}."

    return reply


def make_gallery(tmp_path: Path, problems: int = 6,
                 experiments: tuple[str, ...] | None = None) -> Path:
    """The ladder's experiment (or each of `experiments`, the same runs under each name)."""
    spec = load_spec()
    assert spec is not None
    names = list(experiments or [spec.experiment])
    sweep = SweepSpec([StrategySpec("direct"), StrategySpec("cot"),
                       StrategySpec("self-consistency", {"early_stop": False})],
                      sweeps={"n": [1, 2, 4, 8]})
    chosen = load_set("arith", limit=problems)
    cells = build_cells(sweep, chosen)
    out = tmp_path / "gallery.jsonl.gz"
    with Ledger(f"sqlite:///{tmp_path / 'measured.db'}") as ledger:
        for name in names:
            run_sweep(cells, ScriptedEngine(climber(chosen), model_name="scripted"), ledger,
                      name)
        export_gallery(ledger, names, out)
    return out
