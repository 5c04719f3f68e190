"""Schema versions and in-place upgrades: an ordered list of steps, never a drop.

A new database gets the current tables and is stamped with `SCHEMA_VERSION`. An older one runs
each step after its version, in order, inside one write transaction. To change the schema:
edit the tables in `schema.py`, bump `schema.SCHEMA_VERSION` and add the step that brings a
database of the previous version there, e.g.

    def _v2_add_run_notes(conn: Connection) -> None:
        conn.execute(text("ALTER TABLE runs ADD COLUMN notes TEXT"))

    MIGRATIONS = {2: _v2_add_run_notes}
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import insert, inspect, select, text, update
from sqlalchemy.engine import Connection

from lab.store import schema
from lab.store.errors import LedgerError
from lab.store.schema import Base, LedgerMeta


def _v2_all_compute(conn: Connection) -> None:
    """Compute beyond sampled tokens: prompt tokens served from the cache, the tokens of
    model verdicts, and generated tokens by kind of call (runs stored before: 0 and {})."""
    for column, kind in (("cached_prompt_tokens", "BIGINT NOT NULL DEFAULT 0"),
                         ("verdict_tokens", "BIGINT NOT NULL DEFAULT 0"),
                         ("generated_by", "TEXT")):
        conn.execute(text(f"ALTER TABLE runs ADD COLUMN {column} {kind}"))


def _v3_shipped_experiments(conn: Connection) -> None:
    """Experiments shipped with the lab (the gallery), read-only; the user's are not."""
    conn.execute(text("ALTER TABLE experiments ADD COLUMN shipped BOOLEAN NOT NULL "
                      "DEFAULT FALSE"))


# version -> the step that upgrades a database of version - 1 to it
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _v2_all_compute,
                                                       3: _v3_shipped_experiments}

_VERSION_KEY = "schema_version"
_PG_LOCK_KEY = 0x1AB1ED6E  # advisory lock serialising upgrades on PostgreSQL


def stored_version(conn: Connection) -> int | None:
    """The database's schema version; None for a database without the ledger's tables."""
    if not inspect(conn).has_table(LedgerMeta.__tablename__):
        return None
    value = conn.execute(select(LedgerMeta.value).where(LedgerMeta.key == _VERSION_KEY)).scalar()
    return None if value is None else int(value)


def check_not_newer(version: int | None, where: str) -> None:
    if version is not None and version > schema.SCHEMA_VERSION:
        raise LedgerError(
            f"the ledger {where} has schema version {version}, newer than this lab's "
            f"{schema.SCHEMA_VERSION}: upgrade the lab"
        )


def upgrade(conn: Connection, where: str) -> None:
    """Bring the database to the current schema; call inside a write transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    version = stored_version(conn)  # again: another process may have upgraded meanwhile
    check_not_newer(version, where)
    if version is None:
        Base.metadata.create_all(conn)
        _stamp(conn, schema.SCHEMA_VERSION)
        return
    for step_version in range(version + 1, schema.SCHEMA_VERSION + 1):
        if step_version not in MIGRATIONS:
            raise LedgerError(f"no migration to schema version {step_version} (a lab bug)")
        MIGRATIONS[step_version](conn)
        _stamp(conn, step_version)


def _stamp(conn: Connection, version: int) -> None:
    updated = conn.execute(
        update(LedgerMeta).where(LedgerMeta.key == _VERSION_KEY).values(value=str(version))
    )
    if updated.rowcount == 0:
        conn.execute(insert(LedgerMeta).values(key=_VERSION_KEY, value=str(version)))
