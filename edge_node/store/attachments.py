"""Attachment rows (metadata and transfer state); the bytes are in ``store/blobs``."""

from __future__ import annotations

import sqlite_utils

COLUMNS = ("id", "dossier_code", "sha256", "size", "mime", "original_name", "label",
           "uploaded_at", "uploaded_by", "event_id")


def insert(db: sqlite_utils.Database, row: dict) -> None:
    """Insert one attachment row; call inside a write transaction."""
    db.conn.execute(
        f"INSERT INTO attachments ({', '.join(COLUMNS)}) VALUES "
        f"({', '.join(':' + c for c in COLUMNS)})", {c: row[c] for c in COLUMNS})


def live(db: sqlite_utils.Database, code: str, sha256: str) -> dict | None:
    rows = list(db.query("SELECT * FROM attachments WHERE dossier_code = ? AND sha256 = ?"
                         " AND removed_at IS NULL", [code, sha256]))
    return rows[0] if rows else None


def get(db: sqlite_utils.Database, attachment_id: str) -> dict | None:
    rows = list(db.query("SELECT * FROM attachments WHERE id = ?", [attachment_id]))
    return rows[0] if rows else None


def for_dossier(db: sqlite_utils.Database, code: str, *, include_removed: bool = True
                ) -> list[dict]:
    sql = "SELECT * FROM attachments WHERE dossier_code = ?"
    if not include_removed:
        sql += " AND removed_at IS NULL"
    return list(db.query(sql + " ORDER BY uploaded_at, id", [code]))


def by_hash(db: sqlite_utils.Database, code: str, sha256: str) -> dict | None:
    """The newest row of *code* with this hash (live first), for downloads."""
    rows = list(db.query("SELECT * FROM attachments WHERE dossier_code = ? AND sha256 = ?"
                         " ORDER BY removed_at IS NOT NULL, uploaded_at DESC LIMIT 1",
                         [code, sha256]))
    return rows[0] if rows else None


def mark_removed(db: sqlite_utils.Database, attachment_id: str, at: str, by: str,
                 reason: str) -> None:
    db.conn.execute("UPDATE attachments SET removed_at = ?, removed_by = ?, removed_reason = ?"
                    " WHERE id = ? AND removed_at IS NULL", (at, by, reason, attachment_id))


def ready_to_send(db: sqlite_utils.Database) -> list[dict]:
    """One row per file hash still to transfer whose announcement the hub acknowledged.

    The hub only takes bytes it was told about, so the ``attachment.added`` event must be
    acknowledged first (pushing batches comes before uploading in a sync round).
    """
    return list(db.query(
        "SELECT a.sha256, max(a.size) AS size, min(a.sent_bytes) AS sent_bytes"
        " FROM attachments a JOIN outbox o ON o.event_id = a.event_id"
        " WHERE a.transfer_state = 'pending' AND o.acked_at IS NOT NULL"
        " GROUP BY a.sha256 ORDER BY min(o.seq)"))


def set_progress(db: sqlite_utils.Database, sha256: str, sent_bytes: int, *,
                 chunks: int = 0, error: str = "") -> None:
    db.conn.execute("UPDATE attachments SET sent_bytes = ?, chunks_sent = chunks_sent + ?,"
                    " transfer_error = ? WHERE sha256 = ? AND transfer_state = 'pending'",
                    (sent_bytes, chunks, error, sha256))


def mark_sent(db: sqlite_utils.Database, sha256: str, at: str) -> None:
    db.conn.execute("UPDATE attachments SET transfer_state = 'sent', sent_bytes = size,"
                    " sent_at = ?, transfer_error = '' WHERE sha256 = ? AND"
                    " transfer_state = 'pending'", (at, sha256))


def mark_failed(db: sqlite_utils.Database, sha256: str, error: str) -> None:
    db.conn.execute("UPDATE attachments SET transfer_state = 'failed', transfer_error = ?"
                    " WHERE sha256 = ? AND transfer_state = 'pending'", (error, sha256))


def reopen_from(db: sqlite_utils.Database, seq: int) -> None:
    """Send again the files whose announcement the hub lost (it went back to *seq*)."""
    db.conn.execute("UPDATE attachments SET transfer_state = 'pending', sent_bytes = 0,"
                    " sent_at = NULL WHERE event_id IN (SELECT event_id FROM outbox"
                    " WHERE seq >= ?)", (seq,))


def transfer_totals(db: sqlite_utils.Database) -> dict:
    """Files still to send to the province: count, bytes in total and bytes already sent."""
    row = db.conn.execute(
        "SELECT count(*), coalesce(sum(size), 0), coalesce(sum(sent_bytes), 0) FROM"
        " (SELECT sha256, max(size) AS size, min(sent_bytes) AS sent_bytes FROM attachments"
        " WHERE transfer_state = 'pending' GROUP BY sha256)").fetchone()
    failed = db.conn.execute("SELECT count(DISTINCT sha256) FROM attachments WHERE"
                             " transfer_state = 'failed'").fetchone()[0]
    return {"pending_files": row[0], "total_bytes": row[1], "sent_bytes": row[2],
            "failed_files": failed}


def referenced(db: sqlite_utils.Database) -> set[str]:
    return {r[0] for r in db.conn.execute("SELECT DISTINCT sha256 FROM attachments")}
