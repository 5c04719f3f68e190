"""Shared fixtures. Tests that need the real model use `smollm_engine` (SmolLM2-135M, the
smallest registry model); the README's test command pulls it before running pytest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TEST_MODEL = "smollm2-135m"


@pytest.fixture(autouse=True)
def _isolated_ledger(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test writes runs to its own throwaway ledger, never the user's, without the
    gallery and without loading the default model when a page opens (tests that want either
    set LAB_GALLERY or LAB_PRELOAD)."""
    monkeypatch.setenv("LAB_GALLERY", "off")
    monkeypatch.setenv("LAB_PRELOAD", "off")
    if "LAB_TEST_KEEP_DATABASE_URL" not in os.environ:
        home = tmp_path_factory.mktemp("lab-home")
        monkeypatch.setenv("LAB_HOME", str(home))
        monkeypatch.delenv("LAB_DATABASE_URL", raising=False)


@pytest.fixture(scope="session")
def smollm_path() -> Path:
    from lab.models import find_local_model

    path = find_local_model(TEST_MODEL)
    if path is None:
        pytest.fail(f"{TEST_MODEL} is not in models/: run `lab models pull {TEST_MODEL}` first")
    return path


@pytest.fixture(scope="session")
def smollm_engine(smollm_path: Path):
    """One real llama.cpp engine on SmolLM2-135M, shared by the whole session."""
    from lab.engine.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine(smollm_path, n_ctx=4096, n_seq_max=32)
    yield engine
    engine.close()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (development data lives beside the repo)")
    return SHARED_DATA


@pytest.fixture
def scripted():
    """The app's pages served a scripted model from this process (AppTest tests)."""
    from test_app_support import answer_18

    from lab.engine.scripted import ScriptedEngine
    from lab.ui import state

    engine = ScriptedEngine(answer_18, yes_probability=0.8)
    state.use_engine(engine)
    yield engine
    state.use_engine(None)
