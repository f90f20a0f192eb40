"""Small key/value settings the node learns at run time (enrollment, sync cursors)."""

from __future__ import annotations

import sqlite_utils


def get(db: sqlite_utils.Database, key: str, default: str | None = None) -> str | None:
    row = db.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def get_all(db: sqlite_utils.Database, prefix: str = "") -> dict[str, str]:
    return {r[0]: r[1] for r in db.conn.execute(
        "SELECT key, value FROM settings WHERE key LIKE ? ORDER BY key", (prefix + "%",))}


def put(db: sqlite_utils.Database, key: str, value: str | int | None) -> None:
    """Set (or with None, delete) a setting; call inside a write transaction."""
    if value is None:
        db.conn.execute("DELETE FROM settings WHERE key = ?", (key,))
    else:
        db.conn.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key)"
                        " DO UPDATE SET value = excluded.value", (key, str(value)))
