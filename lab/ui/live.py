"""Showing runs while they happen: a fragment redraws the growing traces about once a second
(REDRAW_S; bench/ui.py measured app/cli 1.17-1.21 at 1.25 s, 1.23-1.26 at 1.0 s), with a
Stop button that cancels the batch. The redraw is cheap: no grading and no token colouring
(both wait for the final view), no charts, and a chain panel whose text did not change
reuses its HTML (lab.views.chains.live_chains_html). Between redraws the fragment waits for
the run's end and for its first tokens, so both are drawn as they happen (`await_change`)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

import streamlit as st
from streamlit.errors import StreamlitAPIException

from lab.trace import NodeKind
from lab.ui.runner import LiveRun, RunBatch
from lab.worker.client import WorkerBatch, WorkerRun

log = logging.getLogger(__name__)
REDRAW_S = 1.25
POLL_S = 0.05  # how often a live redraw looks for the end or the first tokens
WAITING = ("Waiting for the model: another session's run is using it. "
           "This run starts as soon as it finishes.")

Batch = RunBatch | WorkerBatch
Draw = Callable[[Batch, bool], None]  # (batch, live)
LOADING = "Loading the model: the first run of a model starts once it is in memory."


def show_batch(batch: Batch | None, key: str, draw: Draw) -> None:
    """Draw a batch: live in a self-refreshing fragment while it runs, then once for good
    (a full rerun, so the final view can have click handlers)."""
    if batch is None:
        return
    if batch.done:
        draw(batch, False)
        return

    @st.fragment(run_every=REDRAW_S)
    def live() -> None:
        if batch.done:
            st.rerun()  # the whole page, to draw the final view
        stopping = batch.cancel.is_set()
        if st.button("Stopping…" if stopping else "Stop", key=f"{key}-stop", type="primary",
                     icon=":material/stop_circle:", disabled=stopping):
            batch.stop()
            st.toast("Stopping the run…")
        if about_to_generate(batch) and await_change(batch, False, REDRAW_S) == "done":
            st.rerun()
        shown = generated(batch)
        try:
            draw(batch, True)
        except Exception:  # a frame caught the trace mid-change: the next one redraws it
            log.exception("live redraw failed")
        awaited = await_change(batch, shown > 0, REDRAW_S)
        if awaited == "done":
            st.rerun()
        elif awaited == "first tokens":
            # in the page's full run a fragment-scoped rerun is refused: the timer redraws
            with contextlib.suppress(StreamlitAPIException):
                st.rerun(scope="fragment")

    live()


def await_change(batch: Batch, tokens_shown: bool, timeout: float) -> str | None:
    """Wait up to `timeout` for what should be drawn at once: the batch's end ("done"), or its
    first generated tokens when none are shown yet ("first tokens"). Waiting here rather than
    for the next timed redraw puts the final view and the first tokens on screen as they
    happen; the timer's reruns queue behind this one (an automatic fragment rerun never
    preempts a running one), and so does a Stop click."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if batch.wait(min(left, POLL_S)) and batch.done:
            return "done"
        if not tokens_shown and generated(batch) > 0:
            return "first tokens"
    return None


def about_to_generate(batch: Batch) -> bool:
    """Whether the batch has no token yet and none of its runs waits for another session's
    run or for the model: then its first tokens are near, and a redraw waits for them before
    drawing (the page's full run cannot rerun its fragment alone when they come, so without
    this they would wait for the timer's redraw, up to REDRAW_S later)."""
    return (generated(batch) == 0
            and not any(run.phase in ("waiting", "loading") for run in batch.runs))


def generated(batch: Batch) -> int:
    """Tokens the batch's runs have generated so far (0 while a trace is being changed)."""
    try:
        return sum(len(node.tokens) for run in batch.runs if run.trace is not None
                   for node in run.trace.nodes if node.kind != NodeKind.PROMPT)
    except RuntimeError:  # the worker's thread changed the trace under us
        return 0


def run_notes(run: LiveRun | WorkerRun) -> None:
    """What to say about a run besides its trace: waiting, not started, not saved."""
    if run.phase == "waiting":
        st.info(WAITING, icon=":material/hourglass_top:")
    elif run.phase == "loading":
        st.info(LOADING, icon=":material/memory:")
    elif run.phase == "queued":
        st.caption("Queued: starts after the runs before it.")
    if run.error:
        st.error(f"**The run could not be done.** {run.error}")
    if run.save_error:
        st.warning(f"The run could not be saved to the ledger: {run.save_error}")
    elif run.done and run.run_id is not None:
        st.caption(f"Stored in the ledger as run #{run.run_id}.")


def elapsed(run: LiveRun | WorkerRun) -> float | None:
    return time.monotonic() - run.started if run.started is not None else None
