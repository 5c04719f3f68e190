"""Opening the ledger's database: any SQLAlchemy URL, with SQLite set up for several writers
(WAL, a busy timeout, foreign keys) and errors turned into one-line LedgerErrors."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from lab.store.errors import LedgerError

# execution option that makes a SQLite transaction take the write lock at BEGIN
WRITE_OPTION = "ledger_write"


def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise LedgerError(f"not a database URL: {url!r} (e.g. sqlite:///path/ledger.db)") from exc
    if parsed.drivername == "postgresql" and not _installed("psycopg2") and _installed("psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def display_url(url: URL) -> str:
    """The URL without its password, or the file path for SQLite."""
    if is_sqlite(url) and url.database and url.database != ":memory:":
        return url.database
    return url.render_as_string(hide_password=True)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def open_engine(url: URL, busy_timeout_s: float) -> Engine:
    if is_sqlite(url):
        return _sqlite_engine(url, busy_timeout_s)
    try:
        return create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        hint = " (pip install 'psycopg[binary]')" if url.get_backend_name() == "postgresql" else ""
        raise LedgerError(f"no database driver for {display_url(url)}: {exc}{hint}") from exc


def describe(exc: SQLAlchemyError, url: URL, busy_timeout_s: float) -> str:
    """One line that says what went wrong with the ledger."""
    orig = getattr(exc, "orig", None) or exc
    first_line = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    where = display_url(url)
    if "locked" in first_line or "busy" in first_line:
        return (f"the ledger {where} is locked by another writer (waited {busy_timeout_s:g} s);"
                " try again")
    if "not a database" in first_line:
        return f"{where} is not a lab ledger (not a SQLite database)"
    return f"ledger {where}: {first_line}"


def _sqlite_engine(url: URL, busy_timeout_s: float) -> Engine:
    database = url.database
    options: dict[str, Any] = {}
    if database in (None, "", ":memory:"):
        # one shared connection, or each connection would see its own empty database
        options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            message = f"cannot create the ledger's folder {folder}: {exc.strerror}"
            raise LedgerError(message) from exc
    engine = create_engine(url, **options)
    timeout_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # BEGIN is ours to emit (below): pysqlite's own transaction handling would defer
        # the write lock and fail at once instead of waiting when two writers meet
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # in WAL mode: safe against crashes
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
