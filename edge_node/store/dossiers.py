"""Dossier projection rows, their events and the daily code sequence."""

from __future__ import annotations

import json
import threading

import sqlite_utils

from edge_node.domain.lifecycle import OPEN_STATES
from edge_node.store import outbox
from edge_node.store.db import first, rows

JSON_COLUMNS = ("documents_received", "steps", "supplement_items")


def next_seq(db: sqlite_utils.Database, agency_id: str, day: str) -> int:
    """Take the next number of *agency_id*'s sequence for local *day* (in a transaction)."""
    return db.conn.execute(
        "INSERT INTO code_sequences (agency_id, day, last_seq) VALUES (?, ?, 1)"
        " ON CONFLICT(agency_id, day) DO UPDATE SET last_seq = last_seq + 1"
        " RETURNING last_seq", (agency_id, day)).fetchone()[0]


def _encode(row: dict) -> dict:
    return {k: (json.dumps(v, ensure_ascii=False) if k in JSON_COLUMNS else v)
            for k, v in row.items()}


def insert(db: sqlite_utils.Database, row: dict) -> dict:
    """Insert a dossier row; return it as stored (column defaults included), decoded."""
    row = _encode(row)
    cols = ", ".join(row)
    marks = ", ".join(f":{k}" for k in row)
    return decode(rows(db, f"INSERT INTO dossiers ({cols}) VALUES ({marks}) RETURNING *",
                       row)[0])


def update(db: sqlite_utils.Database, code: str, fields: dict) -> None:
    if not fields:
        return
    fields = _encode(fields)
    sets = ", ".join(f"{k} = :{k}" for k in fields)
    db.conn.execute(f"UPDATE dossiers SET {sets} WHERE code = :code__", {**fields,
                                                                         "code__": code})


def add_event(db: sqlite_utils.Database, row: dict) -> int:
    row = {**row, "payload": json.dumps(row["payload"], ensure_ascii=False, sort_keys=True)}
    cur = db.conn.execute(
        "INSERT INTO dossier_events (event_id, dossier_code, type, actor_id, actor, actor_role,"
        " at, payload) VALUES (:event_id, :dossier_code, :type, :actor_id, :actor, :actor_role,"
        " :at, :payload)", row)
    return cur.lastrowid


def record_event(db: sqlite_utils.Database, *, event_id: str, dossier_code: str, type: str,
                 actor_id: int | None, actor: str, actor_role: str, at: str,
                 payload: dict) -> None:
    """Append a dossier event and queue it for the province (inside a write transaction).

    The province receives ``{dossier_code, type, at, actor, role, **payload}``.
    """
    add_event(db, {"event_id": event_id, "dossier_code": dossier_code, "type": type,
                   "actor_id": actor_id, "actor": actor, "actor_role": actor_role, "at": at,
                   "payload": payload})
    outbox.add_event_slot(db, event_id=event_id, at=at)


def get(db: sqlite_utils.Database, code: str) -> dict | None:
    row = first(db, "SELECT * FROM dossiers WHERE code = ?", (code,))
    return decode(row) if row else None


def events(db: sqlite_utils.Database, code: str) -> list[dict]:
    out = rows(db, "SELECT * FROM dossier_events WHERE dossier_code = ? ORDER BY id", (code,))
    for row in out:
        row["payload"] = json.loads(row["payload"])
    return out


STEP_ROLE = "json_extract(steps, '$[' || current_step || '].role')"

# queue name: (WHERE clause, ORDER BY); ":me" and ":role" are bound per user
QUEUES: dict[str, tuple[str, str]] = {
    "to_receive": ("status IN ('CHO_TIEP_NHAN', 'NHAP')", "created_at"),
    "to_transfer": ("status = 'DA_TIEP_NHAN'", "transfer_due_at, code"),
    "my_work": (f"status = 'DANG_XU_LY' AND {STEP_ROLE} = :role"
                " AND (assignee_id = :me OR assignee_id IS NULL)", "due_at, code"),
    "for_leader": (f"status = 'DANG_XU_LY' AND {STEP_ROLE} = 'leader'", "due_at, code"),
    "supplement": ("status = 'CHO_BO_SUNG'", "supplement_close_at, code"),
    "payment": ("status = 'CHO_NGHIA_VU_TAI_CHINH'", "payment_requested_at, code"),
    "to_return": ("status IN ('DA_XU_LY_XONG', 'KHONG_DU_DIEU_KIEN')", "due_at, code"),
    "open": (f"status IN ({', '.join(repr(s) for s in OPEN_STATES)})", "due_at, code"),
    "closed": (f"status NOT IN ({', '.join(repr(s) for s in OPEN_STATES)})",
               "updated_at DESC, code"),
}


def queue(db: sqlite_utils.Database, name: str, *, me: int | None = None, role: str = "",
          procedure: str = "", field: str = "", received_from: str = "", received_to: str = "",
          limit: int = 200, offset: int = 0, columns: tuple[str, ...] = ()) -> list[dict]:
    """Dossiers of one work queue, with optional filters (dates are UTC ISO bounds).

    *columns* limits what is read (all by default): a page listing 500 dossiers needs a
    dozen short columns, not their steps and documents (bench/bench_node_scale.py: peak
    memory of a server under concurrent queue pages).
    """
    where, order = QUEUES[name]
    clauses = [where]
    params: dict = {"me": me, "role": role, "limit": limit, "offset": offset}
    if procedure:
        clauses.append("procedure_code = :procedure")
        params["procedure"] = procedure
    if field:
        clauses.append("field = :field")
        params["field"] = field
    if received_from:
        clauses.append("received_at >= :rfrom")
        params["rfrom"] = received_from
    if received_to:
        clauses.append("received_at < :rto")
        params["rto"] = received_to
    sql = (f"SELECT {', '.join(columns) or '*'} FROM dossiers WHERE {' AND '.join(clauses)}"
           f" ORDER BY {order} LIMIT :limit OFFSET :offset")
    return [decode(r) for r in rows(db, sql, params)]


_FIELDS: dict[str, tuple[int, frozenset[str]]] = {}
_FIELDS_LOCK = threading.Lock()


def fields_in_use(db: sqlite_utils.Database) -> list[str]:
    """The fields (lĩnh vực) of the dossiers held, sorted, for the queue filter.

    ``SELECT DISTINCT field`` read every dossier: 0.85 s per queue page at 200,000 dossiers
    (bench/bench_node_scale.py). The answer only grows when dossiers are added, so it is
    kept per database file with the highest rowid it has seen and topped up from the rows
    after it; a lower highest rowid (rows renumbered or removed) recomputes it.
    """
    path = db.conn.execute("PRAGMA database_list").fetchone()[2]
    top = db.conn.execute("SELECT max(rowid) FROM dossiers").fetchone()[0] or 0
    with _FIELDS_LOCK:
        seen, fields = _FIELDS.get(path, (-1, frozenset()))
    if seen > top or not path:
        seen, fields = -1, frozenset()
    if top != seen:
        fields = fields | {r[0] for r in db.conn.execute(
            "SELECT DISTINCT field FROM dossiers WHERE rowid > ? AND rowid <= ? AND field != ''",
            (max(seen, 0), top))}
        if path:
            with _FIELDS_LOCK:
                _FIELDS[path] = (top, fields)
    return sorted(fields)


def list_by_status(db: sqlite_utils.Database, statuses: tuple[str, ...] | None,
                   limit: int = 200, offset: int = 0) -> list[dict]:
    if statuses:
        marks = ", ".join("?" for _ in statuses)
        sql = (f"SELECT * FROM dossiers WHERE status IN ({marks})"
               " ORDER BY due_at, code LIMIT ? OFFSET ?")
        params = [*statuses, limit, offset]
    else:
        sql = "SELECT * FROM dossiers ORDER BY created_at DESC, code DESC LIMIT ? OFFSET ?"
        params = [limit, offset]
    return [decode(r) for r in rows(db, sql, params)]


def received_between(db: sqlite_utils.Database, start: str, end: str) -> list[dict]:
    """Accepted dossiers received in ``[start, end)`` (UTC ISO), for the log book (Mẫu 07)."""
    return [decode(r) for r in rows(
        db, "SELECT * FROM dossiers WHERE received_at >= ? AND received_at < ?"
        " AND status NOT IN ('HUONG_DAN_BO_SUNG', 'TU_CHOI_TIEP_NHAN', 'NHAP', 'CHO_TIEP_NHAN')"
        " ORDER BY received_at, code", (start, end))]


def decode(row: dict) -> dict:
    """Turn the JSON columns of a stored row back into lists (in place; returns the row)."""
    for key in JSON_COLUMNS:
        if key in row:
            row[key] = json.loads(row[key] or "[]")
    return row


def raise_seq(db: sqlite_utils.Database, agency_id: str, day: str, seq: int) -> None:
    """Make sure the next number of *agency_id* on *day* comes after *seq*."""
    db.conn.execute(
        "INSERT INTO code_sequences (agency_id, day, last_seq) VALUES (?, ?, ?)"
        " ON CONFLICT(agency_id, day) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
        (agency_id, day, seq))


def columns(db: sqlite_utils.Database) -> set[str]:
    return {r[1] for r in db.conn.execute("PRAGMA table_info(dossiers)")}


def has_event(db: sqlite_utils.Database, event_id: str) -> bool:
    return db.conn.execute("SELECT 1 FROM dossier_events WHERE event_id = ?",
                           (event_id,)).fetchone() is not None
