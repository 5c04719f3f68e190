"""Download buttons for the report to hand out (lab.evaluation.handout): a run, a comparison,
an experiment. The file is made only when the button is pressed (deferred data), so a page
redraw costs nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import streamlit as st

from lab.trace import Trace

if TYPE_CHECKING:
    from lab.evaluation.report import Row

HELP = "One self-contained HTML file (Plotly inlined) that opens without a network."


def report_button(traces: Sequence[Trace], run_ids: Sequence[int | None], key: str,
                  label: str = "Download report") -> None:
    """A button that downloads the report of these finished runs (several: a comparison)."""
    from lab.evaluation.handout import report_name, runs_report

    chosen, ids = list(traces), list(run_ids)
    st.download_button(label, lambda: runs_report(chosen, ids), file_name=report_name(ids),
                       mime="text/html", icon=":material/download:", help=HELP, key=key,
                       on_click="ignore", disabled=not chosen)


def experiment_button(rows: Sequence[Row], title: str, key: str) -> None:
    """A button that downloads the scaling curve and table of these rows."""
    from lab.evaluation.handout import experiment_report

    shown = list(rows)
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in title) or "experiment"
    st.download_button("Download report", lambda: experiment_report(shown, title),
                       file_name=f"{name}.html", mime="text/html", icon=":material/download:",
                       help=HELP, key=key, on_click="ignore", disabled=not shown)
