"""Dossier projection rows, their events and the daily code sequence."""

from __future__ import annotations

import json

import sqlite_utils

OPEN_STATES = ("CHO_TIEP_NHAN", "DA_TIEP_NHAN", "DANG_XU_LY", "CHO_BO_SUNG",
               "CHO_NGHIA_VU_TAI_CHINH", "DUNG_XU_LY", "DA_XU_LY_XONG")


def next_seq(db: sqlite_utils.Database, agency_id: str, day: str) -> int:
    """Take the next number of *agency_id*'s sequence for local *day* (in a transaction)."""
    db.conn.execute(
        "INSERT INTO code_sequences (agency_id, day, last_seq) VALUES (?, ?, 1)"
        " ON CONFLICT(agency_id, day) DO UPDATE SET last_seq = last_seq + 1",
        (agency_id, day))
    return db.conn.execute(
        "SELECT last_seq FROM code_sequences WHERE agency_id = ? AND day = ?",
        (agency_id, day)).fetchone()[0]


def insert(db: sqlite_utils.Database, row: dict) -> None:
    row = {**row, "documents_received": json.dumps(row["documents_received"],
                                                   ensure_ascii=False)}
    cols = ", ".join(row)
    marks = ", ".join(f":{k}" for k in row)
    db.conn.execute(f"INSERT INTO dossiers ({cols}) VALUES ({marks})", row)


def add_event(db: sqlite_utils.Database, row: dict) -> int:
    row = {**row, "payload": json.dumps(row["payload"], ensure_ascii=False, sort_keys=True)}
    cur = db.conn.execute(
        "INSERT INTO dossier_events (event_id, dossier_code, type, actor_id, actor, actor_role,"
        " at, payload) VALUES (:event_id, :dossier_code, :type, :actor_id, :actor, :actor_role,"
        " :at, :payload)", row)
    return cur.lastrowid


def get(db: sqlite_utils.Database, code: str) -> dict | None:
    rows = list(db.query("SELECT * FROM dossiers WHERE code = ?", [code]))
    return _decode(rows[0]) if rows else None


def events(db: sqlite_utils.Database, code: str) -> list[dict]:
    out = []
    for row in db.query("SELECT * FROM dossier_events WHERE dossier_code = ? ORDER BY id",
                        [code]):
        row = dict(row)
        row["payload"] = json.loads(row["payload"])
        out.append(row)
    return out


def list_by_status(db: sqlite_utils.Database, statuses: tuple[str, ...] | None,
                   limit: int = 200, offset: int = 0) -> list[dict]:
    if statuses:
        marks = ", ".join("?" for _ in statuses)
        sql = (f"SELECT * FROM dossiers WHERE status IN ({marks})"
               " ORDER BY due_at, code LIMIT ? OFFSET ?")
        params = [*statuses, limit, offset]
    else:
        sql = "SELECT * FROM dossiers ORDER BY received_at DESC, code DESC LIMIT ? OFFSET ?"
        params = [limit, offset]
    return [_decode(r) for r in db.query(sql, params)]


def _decode(row: dict) -> dict:
    row = dict(row)
    row["documents_received"] = json.loads(row["documents_received"] or "[]")
    return row
