"""The lab in the browser: `streamlit run app.py` (or `lab ui`)."""

from __future__ import annotations

import streamlit as st

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

page = st.navigation(PAGES)
sidebar()
page.run()
