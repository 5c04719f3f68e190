"""History: every run in the ledger; filter, reopen with the Playground's renderers, delete,
export."""

from __future__ import annotations

import io
from typing import Any

import streamlit as st

from lab.store.errors import LedgerError
from lab.store.ledger import Ledger
from lab.store.queries import RunSummary
from lab.ui import access, state
from lab.ui.entry import ensure_entrypoint
from lab.ui.handout import report_button
from lab.ui.render import Canvas, problem_box, render_trace

OPEN = "hist.open"
LIMIT = 1000
ANY = "any"
CORRECT = {ANY: None, "correct": True, "wrong": False}
WHOSE = {"Your runs": False, "Gallery": True, "All": None}  # the `shipped` filter

ensure_entrypoint()
st.title("History")


def whose(ledger: Ledger) -> bool | None:
    """Your runs, the gallery's (shipped with the lab, read-only) or all."""
    if not ledger.list_runs(shipped=True, limit=1):
        return None
    if "hist.whose" not in st.session_state:  # a new lab opens on the gallery
        mine = ledger.list_runs(shipped=False, limit=1)
        st.session_state["hist.whose"] = "Your runs" if mine else "Gallery"
    picked = st.radio("Runs", list(WHOSE), key="hist.whose", horizontal=True,
                      help="Gallery: measured runs shipped with the lab, read-only; never "
                           "mixed with yours.")
    return WHOSE.get(picked or "All")


def filters(runs: list[RunSummary]) -> dict[str, Any]:
    """Filter widgets, with the choices the stored runs have."""
    columns = st.columns(5)
    chosen: dict[str, Any] = {}
    for column, (field, label) in zip(columns, [("strategy", "Strategy"), ("model", "Model"),
                                                ("problem_set", "Problem set"),
                                                ("status", "Status")], strict=False):
        values = sorted({getattr(r, field) for r in runs if getattr(r, field)})
        picked = column.selectbox(label, [ANY, *values], key=f"hist.{field}")
        chosen[field] = None if picked == ANY else picked
    chosen["correct"] = CORRECT[columns[4].selectbox("Graded", list(CORRECT), key="hist.correct")]
    return chosen


def table(runs: list[RunSummary]) -> list[dict[str, object]]:
    mark = {True: "✓", False: "✗", None: ""}
    return [{
        "run": r.id, "created": r.created.strftime("%Y-%m-%d %H:%M"), "strategy": r.strategy,
        "model": r.model, "problem": f"{r.problem_set}/{r.problem_id}", "answer": r.answer,
        "correct": mark[r.correct], "tokens": r.generated_tokens, "time (s)": round(r.wall_s, 1),
        "status": r.status, "experiment": r.experiment or "",
    } for r in runs]


def label(run: RunSummary) -> str:
    grade = {True: " ✓", False: " ✗", None: ""}[run.correct]
    return (f"#{run.id} · {run.strategy} · {run.problem_set}/{run.problem_id} · "
            f"{run.answer or '—'}{grade} · {run.status}")


def pick_from_table(event: Any, runs: list[RunSummary]) -> None:
    """A newly selected table row opens that run (once, so the run list stays usable)."""
    rows = (event or {}).get("selection", {}).get("rows", [])
    picked = runs[rows[0]].id if rows and rows[0] < len(runs) else None
    if picked is not None and picked != st.session_state.get("hist.table-pick"):
        st.session_state[OPEN] = picked
    st.session_state["hist.table-pick"] = picked


def exports(ledger: Ledger, ids: list[int]) -> None:
    def jsonl() -> str:
        out = io.StringIO()
        ledger.export_jsonl(out, run_ids=ids)
        return out.getvalue()

    def csv() -> str:
        out = io.StringIO()
        ledger.export_csv(out, run_ids=ids)
        return out.getvalue()

    columns = st.columns([1, 1, 4])
    columns[0].download_button("Export JSONL", jsonl, file_name="runs.jsonl",
                               mime="application/jsonl", icon=":material/download:",
                               disabled=not ids, key="hist.jsonl")
    columns[1].download_button("Export CSV", csv, file_name="runs.csv", mime="text/csv",
                               icon=":material/download:", disabled=not ids, key="hist.csv")


def open_run(ledger: Ledger, run: RunSummary) -> None:
    run_id = run.id
    try:
        trace = ledger.load_trace(run_id)
    except LedgerError as exc:
        st.error(str(exc))
        return
    if run.shipped:
        st.caption(f":material/lock: In the gallery ({run.experiment}): shipped with the lab, "
                   "read-only.")
    elif access.may_delete(run_id):
        delete_button(ledger, run_id)
    else:
        st.caption(":material/lock: Only the session that made a run, or an admin, can "
                   "delete it.")
    problem_box(trace.problem)
    render_trace(trace, Canvas(f"hist{run_id}", color_tokens=run.shipped))
    report_button([trace], [run_id], f"hist{run_id}-report")


def delete_button(ledger: Ledger, run_id: int) -> None:
    with st.popover("Delete this run", icon=":material/delete:"):
        st.write(f"Delete run #{run_id} and its whole trace from the ledger?")
        if st.button("Delete", type="primary", key="hist.delete"):
            ledger.delete_run(run_id)
            st.session_state.pop(OPEN, None)
            st.toast(f"Deleted run #{run_id}")
            st.rerun()


def page(ledger: Ledger) -> None:
    shipped = whose(ledger)
    everything = ledger.list_runs(limit=LIMIT, shipped=shipped)
    if not everything:
        st.info("No runs yet. Run a strategy in the Playground, Compare or Scaling, or with "
                "`lab solve`; every run is stored here.")
        return
    runs = ledger.list_runs(limit=LIMIT, shipped=shipped, **filters(everything))
    st.caption(f"{len(runs)} of {len(everything)} runs. Select a row to open it.")
    height = min(300, 36 * (len(runs) + 1) + 2)  # no empty rows under a short list
    event = st.dataframe(table(runs), hide_index=True, width="stretch", height=height,
                         on_select="rerun", selection_mode="single-row", key="hist.table")
    pick_from_table(event, runs)
    exports(ledger, [r.id for r in runs])
    ids = [r.id for r in runs]
    if st.session_state.get(OPEN) not in ids:
        st.session_state[OPEN] = None
    by_id = {r.id: r for r in runs}
    run_id = st.selectbox("Open a run", [None, *ids], key=OPEN, placeholder="Choose a run",
                          format_func=lambda i: "Choose a run" if i is None else label(by_id[i]))
    if run_id is not None:
        st.divider()
        open_run(ledger, by_id[run_id])


ledger = state.ledger_or_error()
if ledger is not None:
    try:
        page(ledger)
    except LedgerError as exc:
        st.error(f"**The ledger cannot be read.** {exc}")
