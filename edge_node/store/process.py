"""Internal process (quy trình nội bộ) steps per procedure."""

from __future__ import annotations

import sqlite_utils

from edge_node.domain.lifecycle import Step


def steps_of(db: sqlite_utils.Database, procedure_code: str) -> list[Step]:
    return [Step(*r) for r in db.conn.execute(
        "SELECT name, role, minutes FROM procedure_steps WHERE procedure_code = ?"
        " ORDER BY position", (procedure_code,))]


def replace(db: sqlite_utils.Database, procedure_code: str, steps: list[Step], at: str) -> None:
    """Replace a procedure's steps (inside a transaction)."""
    db.conn.execute("DELETE FROM procedure_steps WHERE procedure_code = ?", (procedure_code,))
    for position, step in enumerate(steps):
        db.conn.execute(
            "INSERT INTO procedure_steps (procedure_code, position, name, role, minutes,"
            " updated_at) VALUES (?,?,?,?,?,?)",
            (procedure_code, position, step.name, step.role, step.minutes, at))
