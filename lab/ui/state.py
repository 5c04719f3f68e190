"""What every session of this process shares: the run worker, the ledger, and (for hosts and
tests that inject one) an engine.

Runs go to the worker process (`lab.worker`), which loads the model once and serves every
session in turn, so the page's interpreter never decodes. The sidebar starts loading the
selected model there at a session's first page view and on each change of model (`preload`),
so the first Run starts decoding at once. A host may instead serve an
engine of its own in this process (`use_engine`: AppTest on a scripted engine, demos); its
runs then go to a thread here, and `model_slot()` queues them. Errors a user can fix are
shown in the page, not raised.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from lab import config
from lab.engine.base import Engine
from lab.engine.openai import is_server_url
from lab.execution import RunRequest, cannot_start
from lab.models import REGISTRY, ModelError, check_gguf, resolve_model_path
from lab.pull import pull
from lab.store.errors import LedgerError
from lab.store.gallery import ImportResult, ensure_gallery
from lab.store.ledger import Ledger
from lab.ui import access
from lab.ui.runner import RunBatch
from lab.worker.client import WorkerBatch, WorkerClient, WorkerSweep
from lab.worker.protocol import ModelInfo
from lab.worker.server import EngineFactory

log = logging.getLogger(__name__)
MODEL_KEY = "model"  # the sidebar's model choice in st.session_state
JUDGE_KEY = "judge"  # the sidebar's judge model choice (None: no judge)
PRELOADED_KEY = "_lab_preloaded"  # the model this session last asked the worker to load
LEDGER_BUSY_S = 10.0  # how long a ledger write waits for a lock before the page says so


@dataclass(eq=False)
class LoadedModel:
    """An engine a host serves from this process."""

    name: str
    engine: Engine
    load_s: float = 0.0
    tokens_per_s: float | None = None


_override: LoadedModel | None = None
_worker_factory: EngineFactory | None = None  # None: the registry's models on llama.cpp
Batch = RunBatch | WorkerBatch


def use_engine(engine: Engine | None) -> None:
    """Serve `engine` to every session from this process instead of the worker (tests,
    demos)."""
    global _override
    _override = None if engine is None else LoadedModel(engine.model_name, engine)


def use_worker_engines(factory: EngineFactory | None) -> None:
    """Let the worker build its engines with `factory` (model name -> Engine; picklable),
    e.g. a scripted engine in tests; None: the registry's models on llama.cpp."""
    global _worker_factory
    _worker_factory = factory


@st.cache_resource(show_spinner=False)
def _clients() -> dict[str, WorkerClient]:
    """The worker client of each engine factory this process used (normally one)."""
    return {}


def worker() -> WorkerClient:
    """The worker this process sends runs to (started by the first preload or job)."""
    key = repr(_worker_factory)
    clients = _clients()
    if key not in clients:
        clients[key] = WorkerClient(_worker_factory)
    return clients[key]


def close_workers() -> None:
    """Stop this process's workers (their running runs are stored as interrupted)."""
    clients = _clients()
    for client in list(clients.values()):
        client.close()
    clients.clear()


def start_runs(specs: list[RunRequest], page: str) -> Batch | None:
    """Start `specs` one after another; None after showing in the page why they cannot. The
    runs are this session's (`access`: it may delete them)."""
    if _override is not None:
        reasons = [r for r in (cannot_start(_override.engine, s) for s in specs) if r]
        for reason in reasons:
            st.error(f"**This run cannot start.** {reason}")
        if reasons:
            return None
        return access.remember(RunBatch(specs, _override.engine, ledger_or_error(),
                                        model_slot()).start())
    name = selected_model_name()
    if not model_available(name) or ledger_or_error() is None:
        return None
    judge = selected_judge()
    if judge is not None and not model_available(judge):
        return None
    return access.remember(worker().submit_runs(name, specs, page, judge))


def running_batch(page: str) -> Batch | None:
    """A batch still running from `page`, for a reloaded page or another tab to reattach."""
    return None if _override is not None else worker().running_batch(page)


def start_sweep(experiment: str, cells: list) -> WorkerSweep | None:
    """Run a Scaling sweep in the worker (None after showing why it cannot)."""
    name = selected_model_name()
    if not model_available(name):
        return None
    return access.remember(worker().submit_sweep(name, experiment, cells))


def model_available(name: str) -> bool:
    """Whether the model can be handed to the worker; if not, say why (with a download
    button for a registry model that is not downloaded)."""
    if _worker_factory is not None or is_server_url(name):  # the worker connects or builds it
        return True
    try:
        path = resolve_model_path(name)
    except ModelError as exc:
        st.error(f"**The model {name} cannot be used.** {exc}")
        if name in REGISTRY:
            pull_button(name)
        return False
    try:
        stat = path.stat()
        _check_file(str(path), stat.st_mtime, stat.st_size)
    except (ModelError, OSError) as exc:
        st.error(f"**The model {name} failed to load.** {exc}")
        return False
    return True


@functools.lru_cache(maxsize=8)
def _check_file(path: str, mtime: float, size: int) -> None:
    """The GGUF header check, once per file version (the worker does the real load)."""
    del mtime, size  # the cache key: a replaced file is checked again
    check_gguf(Path(path))


def overridden() -> bool:
    """True when a host set the engine with use_engine (no model choice then)."""
    return _override is not None


def selected_model_name() -> str:
    """The engine's name, the model server's address (LAB_ENGINE_URL; the first of several),
    or the sidebar's model choice."""
    if _override is not None:
        return _override.name
    urls = config.engine_urls()
    if urls:
        return urls[0]
    return str(st.session_state.get(MODEL_KEY) or config.default_model())


def selected_judge() -> str | None:
    """The sidebar's judge model (a name, a path or a server's address), if one is chosen."""
    judge = st.session_state.get(JUDGE_KEY)
    return str(judge).strip() or None if judge else None


def loaded_model(name: str) -> LoadedModel | ModelInfo | None:
    """The model if it is loaded already, here or in the worker (no loading)."""
    if _override is not None:
        return _override
    info = worker().model
    return info if info is not None and info.name == name and worker().alive else None


def current_model() -> LoadedModel | None:
    """The engine a host serves from this process (use_engine), else None: runs go to the
    worker, which loads the model itself."""
    return _override


def preload(name: str) -> None:
    """Start loading `name` in the worker without waiting, once per session and choice of
    model (so two sessions on different models do not take turns loading at every redraw);
    nothing when a host serves its own engine, LAB_PRELOAD is off, or the model cannot be
    used (the sidebar says why, and a Run says it again)."""
    if _override is not None or not config.preload_model():
        return
    if st.session_state.get(PRELOADED_KEY) == name:
        return
    st.session_state[PRELOADED_KEY] = name
    if _loadable(name):
        try:
            worker().preload(name)
        except RuntimeError:  # no worker could be started: the first Run says so
            log.exception("the run worker could not be started")


def _loadable(name: str) -> bool:
    """`model_available` without a word in the page."""
    if _worker_factory is not None or is_server_url(name):
        return True
    try:
        path = resolve_model_path(name)
        stat = path.stat()
        _check_file(str(path), stat.st_mtime, stat.st_size)
    except (ModelError, OSError):
        return False
    return True


def model_loading(name: str) -> bool:
    """Whether the worker is loading `name` now (a preload, or a run's first load)."""
    if _override is not None:
        return False
    client = worker()
    return client.loading == name and client.alive


def load_now(name: str) -> None:
    """Load `name` in the worker ahead of the first run."""
    if _override is None and model_available(name):
        worker().load(name).wait(300)


def model_busy() -> bool:
    """Whether a run is using the model now (another session's run waits)."""
    return model_slot().locked() if _override is not None else worker().busy


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
def _ledger(url: str, busy_timeout_s: float, gallery: Path | None) -> Ledger:
    ledger = Ledger(url, busy_timeout_s=busy_timeout_s)
    try:
        with st.spinner("First start: opening the gallery of measured experiments…"):
            gallery_import()["result"] = ensure_gallery(ledger, gallery)
    except LedgerError as exc:  # the lab works without its gallery; the pages say why
        log.warning("the gallery was not imported: %s", exc)
        gallery_import()["error"] = str(exc)
    return ledger


@st.cache_resource(show_spinner=False)
def gallery_import() -> dict[str, ImportResult | str | None]:
    """How importing the gallery went in this process: "result" (None: no gallery file, or
    LAB_GALLERY=off) or "error"."""
    return {}


def get_ledger() -> Ledger:
    """The ledger at config.database_url(), its gallery imported on first start; raises
    LedgerError (e.g. database locked)."""
    return _ledger(config.database_url(), LEDGER_BUSY_S, config.gallery_path())


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
