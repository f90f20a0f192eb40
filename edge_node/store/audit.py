"""Append-only audit log kept as a hash chain.

Each entry stores the hash of the previous one, so an edited, deleted or
reordered entry breaks the chain at a point :func:`verify_chain` can name.
Entries are written inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import json

import sqlite_utils

GENESIS = "0" * 64


def _entry_hash(prev_hash: str, at: str, actor: str, action: str, obj: str, detail: str,
                ip: str) -> str:
    body = json.dumps([prev_hash, at, actor, action, obj, detail, ip], ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append(db: sqlite_utils.Database, *, at: str, actor: str, action: str, obj: str = "",
           detail: dict | None = None, ip: str = "") -> int:
    """Append one audit entry; call inside a write transaction."""
    if not db.conn.in_transaction:
        raise RuntimeError("audit.append must run inside a write transaction")
    row = db.conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS
    detail_text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True)
    digest = _entry_hash(prev, at, actor, action, obj, detail_text, ip)
    cur = db.conn.execute(
        "INSERT INTO audit (at, actor, action, object, detail, ip, prev_hash, hash)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (at, actor, action, obj, detail_text, ip, prev, digest),
    )
    return cur.lastrowid


def verify_chain(db: sqlite_utils.Database) -> int | None:
    """Return the id of the first entry whose link is broken, or None if intact."""
    prev = GENESIS
    for row in db.conn.execute(
        "SELECT id, at, actor, action, object, detail, ip, prev_hash, hash FROM audit ORDER BY id"
    ):
        entry_id, at, actor, action, obj, detail, ip, prev_hash, digest = row
        if prev_hash != prev or _entry_hash(prev, at, actor, action, obj, detail, ip) != digest:
            return entry_id
        prev = digest
    return None


def recent(db: sqlite_utils.Database, limit: int = 100) -> list[dict]:
    """Return the newest audit entries first."""
    return list(db.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", [limit]))
