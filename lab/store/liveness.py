"""Who is writing a run, and whether that process still lives (to find runs left `running` by
a process that died)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    hostname: str
    start: str | None  # the kernel's start time of the process, where /proc has it
    namespace: str | None  # the pid namespace (containers), where /proc has it

    def can_see(self, hostname: str | None, namespace: str | None) -> bool:
        """Whether a process recorded with this hostname and pid namespace is one whose pid
        we can check from here."""
        return hostname == self.hostname and (namespace or None) == self.namespace


def current_process() -> ProcessIdentity:
    pid = os.getpid()
    try:
        namespace: str | None = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = None
    return ProcessIdentity(pid, socket.gethostname(), _proc_stat(pid)[1], namespace)


def is_alive(pid: int, start: str | None) -> bool:
    """True if process `pid` exists and is the one that started at `start` (a recycled pid
    belongs to another process). A zombie counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    state, now_start = _proc_stat(pid)
    if state == "Z":
        return False
    return start is None or now_start is None or now_start == start


def _proc_stat(pid: int) -> tuple[str | None, str | None]:
    """(state, start time) from /proc/PID/stat, or (None, None) where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None, None
    # fields after the command name, which is in parentheses and may hold spaces
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0], fields[19]
