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


def rows(db: sqlite_utils.Database, sql: str, params=()) -> list[dict]:
    """Run a read and return its rows as dicts.

    The plain cursor, not ``Database.query``: sqlite-utils 4 wraps every query in a
    savepoint (two more statements per read), which was a tenth of an intake's time
    (``bench/bench_write_cost.py``). Also used for ``INSERT … RETURNING``.
    """
    cur = db.conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def first(db: sqlite_utils.Database, sql: str, params=()) -> dict | None:
    """The first row of :func:`rows`, or ``None``."""
    cur = db.conn.execute(sql, params)
    values = cur.fetchone()
    if values is None:
        return None
    return dict(zip([d[0] for d in cur.description], values, strict=True))


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


def pending_migrations(db: sqlite_utils.Database,
                       migrations: list[tuple[int, list[str]]] | None = None) -> list[int]:
    """Numbers of the migrations this code would apply to *db* now."""
    current = schema_version(db)
    return [n for n, _ in (MIGRATIONS if migrations is None else migrations) if n > current]


def latest_version(migrations: list[tuple[int, list[str]]] | None = None) -> int:
    """The schema version this code brings a database to."""
    return max((n for n, _ in (MIGRATIONS if migrations is None else migrations)), default=0)


def copy_to(db: sqlite_utils.Database, target: str | Path) -> None:
    """Write a consistent, compacted copy of the live database to *target* (``VACUUM INTO``).

    It reads inside one read transaction, so clerks keep writing meanwhile and
    the copy holds every transaction committed before it started, none after.
    """
    db.conn.execute("VACUUM INTO ?", (str(target),))


def check_file(path: str | Path) -> tuple[str, int]:
    """Open a database file read-only; return ``(integrity_check result, schema version)``."""
    conn = sqlite3.connect(f"file:{Path(path).as_posix()}?mode=ro", uri=True)
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    return ("ok" if rows == ["ok"] else "; ".join(rows[:5])), version


def quick_check(db: sqlite_utils.Database) -> str:
    """``PRAGMA quick_check`` of an open database: ``"ok"`` or the first problems found."""
    rows = [r[0] for r in db.conn.execute("PRAGMA quick_check").fetchall()]
    return "ok" if rows == ["ok"] else "; ".join(rows[:5])
def _owner_only(path: Path) -> None:
    """Password hashes and citizen data: the database file (and so its WAL and shared-memory
    files, which SQLite creates with the database's mode) is readable by its owner only."""
    if os.name == "posix" and path.exists() and path.stat().st_mode & 0o077:
        path.chmod(0o600)
