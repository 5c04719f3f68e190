"""The divergence view in the app: where a finished run's chains part ways, as a collapsible
prefix tree (lab.divergence builds it, lab.trace_html draws it). Never drawn live: the
live view stays cheap (lab/ui/live.py)."""

from __future__ import annotations

import streamlit as st

from lab.divergence import build_trie, divergent_chains
from lab.trace import Trace, TraceStatus
from lab.trace_html import divergence_html, divergence_summary
from lab.ui.view import View

TITLE = "Where the chains part ways"


def divergence_view(trace: Trace, view: View) -> None:
    """An expander with the chains' prefix tree, for a finished run with two or more chains."""
    if view.live or trace.status == TraceStatus.RUNNING or len(divergent_chains(trace)) < 2:
        return
    with st.expander(TITLE, icon=":material/account_tree:", key=f"{view.key}-divergence"):
        trie = build_trie(trace)
        st.caption(divergence_summary(trie))
        st.html(divergence_html(trie))
