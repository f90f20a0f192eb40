"""The node's working calendar: the holidays package, config sessions and overrides."""

from __future__ import annotations

import sqlite_utils

from edge_node.domain.calendar import Override, WorkCalendar, parse_working_hours


def load_overrides(db: sqlite_utils.Database) -> list[Override]:
    from datetime import date

    return [Override(date.fromisoformat(r["date"]), bool(r["working"]), r["note"])
            for r in db.query("SELECT * FROM calendar_overrides ORDER BY date")]


def load_calendar(db: sqlite_utils.Database, working_hours: str) -> WorkCalendar:
    """Build the calendar in force: overrides from the database win over the package."""
    return WorkCalendar(overrides=load_overrides(db), hours=parse_working_hours(working_hours))
