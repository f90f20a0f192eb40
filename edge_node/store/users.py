"""Accounts and login sessions (rows only; rules live in services.accounts)."""

from __future__ import annotations

import sqlite_utils


def get_by_username(db: sqlite_utils.Database, username: str) -> dict | None:
    rows = list(db.query("SELECT * FROM users WHERE username = ?", [username]))
    return rows[0] if rows else None


def get(db: sqlite_utils.Database, user_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM users WHERE id = ?", [user_id]))
    return rows[0] if rows else None


def list_all(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM users ORDER BY username"))


def insert(db: sqlite_utils.Database, row: dict) -> int:
    cur = db.conn.execute(
        "INSERT INTO users (username, full_name, role, password_hash, must_change_password,"
        " created_at, updated_at) VALUES (:username, :full_name, :role, :password_hash,"
        " :must_change_password, :created_at, :updated_at)",
        row,
    )
    return cur.lastrowid


def update(db: sqlite_utils.Database, user_id: int, **fields) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in fields)
    db.conn.execute(f"UPDATE users SET {sets} WHERE id = :id", {**fields, "id": user_id})


def count_admins(db: sqlite_utils.Database) -> int:
    return db.conn.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0"
    ).fetchone()[0]


def insert_session(db: sqlite_utils.Database, row: dict) -> None:
    db.conn.execute(
        "INSERT INTO sessions (token_hash, kind, user_id, csrf, created_at, last_seen_at,"
        " expires_at) VALUES (:token_hash, :kind, :user_id, :csrf, :created_at, :last_seen_at,"
        " :expires_at)",
        row,
    )


def get_session(db: sqlite_utils.Database, token_hash: str) -> dict | None:
    rows = list(db.query("SELECT * FROM sessions WHERE token_hash = ?", [token_hash]))
    return rows[0] if rows else None


def touch_session(db: sqlite_utils.Database, token_hash: str, last_seen_at: str,
                  expires_at: str) -> None:
    db.conn.execute(
        "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?",
        (last_seen_at, expires_at, token_hash),
    )


def delete_session(db: sqlite_utils.Database, token_hash: str) -> None:
    db.conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


def delete_sessions_of(db: sqlite_utils.Database, user_id: int) -> None:
    db.conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))


def delete_expired_sessions(db: sqlite_utils.Database, now_iso: str) -> None:
    db.conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now_iso,))
