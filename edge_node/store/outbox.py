"""Sync outbox: every fact the province must receive, in one gap-free sequence.

``seq`` is an AUTOINCREMENT key written inside the same transaction as the
change it reports, so a rolled-back change leaves no number behind.
"""

from __future__ import annotations

import json
import uuid

import sqlite_utils


class RecoveryPending(RuntimeError):
    """The node was restored from a backup and has not yet learnt what the province holds:
    a new event now could take a number (or a dossier code) the province already has."""


def add(db: sqlite_utils.Database, *, kind: str, payload: dict, at: str,
        event_id: str | None = None) -> int:
    """Queue one event for the province; call inside a write transaction.

    :raises RecoveryPending: after a restore, until the first sync has recovered.
    """
    if not db.conn.in_transaction:
        raise RuntimeError("outbox.add must run inside a write transaction")
    if db.conn.execute("SELECT 1 FROM settings WHERE key = 'sync.recover'").fetchone():
        raise RecoveryPending("restored from a backup: sync with the province first")
    cur = db.conn.execute(
        "INSERT INTO outbox (event_id, kind, payload, created_at) VALUES (?,?,?,?)",
        (event_id or str(uuid.uuid4()), kind,
         json.dumps(payload, ensure_ascii=False, sort_keys=True), at),
    )
    return cur.lastrowid


def pending_count(db: sqlite_utils.Database) -> int:
    """Number of events not yet acknowledged by the province."""
    return db.conn.execute("SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]


def last_seq(db: sqlite_utils.Database) -> int:
    """The highest sequence number this database has given (0 when none)."""
    return db.conn.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0]


def event_id_at(db: sqlite_utils.Database, seq: int) -> str | None:
    row = db.conn.execute("SELECT event_id FROM outbox WHERE seq = ?", (seq,)).fetchone()
    return row[0] if row else None


def insert_acked(db: sqlite_utils.Database, *, seq: int, event_id: str, kind: str,
                 payload: dict, at: str, acked_at: str) -> None:
    """Put back an event the province already holds, under its own number, as acknowledged.

    An explicit ``seq`` above the highest also moves AUTOINCREMENT past it, so
    new events never reuse the number.
    """
    db.conn.execute(
        "INSERT INTO outbox (seq, event_id, kind, payload, created_at, acked_at)"
        " VALUES (?,?,?,?,?,?)",
        (seq, event_id, kind, json.dumps(payload, ensure_ascii=False, sort_keys=True), at,
         acked_at))
