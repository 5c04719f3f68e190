"""One engine computing on this machine at a time: a lock file every llama.cpp engine holds
for each request, across processes (the app's worker, `lab solve`, `lab eval`).

Two engines decoding at once on the same cores do worse than taking turns: llama.cpp's
threads wait for each other at every step, so a thread that loses its core stalls its whole
engine. `LAB_ENGINE_LOCK=0` turns the lock off (e.g. on a machine with cores to spare).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # not on POSIX: no machine-wide turns
    fcntl = None  # type: ignore[assignment]


def lock_path() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"inference-scaling-lab-engine-{uid}.lock"


def enabled() -> bool:
    return fcntl is not None and os.environ.get("LAB_ENGINE_LOCK", "1") not in ("0", "off")


class TurnLock:
    """A thread lock that, while held, also holds the machine-wide engine lock."""

    def __init__(self) -> None:
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._thread_lock.acquire(blocking, timeout):
            return False
        if enabled():
            try:
                if self._fd is None:
                    self._fd = os.open(lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except OSError:
                pass  # an unwritable temp dir: take turns within this process only
        return True

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def close(self) -> None:
        """Let go of the lock file (the engine is closing)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def locked(self) -> bool:
        return self._thread_lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
