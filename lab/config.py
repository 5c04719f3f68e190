"""Paths and settings of the lab, each overridable by an environment variable."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def models_dir() -> Path:
    """Where GGUF files live: `LAB_MODELS_DIR`, else `models/` of the checkout."""
    return Path(os.environ.get("LAB_MODELS_DIR", REPO_ROOT / "models"))


def data_dir() -> Path:
    """The built-in problem sets shipped with the lab."""
    return Path(os.environ.get("LAB_DATA_DIR", REPO_ROOT / "data"))


def user_data_dir() -> Path:
    """Per-user state (the run ledger): `LAB_HOME`, else the XDG data directory."""
    if "LAB_HOME" in os.environ:
        return Path(os.environ["LAB_HOME"])
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "inference-scaling-lab"


def database_url() -> str:
    """The SQLAlchemy URL of the run ledger: `LAB_DATABASE_URL`, else a SQLite file."""
    url = os.environ.get("LAB_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{user_data_dir() / 'ledger.db'}"


def gallery_path() -> Path | None:
    """The gallery of measured experiments imported on first start: `LAB_GALLERY` (a file, or
    `off` for none), else `data/gallery.jsonl.gz` of the checkout."""
    value = os.environ.get("LAB_GALLERY")
    if value is None:
        return REPO_ROOT / "data" / "gallery.jsonl.gz"
    return None if value.strip().lower() in ("", "off", "0", "no", "none") else Path(value)


def default_model() -> str:
    """The model the lab uses when none is named: `LAB_MODEL`, else the registry default."""
    return os.environ.get("LAB_MODEL", "qwen2.5-coder-0.5b")


def n_threads() -> int:
    """Threads for llama.cpp: `LAB_THREADS`, else every core this process may use."""
    if "LAB_THREADS" in os.environ:
        return max(1, int(os.environ["LAB_THREADS"]))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def cpu_name() -> str:
    """This machine's CPU as /proc/cpuinfo names it, its core count and the vector extensions
    llama.cpp's speed depends on (the benches say where they measured), e.g. "AMD EPYC 9B14
    x2 (avx512f, avx2)"."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    name = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
    simd = [f for f in ("avx512f", "amx_tile", "avx2") if flags and f in flags[1].split()]
    label = name[1].strip() if name else (platform.processor() or platform.machine())
    return f"{label} x{os.cpu_count()} ({', '.join(simd) or 'no AVX2'})"


def access_tokens() -> tuple[str | None, str | None]:
    """The browser lab's access tokens, `LAB_TOKEN` and `LAB_ADMIN_TOKEN` (`lab ui` sets both
    when it listens beyond loopback); a session opened with the admin one may delete any run.
    (None, None): no token is asked."""
    return os.environ.get("LAB_TOKEN") or None, os.environ.get("LAB_ADMIN_TOKEN") or None


def engine_urls() -> list[str]:
    """OpenAI-compatible model servers to run against instead of a local model:
    `LAB_ENGINE_URL`, one address or several separated by commas or spaces (empty: none)."""
    raw = os.environ.get("LAB_ENGINE_URL", "")
    return [url for url in raw.replace(",", " ").split() if url]


# Runs a local model decodes together (lab.engine.shared): llama.cpp's 256 sequence ids, 64
# for each run as when it runs alone.
MAX_LOCAL_LANES = 4


def engine_concurrency() -> int:
    """Runs the app's worker keeps in flight: against the model servers of LAB_ENGINE_URL, one
    engine each, round-robin over the servers; on a local model, decoded together in one
    batch (at most MAX_LOCAL_LANES). `LAB_CONCURRENCY` (`lab ui --concurrency`), else one per
    server, and one on a local model."""
    if os.environ.get("LAB_CONCURRENCY", "").strip():
        return max(1, int(os.environ["LAB_CONCURRENCY"]))
    return max(1, len(engine_urls()))


def preload_model() -> bool:
    """Whether the app loads the selected model in its worker at the first page view (and on
    each change of model), so the first Run starts at once: `LAB_PRELOAD` (`off`: on the first
    Run instead), else yes."""
    return os.environ.get("LAB_PRELOAD", "on").strip().lower() not in ("off", "0", "no", "false")
