"""The lab in the browser: `streamlit run app.py` (or `lab ui`)."""

from __future__ import annotations

import streamlit as st

from lab.ui import access
from lab.ui.sidebar import sidebar

st.set_page_config(page_title="Inference Scaling Lab", page_icon=":material/neurology:",
                   layout="wide")

PAGES = [
    st.Page("pages/playground.py", title="Playground", icon=":material/science:", default=True),
    st.Page("pages/compare.py", title="Compare", icon=":material/view_column:"),
    st.Page("pages/scaling.py", title="Scaling", icon=":material/show_chart:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
]

# Beyond loopback the lab asks for its token (lab.ui.access) before it draws anything or
# touches the model or the ledger. The hidden navigation only ends Streamlit's pages-directory
# mode (no links to the pages); no page runs.
if not access.gate():
    st.navigation(PAGES, position="hidden")
    st.stop()

page = st.navigation(PAGES)
sidebar()
page.run()
