"""Rows of population-data grants and look-ups (rules live in services.population)."""

from __future__ import annotations

import sqlite_utils


def active_grant(db: sqlite_utils.Database, user_id: int, today: str) -> dict | None:
    """The user's grant in force on *today* (``YYYY-MM-DD``, inclusive), if any."""
    rows = list(db.query(
        "SELECT * FROM population_grants WHERE user_id = ? AND revoked_at IS NULL"
        " AND valid_until >= ? ORDER BY valid_until DESC LIMIT 1", [user_id, today]))
    return rows[0] if rows else None


def open_grants_of(db: sqlite_utils.Database, user_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM population_grants WHERE user_id = ? AND revoked_at"
                         " IS NULL ORDER BY id", [user_id]))


def grants(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query(
        "SELECT g.*, u.username, u.full_name FROM population_grants g JOIN users u"
        " ON u.id = g.user_id ORDER BY g.revoked_at IS NOT NULL, u.username, g.id DESC"))


def insert_grant(db: sqlite_utils.Database, row: dict) -> int:
    return db.conn.execute(
        "INSERT INTO population_grants (user_id, decision, valid_until, granted_by, granted_at)"
        " VALUES (:user_id, :decision, :valid_until, :granted_by, :granted_at)", row).lastrowid


def revoke_grants(db: sqlite_utils.Database, user_id: int, *, at: str, by: str,
                  decision: str) -> int:
    return db.conn.execute(
        "UPDATE population_grants SET revoked_at = ?, revoked_by = ?, revoke_decision = ?"
        " WHERE user_id = ? AND revoked_at IS NULL", (at, by, decision, user_id)).rowcount


def insert_lookup(db: sqlite_utils.Database, row: dict) -> int:
    return db.conn.execute(
        "INSERT INTO population_lookups (request_id, dossier_code, user_id, username, purpose,"
        " service_code, id_masked, requested_at) VALUES (:request_id, :dossier_code, :user_id,"
        " :username, :purpose, :service_code, :id_masked, :requested_at)", row).lastrowid


def lookup(db: sqlite_utils.Database, lookup_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM population_lookups WHERE id = ?", [lookup_id]))
    return rows[0] if rows else None


def lookup_by_request(db: sqlite_utils.Database, request_id: str) -> dict | None:
    rows = list(db.query("SELECT * FROM population_lookups WHERE request_id = ?", [request_id]))
    return rows[0] if rows else None


def lookups_of(db: sqlite_utils.Database, dossier_code: str) -> list[dict]:
    return list(db.query("SELECT * FROM population_lookups WHERE dossier_code = ?"
                         " ORDER BY id DESC", [dossier_code]))


def all_lookups(db: sqlite_utils.Database, limit: int = 100_000) -> list[dict]:
    return list(db.query("SELECT id, request_id, dossier_code, username, purpose, service_code,"
                         " id_masked, requested_at, status, answered_at FROM population_lookups"
                         " ORDER BY id DESC LIMIT ?", [limit]))


def set_answer(db: sqlite_utils.Database, lookup_id: int, *, status: str, at: str,
               answer_ct: str) -> None:
    db.conn.execute("UPDATE population_lookups SET status = ?, answered_at = ?, answer_ct = ?"
                    " WHERE id = ?", (status, at, answer_ct, lookup_id))
