"""The sidebar of every page: the model (known and local ones, load status, size, measured
speed, or the model server of LAB_ENGINE_URL), the judge model of the `judge` scorer, and
where the run ledger lives. Drawing it starts loading the chosen model in the run worker
(`state.preload`): at a session's first page view, and when the choice changes."""

from __future__ import annotations

import streamlit as st

from lab import config
from lab.models import LocalModel, list_models
from lab.ui import state

LOAD_POLL_S = 1.0  # while the model loads, how often the sidebar looks whether it is ready


def sidebar() -> None:
    with st.sidebar:
        model_section()
        judge_section()
        st.divider()
        ledger_section()


def model_section() -> None:
    st.markdown("#### Model")
    if state.overridden():
        st.caption(f"Using the engine `{state.selected_model_name()}` (set by the host).")
        return
    if config.engine_urls():
        _server_facts(state.selected_model_name())
        return
    rows = {row.name: row for row in list_models()}
    names = list(rows)
    state_default = config.default_model()
    if state_default not in names:
        names.insert(0, state_default)
    if state.MODEL_KEY not in st.session_state:
        st.session_state[state.MODEL_KEY] = state_default
    name = st.selectbox("Model", names, key=state.MODEL_KEY, label_visibility="collapsed",
                        format_func=lambda n: _label(rows.get(n), n))
    row = rows.get(name)
    if row is None or not row.present:
        st.warning(f"{name} is not downloaded.")
        if row is not None:
            state.pull_button(name, key="sidebar-pull")
        return
    state.preload(name)
    _model_facts(row)


def _label(row: LocalModel | None, name: str) -> str:
    if row is None:
        return f"{name} (unknown)"
    return name if row.present else f"{name} (not downloaded)"


def _model_facts(row: LocalModel) -> None:
    facts = [f"{row.size / 1e6:,.0f} MB" if row.size else "size unknown"]
    loaded = state.loaded_model(row.name)
    loading = loaded is None and state.model_loading(row.name)
    if loaded is not None:
        facts.append(f"model ready: loaded in {loaded.load_s:.1f} s")
        if loaded.tokens_per_s:
            facts.append(f"{loaded.tokens_per_s:.0f} tokens/s measured here")
    elif not loading:
        facts.append("not loaded yet (loads on the first run)")
    st.caption(" · ".join(facts))
    if loading:
        _loading_note(row.name, "Loading the model…")
    if row.known is not None:
        st.caption(f"{row.known.title}. {row.known.notes}")
    if loaded is None and not loading and st.button("Load now", key="sidebar-load",
                                                    icon=":material/memory:"):
        with st.spinner(f"Loading {row.name}…"):
            state.load_now(row.name)
        st.rerun()
    if state.model_busy():
        st.caption(":material/hourglass_top: The model is busy with a run.")


def _server_facts(url: str) -> None:
    """The model server the app runs against (`lab ui --engine-url`)."""
    st.caption(f"Runs go to the model server at `{url}` (LAB_ENGINE_URL).")
    state.preload(url)
    loaded = state.loaded_model(url)
    if loaded is None and state.model_loading(url):
        _loading_note(url, "Connecting to the server…")
    elif loaded is None:
        st.caption("not connected yet (connects on the first run)")
    else:
        speed = f" · {loaded.tokens_per_s:.0f} tokens/s measured" if loaded.tokens_per_s else ""
        st.caption(f"connected in {loaded.load_s:.1f} s{speed}")
    st.caption("A server reports no entropy or self-certainty, returns whole completions "
               "(a chain stopped early is cut after it is generated) and may not continue a "
               "prefix; each run's trace notes what it lacked.")
    if state.model_busy():
        st.caption(":material/hourglass_top: The model is busy with a run.")


def _loading_note(name: str, text: str) -> None:
    """A small note while `name` loads in the worker; it looks again every LOAD_POLL_S and,
    once the load has ended, redraws the page once (the sidebar then says it is ready)."""

    @st.fragment(run_every=LOAD_POLL_S)
    def note() -> None:
        if not state.model_loading(name):
            st.rerun()
        st.caption(f":material/hourglass_top: {text}")

    note()


NO_JUDGE, JUDGE_URL = "no judge model", "a model server…"


def judge_section() -> None:
    """The second model of the `judge` scorer: a local model or a server's address."""
    if state.overridden():
        return
    with st.expander("Judge model", expanded=bool(st.session_state.get(state.JUDGE_KEY))):
        present = [row.name for row in list_models() if row.present]
        choices = [NO_JUDGE, *present, *config.engine_urls(), JUDGE_URL]
        current = st.session_state.get(state.JUDGE_KEY)
        index = choices.index(current) if current in choices else (
            len(choices) - 1 if current else 0)
        choice = st.selectbox("Judge", choices, index=index, key="sidebar-judge-choice",
                              label_visibility="collapsed",
                              help="The model the judge scorer asks to grade each candidate.")
        if choice == JUDGE_URL:
            url = st.text_input("Server address", key="sidebar-judge-url",
                                placeholder="http://127.0.0.1:8080")
            st.session_state[state.JUDGE_KEY] = url.strip() or None
        else:
            st.session_state[state.JUDGE_KEY] = None if choice == NO_JUDGE else choice
        st.caption("Used by runs whose scorer is `judge`; loaded in the worker on the first "
                   "such run.")


def ledger_section() -> None:
    st.markdown("#### Ledger")
    # opened with the page, not with the first Run: its first opening imports the gallery
    state.ledger_or_error()
    st.caption("Every run is stored in:")
    st.code(config.database_url(), language=None, wrap_lines=True)
