"""Procedure catalog rows, its folded FTS index and catalog versions."""

from __future__ import annotations

import json

import sqlite_utils

from edge_node.domain.catalog_formats import Procedure
from edge_node.domain.text import fold
from edge_node.store.db import first, rows


def current_version(db: sqlite_utils.Database) -> int:
    row = db.conn.execute("SELECT max(version) FROM catalog_versions").fetchone()
    return row[0] or 0


def add_version(db: sqlite_utils.Database, *, source: str, label: str, count: int, at: str,
                by: str) -> int:
    version = current_version(db) + 1
    db.conn.execute(
        "INSERT INTO catalog_versions (version, source, label, procedures, imported_at,"
        " imported_by) VALUES (?,?,?,?,?,?)", (version, source, label, count, at, by))
    return version


def upsert(db: sqlite_utils.Database, proc: Procedure, *, version: int, at: str) -> None:
    """Insert or replace one procedure and its search row (inside a transaction)."""
    db.conn.execute(
        "INSERT INTO procedures (code, name, field, level, time_limit_value, time_limit_unit,"
        " time_limit_inferred, fee_vnd, fee_note, documents, legal_basis, source,"
        " catalog_version, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(code) DO UPDATE SET name=excluded.name, field=excluded.field,"
        " level=excluded.level, time_limit_value=excluded.time_limit_value,"
        " time_limit_unit=excluded.time_limit_unit,"
        " time_limit_inferred=excluded.time_limit_inferred, fee_vnd=excluded.fee_vnd,"
        " fee_note=excluded.fee_note, documents=excluded.documents,"
        " legal_basis=excluded.legal_basis, source=excluded.source,"
        " catalog_version=excluded.catalog_version, updated_at=excluded.updated_at",
        (proc.code, proc.name, proc.field, proc.level, proc.time_limit_value,
         proc.time_limit_unit, int(proc.time_limit_inferred), proc.fee_vnd, proc.fee_note,
         json.dumps(proc.documents, ensure_ascii=False), proc.legal_basis, proc.source,
         version, at),
    )
    rowid = db.conn.execute("SELECT rowid FROM procedures WHERE code = ?",
                            (proc.code,)).fetchone()[0]
    db.conn.execute("DELETE FROM procedures_fts WHERE rowid = ?", (rowid,))
    db.conn.execute(
        "INSERT INTO procedures_fts (rowid, code, name_fold, field_fold) VALUES (?,?,?,?)",
        (rowid, proc.code, fold(proc.name) + " " + fold(proc.code), fold(proc.field)))


def get(db: sqlite_utils.Database, code: str) -> dict | None:
    row = first(db, "SELECT * FROM procedures WHERE code = ?", (code,))
    return _decode(row) if row else None


def count(db: sqlite_utils.Database) -> int:
    return db.conn.execute("SELECT count(*) FROM procedures").fetchone()[0]


def match(db: sqlite_utils.Database, fts_query: str, limit: int) -> list[tuple[str, str]]:
    """``(code, name)`` of the rows whose folded name or field match the FTS5 *fts_query*,
    best bm25 first (names only: the caller ranks them and reads whole rows with
    :func:`get_many` for the few it keeps)."""
    return db.conn.execute(
        "SELECT p.code, p.name FROM procedures_fts f JOIN procedures p ON p.rowid = f.rowid"
        " WHERE procedures_fts MATCH ? ORDER BY bm25(procedures_fts, 0, 1.0, 0.3) LIMIT ?",
        (fts_query, limit)).fetchall()


def get_many(db: sqlite_utils.Database, codes: list[str]) -> list[dict]:
    """Whole rows of *codes*, in the order given (unknown codes left out)."""
    if not codes:
        return []
    found = {r["code"]: r for r in rows(
        db, f"SELECT * FROM procedures WHERE code IN ({', '.join('?' for _ in codes)})", codes)}
    return [_decode(found[c]) for c in codes if c in found]


def list_page(db: sqlite_utils.Database, limit: int, offset: int = 0) -> list[dict]:
    return [_decode(r) for r in rows(
        db, "SELECT * FROM procedures ORDER BY field, name LIMIT ? OFFSET ?", (limit, offset))]


def versions(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM catalog_versions ORDER BY version DESC"))


def _decode(row: dict) -> dict:
    row = dict(row)
    row["documents"] = json.loads(row["documents"] or "[]")
    return row
