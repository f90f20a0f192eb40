"""Rows for work from the province: flags for a person, applicant notifications."""

from __future__ import annotations

import json

import sqlite_utils

from edge_node.store.dossiers import decode


def by_national_code(db: sqlite_utils.Database, national_code: str) -> dict | None:
    rows = list(db.query("SELECT * FROM dossiers WHERE national_code = ?", [national_code]))
    return decode(rows[0]) if rows else None


def add_flag(db: sqlite_utils.Database, *, at: str, kind: str, code: str, reason: str,
             payload: dict, dossier_code: str | None = None,
             national_code: str | None = None) -> int:
    """Keep a fact the node could not apply by itself, with the reason (in a transaction)."""
    cur = db.conn.execute(
        "INSERT INTO province_flags (at, kind, code, dossier_code, national_code, reason,"
        " payload) VALUES (?,?,?,?,?,?,?)",
        (at, kind, code, dossier_code, national_code, reason,
         json.dumps(payload, ensure_ascii=False, sort_keys=True)))
    return cur.lastrowid


def flags(db: sqlite_utils.Database, *, open_only: bool = True,
          dossier_code: str | None = None) -> list[dict]:
    sql = "SELECT * FROM province_flags"
    clauses, params = [], []
    if open_only:
        clauses.append("resolved_at IS NULL")
    if dossier_code:
        clauses.append("dossier_code = ?")
        params.append(dossier_code)
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    rows = [dict(r) for r in db.query(sql + " ORDER BY id DESC LIMIT 500", params)]
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


def resolve_flag(db: sqlite_utils.Database, flag_id: int, *, at: str, by: str) -> bool:
    cur = db.conn.execute("UPDATE province_flags SET resolved_at = ?, resolved_by = ?"
                          " WHERE id = ? AND resolved_at IS NULL", (at, by, flag_id))
    return cur.rowcount == 1


def add_notification(db: sqlite_utils.Database, row: dict) -> None:
    db.conn.execute(
        "INSERT INTO notifications (id, dossier_code, event_type, channel, recipient, text,"
        " created_at) VALUES (:id, :dossier_code, :event_type, :channel, :recipient, :text,"
        " :created_at)", row)


def notifications(db: sqlite_utils.Database, dossier_code: str) -> list[dict]:
    return [dict(r) for r in db.query(
        "SELECT * FROM notifications WHERE dossier_code = ? ORDER BY created_at, id",
        [dossier_code])]


def set_notification_status(db: sqlite_utils.Database, notification_id: str, status: str,
                            at: str, detail: str) -> bool:
    cur = db.conn.execute(
        "UPDATE notifications SET status = ?, status_at = ?, status_detail = ? WHERE id = ?"
        " AND (status_at IS NULL OR status_at <= ?)",
        (status, at, detail[:500], notification_id, at))
    return cur.rowcount == 1


def waiting_counts(db: sqlite_utils.Database) -> dict:
    """Online dossiers waiting for a clerk's answer and open flags, for the top bar."""
    row = db.conn.execute(
        "SELECT (SELECT count(*) FROM dossiers WHERE status = 'CHO_TIEP_NHAN'),"
        " (SELECT count(*) FROM dossiers WHERE pending_request != ''),"
        " (SELECT count(*) FROM province_flags WHERE resolved_at IS NULL)").fetchone()
    return {"to_receive": row[0], "requests": row[1], "flags": row[2]}
