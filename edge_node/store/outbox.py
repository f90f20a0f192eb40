"""Sync outbox: every fact the province must receive, in one gap-free sequence.

``seq`` is an AUTOINCREMENT key written inside the same transaction as the
change it reports, so a rolled-back change leaves no number behind.
"""

from __future__ import annotations

import json
import os
import threading

import sqlite_utils


class RecoveryPending(RuntimeError):
    """The node was restored from a backup and has not yet learnt what the province holds:
    a new event now could take a number (or a dossier code) the province already has."""


class _EventIds:
    """Event ids that are unique everywhere yet cost ~3 bytes each on the wire, not ~24.

    A random uuid4 per event was the largest single item of a sync batch: 16 random bytes
    that zlib cannot shrink, about as much as the compressed event itself
    (``bench/bench_sync_catchup.py``). These ids are UUID-shaped (version 8, RFC 4122
    variant, so every reader of ``event_id`` keeps working) and made of a random 64-bit
    prefix drawn once per process plus a counter: events written by one process share 14
    of their 16 bytes and compress to almost nothing. A database restored from an old copy
    runs in a new process, hence a new prefix, so the events it writes under reused
    sequence numbers still carry ids the hub has never seen (how it spots the reuse).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()
        if hasattr(os, "register_at_fork"):  # a forked child must not repeat the parent's ids
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = int.from_bytes(os.urandom(8), "big")
        self._count = 0

    def new(self) -> str:
        with self._lock:
            prefix, count = self._prefix, self._count
            self._count += 1
            if self._count >= 1 << 62:  # never, in practice; stay unique anyway
                self._reset()
        value = (prefix << 64) | count
        value = (value & ~(0xF000 << 64)) | (0x8000 << 64)  # version 8 (custom)
        value = (value & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
        text = f"{value:032x}"  # uuid.UUID's own text form, without building the object
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_IDS = _EventIds()


def new_event_id() -> str:
    """A new, globally unique event id (UUID text, version 8; see :class:`_EventIds`)."""
    return _IDS.new()


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
        (event_id or new_event_id(), kind,
         json.dumps(payload, ensure_ascii=False, sort_keys=True), at),
    )
    return cur.lastrowid


# The outbox slot of a dossier event holds this instead of the event: the event row itself
# (dossier_events, never changed once written) is what the province receives. Copying the
# event into the slot wrote every event twice (the first one holds the whole dossier, ~2 KB)
# and was a third of an intake's write time (bench/bench_write_cost.py). Slots written
# before carry the whole payload; both read back the same through :func:`payload_of`.
EVENT_REF = '{"from": "dossier_events"}'
DOSSIER_EVENT = "dossier.event"

# Outbox rows with the dossier event a slot refers to (``e_*`` columns; NULL otherwise).
SELECT = (
    "SELECT o.*, e.dossier_code AS e_code, e.type AS e_type, e.at AS e_at,"
    " e.actor AS e_actor, e.actor_role AS e_role, e.payload AS e_payload FROM outbox o"
    f" LEFT JOIN dossier_events e ON o.payload = '{EVENT_REF}' AND e.event_id = o.event_id")


def add_event_slot(db: sqlite_utils.Database, *, event_id: str, at: str) -> int:
    """Queue a dossier event already written to ``dossier_events`` (same transaction).

    :raises RecoveryPending: after a restore, until the first sync has recovered.
    """
    if not db.conn.in_transaction:
        raise RuntimeError("outbox.add_event_slot must run inside a write transaction")
    if db.conn.execute("SELECT 1 FROM settings WHERE key = 'sync.recover'").fetchone():
        raise RecoveryPending("restored from a backup: sync with the province first")
    return db.conn.execute(
        "INSERT INTO outbox (event_id, kind, payload, created_at) VALUES (?,?,?,?)",
        (event_id, DOSSIER_EVENT, EVENT_REF, at)).lastrowid


def payload_of(row: dict) -> dict:
    """The payload the province receives for an outbox row read with :data:`SELECT`."""
    if row["payload"] != EVENT_REF:
        return json.loads(row["payload"])
    if row["e_payload"] is None:
        raise LookupError(f"outbox {row['seq']}: dossier event {row['event_id']} is missing")
    return {"dossier_code": row["e_code"], "type": row["e_type"], "at": row["e_at"],
            "actor": row["e_actor"], "role": row["e_role"], **json.loads(row["e_payload"])}


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
                 payload: dict | str, at: str, acked_at: str) -> None:
    """Put back an event the province already holds, under its own number, as acknowledged.

    *payload* is the event's payload, or :data:`EVENT_REF` for a dossier event whose row
    is in ``dossier_events``. An explicit ``seq`` above the highest also moves
    AUTOINCREMENT past it, so new events never reuse the number.
    """
    text = payload if payload == EVENT_REF else json.dumps(payload, ensure_ascii=False,
                                                           sort_keys=True)
    db.conn.execute(
        "INSERT INTO outbox (seq, event_id, kind, payload, created_at, acked_at)"
        " VALUES (?,?,?,?,?,?)", (seq, event_id, kind, text, at, acked_at))
