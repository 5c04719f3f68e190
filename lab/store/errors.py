"""Errors of the run ledger; each message is one line a user can act on."""

from __future__ import annotations


class LedgerError(RuntimeError):
    """The ledger cannot be opened, read or written (locked, unreachable, too new, ...)."""


class UnknownRun(LedgerError):  # noqa: N818 - reads better at the raise site
    """No run with that id is stored."""

    def __init__(self, run_id: int):
        super().__init__(f"no run {run_id} in the ledger")
        self.run_id = run_id


class ReadOnlyRun(LedgerError):  # noqa: N818
    """The run, or the experiment a run would join, was shipped with the lab (the gallery)."""
