"""What every session of this process shares: the loaded model and the run ledger.

The model is loaded once per process (`st.cache_resource`) and shared by all sessions; its
engine serialises requests, and `model_slot()` queues whole runs so a session whose run waits
can say "waiting for the model". Errors a user can fix are shown in the page, not raised.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

import streamlit as st

from lab import config
from lab.engine.base import Engine, EngineError, SamplingParams
from lab.models import REGISTRY, ModelError, pull, resolve_model_path
from lab.store.errors import LedgerError
from lab.store.ledger import Ledger

MODEL_KEY = "model"  # the sidebar's model choice in st.session_state
LEDGER_BUSY_S = 10.0  # how long a ledger write waits for a lock before the page says so
SPEED_PROMPT = "Count from one to twenty in words: one, two, three,"


@dataclass(eq=False)
class LoadedModel:
    name: str
    engine: Engine
    load_s: float = 0.0
    tokens_per_s: float | None = None  # measured on this machine right after loading


_override: LoadedModel | None = None


@st.cache_resource(show_spinner=False)
def _loaded() -> weakref.WeakValueDictionary[str, LoadedModel]:
    """Models alive in this process (evicted from the cache and unused: gone from here too).
    Kept by Streamlit rather than in a module global, which a module reload would reset."""
    return weakref.WeakValueDictionary()


def use_engine(engine: Engine | None) -> None:
    """Serve `engine` to every session instead of loading a model (tests, demos)."""
    global _override
    _override = None if engine is None else LoadedModel(engine.model_name, engine)


def overridden() -> bool:
    """True when a host set the engine with use_engine (no model choice then)."""
    return _override is not None


def selected_model_name() -> str:
    if _override is not None:
        return _override.name
    return str(st.session_state.get(MODEL_KEY) or config.default_model())


def loaded_model(name: str) -> LoadedModel | None:
    """The model if this process has it loaded already (no loading)."""
    if _override is not None:
        return _override
    return _loaded().get(name)


def measure_speed(engine: Engine) -> float | None:
    """Generated tokens per second on a short greedy completion."""
    generation = engine.generate(SPEED_PROMPT, 1, SamplingParams(temperature=0.0, max_tokens=24))
    if generation.generate_s <= 0 or not generation.completion_tokens:
        return None
    return generation.completion_tokens / generation.generate_s


@st.cache_resource(max_entries=2, show_spinner=False)
def _load(name: str) -> LoadedModel:
    from lab.engine.llamacpp import LlamaCppEngine  # late: llama.cpp loads only when needed

    path = resolve_model_path(name)
    start = time.perf_counter()
    engine = LlamaCppEngine(path)
    model = LoadedModel(name, engine, time.perf_counter() - start, measure_speed(engine))
    _loaded()[name] = model
    return model


def load_model(name: str) -> LoadedModel:
    """The shared model, loaded on first use; raises ModelError or EngineError."""
    if _override is not None:
        return _override
    with st.spinner(f"Loading {name}…"):
        return _load(name)


def current_model() -> LoadedModel | None:
    """The sidebar's model, or None after showing in the page why it cannot be used."""
    name = selected_model_name()
    try:
        return load_model(name)
    except ModelError as exc:
        st.error(f"**The model {name} cannot be used.** {exc}")
        if name in REGISTRY and resolve_missing(name):
            pull_button(name)
    except EngineError as exc:
        st.error(f"**The model {name} failed to load.** {exc}")
    return None


def resolve_missing(name: str) -> bool:
    """True when `name` is a registry model that is simply not downloaded yet."""
    try:
        resolve_model_path(name)
    except ModelError:
        return True
    return False


def pull_button(name: str, key: str = "pull") -> None:
    st.caption(f"Download it here, or run `lab models pull {name}` in a terminal.")
    if st.button(f"Download {name}", key=f"{key}-{name}", icon=":material/download:"):
        with st.spinner(f"Downloading {name}…"):
            try:
                pull(name)
            except ModelError as exc:
                st.error(str(exc))
                return
        st.rerun()


@st.cache_resource(show_spinner=False)
def _ledger(url: str, busy_timeout_s: float) -> Ledger:
    return Ledger(url, busy_timeout_s=busy_timeout_s)


def get_ledger() -> Ledger:
    """The ledger at config.database_url(); raises LedgerError (e.g. database locked)."""
    return _ledger(config.database_url(), LEDGER_BUSY_S)


def ledger_or_error() -> Ledger | None:
    try:
        return get_ledger()
    except LedgerError as exc:
        st.error(f"**The run ledger cannot be opened.** {exc}")
        return None


@st.cache_resource(show_spinner=False)
def model_slot() -> threading.Lock:
    """Held by the run using the model; other sessions' runs wait for it."""
    return threading.Lock()
