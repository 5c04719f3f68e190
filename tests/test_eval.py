"""Sweeps on a scripted engine: cells, resuming, sample reuse, and a table that equals a
direct count over the stored runs."""

from __future__ import annotations

import threading

import pytest

from lab.engine.scripted import ScriptedEngine, ScriptedRequest
from lab.evaluation import (
    StrategySpec,
    SweepProgress,
    SweepSpec,
    build_cells,
    build_configs,
    maj_at_k,
    run_sweep,
    summarize,
    table_text,
)
from lab.evaluation.resample import chains_of
from lab.store.ledger import Ledger
from lab.strategies.params import ParamError
from lab.tasks.problem import AnswerKind, Problem
from lab.trace import TraceStatus

PROBLEMS = [Problem(id=f"p{i}", question=f"What is {i} + {i}?", gold=str(2 * i),
                    kind=AnswerKind.NUMBER, source="test") for i in range(1, 6)]


def answer(request: ScriptedRequest) -> str:
    """Right for some problems and seeds, wrong for others, always the same for the same
    (problem, seed)."""
    i = int(request.prompt.split("What is ")[1].split(" ")[0])
    good = (i + request.seed) % 3 != 0
    return f"{i} + {i} = {2 * i if good else 2 * i + 1}\n\nThe answer is " \
           f"{2 * i if good else 2 * i + 1}."


@pytest.fixture
def ledger() -> Ledger:
    with Ledger() as ledger:
        yield ledger


def sweep(ledger: Ledger, spec: SweepSpec, engine: ScriptedEngine | None = None,
          experiment: str = "exp", **options):  # -> SweepResult
    engine = engine or ScriptedEngine(answer)
    return run_sweep(build_cells(spec, PROBLEMS), engine, ledger, experiment, **options)


# -- cells ---------------------------------------------------------------------------------
def test_configs_apply_params_and_sweeps_to_the_strategies_that_have_them():
    spec = SweepSpec([StrategySpec("direct"), StrategySpec("cot", {"max_tokens": 99})],
                     sweeps={"temperature": ["0", "0.5"]}, params={"max_tokens": 50}, seed=3)
    configs = build_configs(spec)
    assert [(c.strategy, c.params["max_tokens"], c.params.get("temperature"), c.params["seed"])
            for c in configs] == [("direct", 50, None, 3), ("cot", 99, 0.0, 3),
                                  ("cot", 99, 0.5, 3)]
    assert len(build_cells(spec, PROBLEMS)) == 3 * len(PROBLEMS)


def test_reuse_runs_only_the_largest_n():
    spec = SweepSpec([StrategySpec("self-consistency"), StrategySpec("cot")],
                     sweeps={"n": ["1", "4", "2"]})
    [voting, cot] = build_configs(spec)
    assert voting.params["n"] == 4 and voting.ladder == (1, 2, 4)
    assert cot.ladder == ()
    no_reuse = build_configs(SweepSpec([StrategySpec("self-consistency")], {"n": [1, 2, 4]},
                                       reuse_samples=False))
    assert [c.params["n"] for c in no_reuse] == [1, 2, 4]
    # batches with early stopping draw a number of chains that depends on the votes
    batched = build_configs(SweepSpec([StrategySpec("self-consistency", {"batch": 1})],
                                      {"n": [1, 2]}))
    assert [c.params["n"] for c in batched] == [1, 2] and batched[0].ladder == ()


@pytest.mark.parametrize("spec,message", [
    (SweepSpec([StrategySpec("cot")], sweeps={"n": [1, 2]}), "--sweep n: none of cot has it"),
    (SweepSpec([StrategySpec("cot")], params={"width": 2}), "--param width: none of cot"),
    (SweepSpec([StrategySpec("self-consistency")], sweeps={"n": [0, 2]}), "n must be between"),
    (SweepSpec([StrategySpec("cot")], sweeps={"budget": [0]}), "budget must be between"),
])
def test_bad_specs_are_one_line_errors(spec: SweepSpec, message: str):
    with pytest.raises(ParamError, match=message):
        build_configs(spec)


# -- resuming ------------------------------------------------------------------------------
def test_an_interrupted_sweep_resumes_with_only_the_missing_cells(ledger: Ledger):
    spec = SweepSpec([StrategySpec("direct"), StrategySpec("cot")])
    cancel = threading.Event()

    def cancel_in_call_4(request: ScriptedRequest) -> str:
        if request.call == 3:  # the engine notices it at once: the run ends interrupted
            cancel.set()
        return answer(request)

    first_engine = ScriptedEngine(cancel_in_call_4)
    first = sweep(ledger, spec, first_engine, cancel=cancel)
    assert first.interrupted and len(first.run_ids) == 4
    statuses = [ledger.get_run(i).status for i in first.run_ids]
    assert statuses == ["complete"] * 3 + ["interrupted"]

    engine = ScriptedEngine(answer)
    second = sweep(ledger, spec, engine)
    assert not second.interrupted and second.stored == 3
    assert len(second.run_ids) == len(engine.calls) == 2 * len(PROBLEMS) - 3
    third_engine = ScriptedEngine(answer)
    third = sweep(ledger, spec, third_engine)
    assert third.run_ids == [] and third_engine.calls == [] and third.stored == 10


def test_progress_reports_problems_accuracy_and_time_left(ledger: Ledger):
    seen: list[SweepProgress] = []
    sweep(ledger, SweepSpec([StrategySpec("direct"), StrategySpec("cot")]),
          on_progress=lambda p: seen.append(SweepProgress(**vars(p))))
    last = seen[-1]
    assert (last.done, last.total, last.problems_done, last.problems) == (10, 10, 5, 5)
    assert last.graded == 10 and last.accuracy is not None and last.eta_s == 0.0
    assert last.tokens > 0 and last.tokens_per_s is not None
    assert [p.problems_done for p in seen[1:]] == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]


# -- the table -----------------------------------------------------------------------------
def test_the_table_equals_a_direct_count_over_the_stored_runs(ledger: Ledger):
    spec = SweepSpec([StrategySpec("direct"), StrategySpec("cot"),
                      StrategySpec("self-consistency")],
                     sweeps={"n": [2, 3]}, reuse_samples=False)
    sweep(ledger, spec)
    sweep(ledger, SweepSpec([StrategySpec("cot")]), experiment="other")  # not in the table
    rows = summarize(ledger, "exp")
    runs = ledger.list_runs(experiment="exp")
    assert len(rows) == 4 and all(not r.derived for r in rows)
    for row in rows:
        mine = [r for r in runs if r.strategy == row.strategy and r.params == row.params]
        assert row.problems == len(mine) == len(PROBLEMS)
        assert row.accuracy == sum(r.correct for r in mine) / len(mine)
        assert row.tokens == sum(r.generated_tokens for r in mine) / len(mine)
        assert row.wall_s == pytest.approx(sum(r.wall_s for r in mine))
        assert sorted(row.run_ids) == sorted(r.id for r in mine)
    assert [r.label for r in rows if r.strategy == "self-consistency"] == ["n=2", "n=3"]
    assert "self-consistency  n=3" in table_text(rows)


def test_the_table_uses_the_newest_complete_run_of_each_cell(ledger: Ledger):
    spec = SweepSpec([StrategySpec("cot")])
    sweep(ledger, spec)
    newest = ledger.list_runs(experiment="exp")[0]
    trace = ledger.load_trace(newest.id)
    trace.status = TraceStatus.FAILED  # a failed run is run again and left out
    ledger.finish_run(newest.id, trace)
    again = sweep(ledger, spec)
    assert len(again.run_ids) == 1
    [row] = summarize(ledger, "exp")
    assert row.problems == len(PROBLEMS) and newest.id not in row.run_ids


def test_reused_samples_give_derived_rows_from_the_stored_chains(ledger: Ledger):
    engine = ScriptedEngine(answer)
    sweep(ledger, SweepSpec([StrategySpec("self-consistency")], {"n": [1, 2, 4]}), engine)
    assert [len(call.seeds) for call in engine.calls] == [4] * len(PROBLEMS)
    rows = summarize(ledger, "exp")
    by_metric = {(r.metric, r.k): r for r in rows}
    assert set(by_metric) == {("accuracy", None), ("maj@k", 1), ("maj@k", 2), ("pass@k", 1),
                              ("pass@k", 2), ("pass@k", 4)}
    assert by_metric[("accuracy", None)].label == "n=4"
    runs = ledger.list_runs(experiment="exp")
    chains = [chains_of(ledger.load_trace(r.id)) for r in runs]
    two = by_metric[("maj@k", 2)]
    assert two.derived and two.label == "n=2" and two.params["n"] == 2
    assert two.accuracy == pytest.approx(sum(maj_at_k(c, 2).value for c in chains) / len(runs))
    assert two.tokens == pytest.approx(sum(r.generated_tokens for r in runs) / len(runs) / 2)
    one = by_metric[("maj@k", 1)]
    right_chains = sum(c.correct for cs in chains for c in cs)
    assert one.accuracy == pytest.approx(right_chains / (4 * len(runs)))
    assert one.spread is not None and one.spread > 0
    assert by_metric[("pass@k", 4)].accuracy >= by_metric[("accuracy", None)].accuracy
    assert "maj@2 *" in table_text(rows)


@pytest.mark.model
@pytest.mark.slow
def test_a_small_sweep_on_the_real_model(ledger: Ledger, smollm_engine):
    from lab.tasks.datasets import load_set

    spec = SweepSpec([StrategySpec("cot"), StrategySpec("self-consistency")],
                     sweeps={"n": [1, 2]}, params={"max_tokens": 24})
    cells = build_cells(spec, load_set("arith", limit=1))
    result = run_sweep(cells, smollm_engine, ledger, "real")
    assert len(result.run_ids) == 2 and result.failed == 0
    rows = summarize(ledger, "real")
    assert {(r.strategy, r.metric, r.k) for r in rows} == {
        ("cot", "accuracy", None), ("self-consistency", "accuracy", None),
        ("self-consistency", "maj@k", 1), ("self-consistency", "pass@k", 1),
        ("self-consistency", "pass@k", 2)}
    assert all(0 < r.tokens <= 48 and r.problems == 1 for r in rows)
    assert run_sweep(cells, smollm_engine, ledger, "real").run_ids == []


def test_the_sequential_curve_is_drawn_beside_the_parallel_one(ledger: Ledger):
    """Budget forcing swept over its minimum (thinking longer) and self-consistency over n
    (sampling wider) in one experiment: one line each, on the same token axis."""
    from lab.evaluation import scaling_figure

    spec = SweepSpec([StrategySpec("self-consistency", {"early_stop": False}),
                      StrategySpec("budget-forcing", {"max_tokens": 64})],
                     {"n": [1, 2], "min_tokens": [0, 16]})
    sweep(ledger, spec)
    lines = {t.name: t for t in scaling_figure(summarize(ledger, "exp")).data
             if t.mode and "lines" in t.mode and "pass@" not in (t.name or "")}
    assert set(lines) == {"self-consistency", "budget-forcing"}
    assert len(lines["budget-forcing"].x) == 2 and len(lines["self-consistency"].x) == 2
    assert lines["budget-forcing"].x[0] < lines["budget-forcing"].x[1]  # longer = more tokens
