"""The run ledger: every run stored in SQL (SQLite by default) and reopened as its Trace."""

from lab.store.errors import LedgerError, UnknownRun
from lab.store.ledger import Ledger
from lab.store.queries import RunSummary
from lab.store.recorder import Recorder

__all__ = ["Ledger", "LedgerError", "Recorder", "RunSummary", "UnknownRun"]
