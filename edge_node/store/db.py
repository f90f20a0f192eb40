"""SQLite connection, pragmas, write transactions and migrations.

Every write goes through :func:`write_tx`, which opens the transaction with
``BEGIN IMMEDIATE``: the write lock is taken up front, so two threads never
both read-then-write under a deferred transaction and lose an update.
sqlite-utils operations inside the block nest as savepoints.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from edge_node.domain.text import fold
from edge_node.store.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path) -> sqlite_utils.Database:
    """Open the node database at *path* with the node's pragmas.

    WAL lets readers run beside the single writer; ``synchronous=FULL``
    because commune power cuts are common and a committed dossier must survive.
    """
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.create_function("vn_fold", 1, fold, deterministic=True)
    return sqlite_utils.Database(conn)


@contextmanager
def write_tx(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run the block as one ``BEGIN IMMEDIATE`` transaction; roll back on any error."""
    conn = db.conn
    if conn.in_transaction:
        raise RuntimeError("write_tx does not nest; pass the open db down instead")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def schema_version(db: sqlite_utils.Database) -> int:
    """Return the number of the last applied migration (0 for a new database)."""
    return db.conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database, upto: int | None = None,
            migrations: list[tuple[int, list[str]]] = MIGRATIONS) -> list[int]:
    """Apply pending numbered migrations, each in its own transaction.

    :returns: the numbers applied now.
    """
    applied = []
    for number, statements in migrations:
        if number <= schema_version(db) or (upto is not None and number > upto):
            continue
        # Rebuilding a table (create new, copy, drop, rename) must not fire
        # foreign-key actions; the pragma only changes outside a transaction.
        db.conn.execute("PRAGMA foreign_keys = OFF")
        try:
            with write_tx(db):
                if schema_version(db) >= number:
                    continue  # another process applied it while we waited for the lock
                for sql in statements:
                    db.conn.execute(sql)
                broken = db.conn.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration {number} breaks foreign keys: {broken[:3]}")
                db.conn.execute(f"PRAGMA user_version = {number}")
        finally:
            db.conn.execute("PRAGMA foreign_keys = ON")
        applied.append(number)
    return applied


def open_db(path: str | Path,
            migrations: list[tuple[int, list[str]]] = MIGRATIONS) -> sqlite_utils.Database:
    """Connect and bring the schema up to date."""
    db = connect(path)
    _owner_only(Path(path))
    migrate(db, migrations=migrations)
    return db


def _owner_only(path: Path) -> None:
    """Password hashes and citizen data: the database file (and so its WAL and shared-memory
    files, which SQLite creates with the database's mode) is readable by its owner only."""
    if os.name == "posix" and path.exists() and path.stat().st_mode & 0o077:
        path.chmod(0o600)
