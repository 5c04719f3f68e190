"""One engine computing on this machine at a time, served in the order they asked: a queue
every llama.cpp engine joins for each request, across processes (the app's worker,
`lab solve`, `lab eval`).

Two engines decoding at once on the same cores do worse than taking turns: llama.cpp's
threads wait for each other at every step, so a thread that loses its core stalls its whole
engine. `LAB_ENGINE_LOCK=0` turns the lock off (e.g. on a machine with cores to spare).

The queue is a directory of ticket files, numbered under a short lock on a counter file.
Each waiter holds an exclusive `flock` on its own ticket from the moment it is numbered until
its turn ends, and waits on the ticket just before its own; the kernel drops a dead process's
locks, so a crashed holder or waiter never blocks the queue. A plain `flock` on one file (what
this was) is not fair: a process that releases and asks again at once could keep the lock
while another waited for minutes.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # not on POSIX: no machine-wide turns
    fcntl = None  # type: ignore[assignment]

TICKET = re.compile(r"^\d{12}-\d+$")


def queue_dir() -> Path:
    """Where the tickets live: `LAB_ENGINE_LOCK_DIR`, else one directory per user in tmp."""
    if os.environ.get("LAB_ENGINE_LOCK_DIR"):
        return Path(os.environ["LAB_ENGINE_LOCK_DIR"])
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"inference-scaling-lab-engine-{uid}.queue"


def enabled() -> bool:
    return fcntl is not None and os.environ.get("LAB_ENGINE_LOCK", "1") not in ("0", "off")


class Ticket:
    """A place in the machine-wide queue, held from `take` until `leave`."""

    def __init__(self, directory: Path, name: str, fd: int):
        self.directory = directory
        self.name = name
        self._fd = fd

    @classmethod
    def take(cls, directory: Path) -> Ticket:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        counter = os.open(directory / "counter", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(counter, fcntl.LOCK_EX)
            raw = os.pread(counter, 32, 0).strip()
            waiting = [int(n[:12]) + 1 for n in os.listdir(directory) if TICKET.match(n)]
            # after every ticket still queued, even if the counter file was lost
            number = max([int(raw) if raw.isdigit() else 0, *waiting])
            os.pwrite(counter, f"{number + 1:<32d}".encode(), 0)
            name = f"{number:012d}-{os.getpid()}"
            # Locked before the counter is let go: whoever numbers after us sees it held.
            fd = os.open(directory / name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            os.close(counter)  # releases the counter's lock
        return cls(directory, name, fd)

    def wait_turn(self) -> None:
        """Block until every ticket numbered before this one has left (or died)."""
        while True:
            ahead = [n for n in os.listdir(self.directory) if TICKET.match(n) and n < self.name]
            if not ahead:
                return
            self._wait_for(max(ahead))

    def _wait_for(self, name: str) -> None:
        path = self.directory / name
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return  # it left between the listing and now
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # granted once its owner left or died
            # A ticket that leaves removes its file before unlocking it; one still here died.
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        finally:
            os.close(fd)

    def leave(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / self.name).unlink()
        os.close(self._fd)


class TurnLock:
    """A thread lock that, while held, also holds this process's turn on the machine."""

    def __init__(self) -> None:
        self._thread_lock = threading.Lock()
        self._ticket: Ticket | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._thread_lock.acquire(blocking, timeout):
            return False
        if enabled():
            ticket = None
            try:
                ticket = Ticket.take(queue_dir())
                ticket.wait_turn()
                self._ticket = ticket
            except OSError:  # an unwritable temp dir: take turns within this process only
                if ticket is not None:
                    ticket.leave()
            except BaseException:  # interrupted while waiting: give the place up
                if ticket is not None:
                    ticket.leave()
                self._thread_lock.release()
                raise
        return True

    def release(self) -> None:
        if self._ticket is not None:
            ticket, self._ticket = self._ticket, None
            with contextlib.suppress(OSError):
                ticket.leave()
        self._thread_lock.release()

    def locked(self) -> bool:
        return self._thread_lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
