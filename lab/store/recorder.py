"""An EventCallback that saves a trace while it grows, so a crash keeps what the run had.

Writes are batched: events only mark nodes as changed, and the changed nodes (with all their
tokens) are written at most every `flush_interval_s`, so per-token events cost no database
write. A failed write never breaks the run: it is logged, kept in `error` and retried.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from lab.store.errors import LedgerError, UnknownRun
from lab.trace import EventKind, Node, Trace, TraceEvent

log = logging.getLogger(__name__)


class RunWriter(Protocol):
    """The writes a Recorder makes (lab.store.ledger.Ledger's), each raising LedgerError when
    it fails and UnknownRun when the run is gone."""

    def start_run(self, trace: Trace, experiment: str | None = None) -> int: ...

    def update_run(self, run_id: int, trace: Trace, nodes: Sequence[Node] = ()) -> None: ...

    def finish_run(self, run_id: int, trace: Trace) -> None: ...


class Recorder:
    def __init__(
        self,
        ledger: RunWriter,
        run_id: int | None = None,
        trace: Trace | None = None,
        *,
        experiment: str | None = None,
        flush_interval_s: float = 0.5,
    ):
        self.run_id = run_id  # set on the first write when the run was not started yet
        self.error: LedgerError | None = None  # the last write that failed, if any
        self._ledger = ledger
        self._trace = trace
        self._experiment = experiment
        self._interval = flush_interval_s
        self._dirty: dict[int, Node] = {}
        self._lock = threading.Lock()
        self._last_flush = -math.inf
        self._stopped = False  # the run was deleted from under us

    def __call__(self, event: TraceEvent) -> None:
        with self._lock:
            if self._stopped:
                return
            self._trace = event.trace
            if event.node is not None:
                self._dirty[event.node.id] = event.node
            if event.kind == EventKind.FINISHED:
                self._write(finish=True)
            elif time.monotonic() - self._last_flush >= self._interval:
                self._write(finish=False)

    def flush(self) -> None:
        """Write what changed since the last write now."""
        with self._lock:
            if not self._stopped:
                self._write(finish=False)

    def _write(self, finish: bool) -> None:
        trace = self._trace
        if trace is None:
            return
        try:
            if self.run_id is None:
                # start_run writes every node the trace has so far
                self.run_id = self._ledger.start_run(trace, experiment=self._experiment)
                if finish:
                    self._ledger.finish_run(self.run_id, trace)
            elif finish:
                self._ledger.finish_run(self.run_id, trace)
            else:
                self._ledger.update_run(self.run_id, trace, list(self._dirty.values()))
            self._dirty.clear()
            self.error = None
        except UnknownRun as exc:
            log.warning("stopped recording: %s", exc)
            self.error, self._stopped = exc, True
        except LedgerError as exc:
            if self.error is None or str(self.error) != str(exc):
                log.warning("could not save run progress (will retry): %s", exc)
            self.error = exc
        self._last_flush = time.monotonic()
