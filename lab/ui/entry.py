"""Keeping every page under app.py's navigation."""

from __future__ import annotations

import streamlit as st
from streamlit import config as streamlit_config
from streamlit.runtime.pages_manager import PagesManager


def ensure_entrypoint() -> None:
    """Rerun through app.py when Streamlit ran this page file on its own.

    Because a pages/ folder sits beside app.py, a fresh server whose first visitor opens a
    page's URL (say /history) runs that file in Streamlit's old pages-directory mode: no
    st.navigation, no sidebar, no page config. Streamlit leaves that mode once app.py calls
    st.navigation, so end it here and rerun; the rerun goes through app.py to this page.
    AppTest resets that mode before every run (and a rerun would drop its widget clicks),
    so tests see the page on its own, as before."""
    if streamlit_config.get_option("global.appTest"):  # read at call time: AppTest patches it
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
