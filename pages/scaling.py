"""Scaling: sweep strategies over a ladder of budgets on a sample of a set, in the background,
and draw accuracy against generated (or all decoded) tokens from the ledger."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lab.evaluation import scaling_figure, summarize
from lab.evaluation.noise import RERUN_COLUMNS, rerun_cells, seed_reruns
from lab.evaluation.paired import (
    PAIRED_COLUMNS,
    against_baseline,
    default_baseline,
    paired_cells,
)
from lab.evaluation.report import Row, problems_named, table_cells
from lab.evaluation.sweep import BUDGET
from lab.store.errors import LedgerError
from lab.store.ledger import Ledger
from lab.strategies.params import CHAIN_TOKENS, ParamError
from lab.strategies.registry import list_strategies
from lab.tasks.problem import Problem
from lab.tasks.slices import SPAN_HELP, parse_span, take_span
from lab.ui import scaling, state
from lab.ui.controls import default
from lab.ui.entry import ensure_entrypoint
from lab.ui.handout import experiment_button, report_button
from lab.ui.problems import ProblemSetError, builtin_sets, load_problems
from lab.ui.render import Canvas, problem_box, render_trace
from lab.worker.client import WorkerSweep

X_CHOICES = {"generated": "generated tokens", "decoded": "all decoded tokens (prompts too)"}

ensure_entrypoint()
st.title("Scaling")
st.caption("How does accuracy grow with compute? Sweep strategies over a ladder of budgets on "
           "a sample of problems. Sweeps run in the background, and a stopped one resumes "
           "where it left off.")


def ladder_knobs() -> list[str]:
    """What a sweep can grow: each strategy's sweep knob, then the token budget."""
    knobs = [s.sweep_knob for s in list_strategies() if s.sweep_knob]
    return [*dict.fromkeys(knobs), BUDGET]


def parse_ladder(text: str) -> list[int]:
    values = sorted({int(part) for part in text.replace(",", " ").split()})
    if not values or values[0] < 1:
        raise ValueError("the ladder needs whole numbers of at least 1, e.g. 1, 2, 4, 8")
    return values


@dataclass
class Settings:
    experiment: str
    problems: list[Problem]
    strategies: list[str]
    knob: str
    ladder: list[int]
    max_tokens: int


def setup() -> Settings | None:
    """The sweep's settings, or None (with the reason shown) when they are not usable."""
    columns = st.columns(3, gap="large")
    with columns[0]:
        sets = list(builtin_sets())
        default("sc.set", sets[0] if sets else "")
        spec = st.selectbox("Problem set", sets, key="sc.set", accept_new_options=True,
                            help="A built-in set, or type KIND:PATH (e.g. gsm8k:/data/test.jsonl)")
        default("sc.span", "")
        span_text = st.text_input("Slice", key="sc.span", placeholder="all",
                                  help=f"Draw the sample from these problems only: {SPAN_HELP}; "
                                       "empty: the whole set. Choose settings on one slice, "
                                       "report on another.")
        default("sc.count", 4)
        count = st.number_input("Problems in the sample", 1, 500, key="sc.count")
        default("sc.seed", 0)
        seed = st.number_input("Sample seed", 0, 2**31 - 1, key="sc.seed")
    with columns[1]:
        default("sc.strategies", ["cot", "self-consistency"])
        strategies = st.multiselect("Strategies", [s.name for s in list_strategies()],
                                    key="sc.strategies")
        default("sc.knob", "n")
        knob = st.selectbox("Ladder of", ladder_knobs(), key="sc.knob",
                            help="The knob that grows; strategies without it run once.")
        default("sc.ladder", "1, 2, 4, 8")
        ladder_text = st.text_input("Values", key="sc.ladder")
    with columns[2]:
        default("sc.max_tokens", CHAIN_TOKENS)
        max_tokens = st.number_input("Tokens per chain", 16, 4096, step=16, key="sc.max_tokens")
        default("sc.experiment", f"scaling-{spec}-{state.selected_model_name()}")
        experiment = st.text_input("Experiment", key="sc.experiment",
                                   help="Runs are stored under this name; running the same "
                                        "experiment again resumes it.")
    try:
        pool = load_problems(spec or "", limit=None)
        if span_text.strip():
            pool = take_span(pool, parse_span(span_text))
        problems = scaling.sample(pool, int(count), int(seed))
        ladder = parse_ladder(ladder_text)
    except (ProblemSetError, ValueError) as exc:
        st.error(str(exc))
        return None
    if not strategies or not experiment.strip():
        st.caption("Choose at least one strategy and name the experiment.")
        return None
    return Settings(experiment.strip(), problems, strategies, knob, ladder, int(max_tokens))


def launch(ledger: Ledger) -> None:
    settings = setup()
    job = scaling.jobs().get(settings.experiment) if settings else None
    busy = job is not None and job.running
    clicked = st.button("Run sweep (resumes a stopped one)", type="primary", key="sc.run",
                        icon=":material/play_arrow:", disabled=settings is None or busy)
    if not clicked or settings is None:
        return
    try:
        cells = scaling.sweep_cells(settings.problems, settings.strategies, settings.knob,
                                    settings.ladder, settings.max_tokens)
    except ParamError as exc:
        st.error(str(exc))
        return
    model = state.current_model()
    if model is not None:  # an engine served from this process (tests, demos)
        scaling.start(settings.experiment, cells, model.engine, ledger)
    else:
        sweep = state.start_sweep(settings.experiment, cells)
        if sweep is None:
            return
        scaling.jobs()[settings.experiment] = sweep
    st.session_state["sc.watch"] = settings.experiment
    st.rerun()  # redraw with the button disabled and the progress bar


def watch() -> None:
    """The watched sweep's progress, redrawn every second while it runs."""
    experiment = st.session_state.get("sc.watch")
    job = scaling.jobs().get(experiment) if experiment else None
    if job is not None:
        st.fragment(show_job, run_every=1.0 if job.running else None)(experiment, job)


def show_job(experiment: str, job: scaling.SweepJob | WorkerSweep) -> None:
    fraction, text = scaling.progress_text(job.progress, job.running)
    if job.running:
        st.progress(fraction, text=f"**{experiment}**: {text}")
        if st.button("Stop the sweep", key="sc.stop", icon=":material/stop_circle:",
                     disabled=job.cancel.is_set()):
            job.cancel.set()
        return
    if job.error:
        st.error(f"**The sweep failed.** {job.error}")
    elif job.result is not None and job.result.interrupted:
        st.warning(f"**{experiment}** stopped after {text}. Run it again to resume.")
    else:
        st.success(f"**{experiment}** is done: {text}.")
    if st.session_state.get("sc.drawn") != (experiment, job.progress and job.progress.done):
        st.session_state["sc.drawn"] = (experiment, job.progress and job.progress.done)
        st.rerun()  # redraw the figure with the new runs


def figure(ledger: Ledger) -> None:
    shipped = ledger.experiments()
    with_runs = {r.experiment for r in ledger.list_runs() if r.experiment}
    experiments = [name for name in shipped if name in with_runs]
    st.markdown("##### Accuracy against compute")
    if not experiments:
        st.info("No experiments in the ledger yet: run a sweep here or with `lab eval`.")
        return
    default("sc.show", default_shown(experiments, shipped, st.session_state.get("sc.watch")))
    shown = st.multiselect("Experiments", experiments, key="sc.show",
                           format_func=lambda name: f"{name} (gallery)" if shipped[name] else name,
                           help="From this page, earlier sessions or `lab eval`; (gallery): "
                                "measured experiments shipped with the lab, read-only.")
    if any(shipped.get(name) for name in shown):
        st.caption(gallery_caption())
    rows = [row for name in shown for row in summarize(ledger, name)]
    if not rows:
        st.caption("No complete runs to draw yet.")
        return
    default("sc.x", "generated")
    x_axis = st.radio("Compute on the x axis", ["generated", "decoded"], key="sc.x",
                      horizontal=True, format_func=X_CHOICES.get,
                      help="Generated tokens of every model call (verifier and judge "
                           "included), or everything the model decoded: prompts too.")
    event = st.plotly_chart(scaling_figure(rows, x=x_axis), key="sc.figure", on_select="rerun",
                            selection_mode="points")
    st.caption("One line per strategy; error bars are 95% Wilson intervals; dashed lines are "
               "pass@k (an oracle that knows the answer); * rows are derived from the chains "
               "of the largest n. Click a point to open the runs behind it.")
    header, body = table_cells(rows)
    st.dataframe([dict(zip(header, cells, strict=True)) for cells in body], hide_index=True)
    st.caption("Ran on " + "; ".join(problems_named(rows)) + ".")
    experiment_button(rows, " + ".join(shown), "sc.report")
    paired_table(rows)
    rerun_table(rows)
    point_runs(ledger, rows, clicked_row(event, len(rows)))


def rerun_table(rows: list[Row]) -> None:
    """The noise floor: configurations of the experiment run with several seeds."""
    found = seed_reruns(rows)
    if not found:
        return
    st.markdown("##### The same configuration rerun: the noise floor")
    st.dataframe([dict(zip(RERUN_COLUMNS, cells, strict=True)) for cells in rerun_cells(found)],
                 hide_index=True)
    st.caption("Each configuration run again with other seeds on the same problems (`lab eval "
               "--repeat K`): a difference between strategies inside its range is not one "
               "these problems show.")


def paired_table(rows: list[Row]) -> None:
    """Every point against a chosen baseline, on the problems both ran."""
    st.markdown("##### Against a baseline, problem by problem")
    choices = [i for i, r in enumerate(rows) if r.metric != "pass@k"]
    greedy = default_baseline(rows)
    if st.session_state.get("sc.baseline") not in [None, *choices]:
        st.session_state.pop("sc.baseline")
    default("sc.baseline", next((i for i in choices if rows[i] is greedy), None))
    chosen = st.selectbox("Baseline", [None, *choices], key="sc.baseline",
                          format_func=lambda i: "None" if i is None else point_label(rows[i]),
                          help="Each point minus the baseline on the problems both ran, with "
                               "a 95% interval of the per-problem differences.")
    if chosen is None:
        return
    pairs = against_baseline(rows, rows[chosen])
    if not pairs:
        st.caption("No other point of the same set and model to compare with.")
        return
    st.dataframe([dict(zip(PAIRED_COLUMNS, cells, strict=True))
                  for cells in paired_cells(pairs)], hide_index=True)
    unshown = [found for _, found in pairs if not found.shown]
    st.caption("A paired interval counts each problem once for both sides, so it is narrower "
               "than two separate intervals. " +
               (f"{len(unshown)} of {len(pairs)} intervals span 0: no difference shown on "
                f"these {unshown[0].problems} problems. " if unshown else "") +
               "Derived (*) rows compare expected correctness per problem.")


def default_shown(experiments: list[str], shipped: dict[str, bool],
                  watched: str | None) -> list[str]:
    """The watched sweep, else the user's newest experiment, else the gallery's first (its
    main sweep; the others, e.g. the demonstrations' runs, are a click away)."""
    if watched in experiments:
        return [watched]
    own = [name for name in experiments if not shipped[name]]
    return own[-1:] if own else [name for name in experiments if shipped[name]][:1]


def gallery_caption() -> str:
    imported = state.gallery_import().get("result")
    when = (f" (imported on this lab's first start in {imported.seconds:.1f} s)"
            if imported is not None and imported.imported else "")
    return ("(gallery): measured with the lab's default model and shipped with it" + when +
            "; read-only, apart from your runs. `lab eval` with the same settings measures "
            "them again on your machine.")


def clicked_row(event: object, count: int) -> int | None:
    """The table row of the point clicked in the figure (its customdata), if any."""
    selection = getattr(event, "selection", None) or {}
    points = selection.get("points", []) if isinstance(selection, dict) else []
    for point in points:
        data = point.get("customdata")
        index = data[0] if isinstance(data, list) and data else data
        if isinstance(index, int | float) and 0 <= int(index) < count:
            return int(index)
    return None


def point_runs(ledger: Ledger, rows: list[Row], clicked: int | None) -> None:
    """The runs behind one point of the figure, each openable with the Playground's drawing."""
    st.markdown("##### The runs behind a point")
    if clicked is not None and clicked != st.session_state.get("sc.clicked"):
        st.session_state["sc.point"] = clicked  # a new click picks the point
    st.session_state["sc.clicked"] = clicked
    if st.session_state.get("sc.point") not in range(len(rows)):
        st.session_state["sc.point"] = None
    index = st.selectbox("Point", [None, *range(len(rows))], key="sc.point",
                         format_func=lambda i: "Click a point, or choose one" if i is None
                         else point_label(rows[i]))
    if index is None:
        return
    row = rows[index]
    runs = ledger.list_runs(run_ids=row.run_ids)[::-1]
    if row.derived:
        st.caption(f"Not run as such: estimated from every {row.k}-chain subset of the chains "
                   f"of these {len(runs)} runs.")
    mark = {True: "✓", False: "✗", None: ""}
    st.dataframe([{"run": r.id, "problem": r.problem_id, "answer": r.answer, "gold": r.gold,
                   "correct": mark[r.correct], "tokens": r.generated_tokens}
                  for r in runs], hide_index=True, height=min(300, 36 * (len(runs) + 1) + 2))
    by_id = {r.id: r for r in runs}
    run_id = st.selectbox("Open a run", [None, *by_id], key=f"sc.run.{index}",
                          format_func=lambda i: "Choose a run" if i is None else
                          f"#{i} · {by_id[i].problem_id} · {by_id[i].answer or '—'} "
                          f"{mark[by_id[i].correct]}")
    if run_id is not None:
        trace = ledger.load_trace(run_id)
        problem_box(trace.problem)
        render_trace(trace, Canvas(f"sc.trace{run_id}", color_tokens=True))
        report_button([trace], [run_id], f"sc.trace{run_id}-report")


def point_label(row: Row) -> str:
    metric = row.metric_label
    accuracy = "—" if row.accuracy is None else f"{row.accuracy:.2f}"
    setting = f" {row.label}" if row.label else ""
    return (f"{row.problem_set} · {row.strategy}{setting} · {metric} {accuracy} · "
            f"{row.tokens:.0f} tokens")


ledger = state.ledger_or_error()
if ledger is not None:
    try:
        launch(ledger)
        watch()
        st.divider()
        figure(ledger)
    except LedgerError as exc:
        st.error(f"**The ledger cannot be read.** {exc}")
