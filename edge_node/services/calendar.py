"""The node's working calendar: the holidays package, config sessions and overrides."""

from __future__ import annotations

from datetime import date, datetime

import sqlite_utils

from edge_node.domain.calendar import Override, WorkCalendar, parse_working_hours
from edge_node.domain.clock import to_iso
from edge_node.domain.text import nfc
from edge_node.store import audit, outbox
from edge_node.store.db import write_tx


class CalendarError(ValueError):
    """A refused override; ``message`` is Vietnamese for the admin page."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code


def load_overrides(db: sqlite_utils.Database) -> list[Override]:
    return [Override(date.fromisoformat(r["date"]), bool(r["working"]), r["note"])
            for r in db.query("SELECT * FROM calendar_overrides ORDER BY date")]


def load_calendar(db: sqlite_utils.Database, working_hours: str) -> WorkCalendar:
    """Build the calendar in force: overrides from the database win over the package, and
    working sessions pushed by the province win over the node's config."""
    from edge_node.store import settings

    hours = settings.get(db, "province.working_hours") or working_hours
    overrides = tuple(load_overrides(db))
    key = (hours, overrides)
    # Building a year's tables costs ~20 ms; pages and intake ask for the calendar on
    # every request, so reuse it until the hours or the overrides change.
    cal = _CALENDARS.get(key)
    if cal is None:
        if len(_CALENDARS) > 16:
            _CALENDARS.clear()
        cal = _CALENDARS[key] = WorkCalendar(overrides=overrides,
                                             hours=parse_working_hours(hours))
    return cal


_CALENDARS: dict[tuple, WorkCalendar] = {}


def set_override(db: sqlite_utils.Database, day: date, working: bool, note: str, *,
                 actor: str, now: datetime, source: str = "local") -> Override:
    """Record an extra day off (``working=False``) or an extra working day.

    An override that changes nothing (a day off on a holiday or weekend, a
    working day on an ordinary working day) and a second override for the same
    date are refused; the province's decision number belongs in *note*.
    """
    note = nfc(note or "")[:200]
    if not note:
        raise CalendarError("Hãy ghi lý do hoặc số văn bản quyết định.", "note_required")
    try:
        base = WorkCalendar().base_day_info(day)
    except ValueError as exc:
        raise CalendarError(f"Ngày không hợp lệ: {exc}", "bad_date") from None
    if base.working == working:
        what = "ngày làm việc" if working else "ngày nghỉ"
        raise CalendarError(f"Ngày {day:%d/%m/%Y} đã là {what} ({base.reason}); "
                            "không cần điều chỉnh.", "no_change")
    stamp = to_iso(now)
    with write_tx(db):
        if db.conn.execute("SELECT 1 FROM calendar_overrides WHERE date = ?",
                           (day.isoformat(),)).fetchone():
            raise CalendarError(f"Ngày {day:%d/%m/%Y} đã có điều chỉnh; hãy xóa điều chỉnh "
                                "cũ trước.", "exists")
        db.conn.execute(
            "INSERT INTO calendar_overrides (date, working, note, source, created_at, created_by)"
            " VALUES (?,?,?,?,?,?)", (day.isoformat(), int(working), note, source, stamp, actor))
        detail = {"date": day.isoformat(), "working": working, "note": note}
        audit.append(db, at=stamp, actor=actor, action="calendar.override_set",
                     obj=day.isoformat(), detail=detail)
        outbox.add(db, kind="calendar.override_set", payload=detail, at=stamp)
    return Override(day, working, note)


def remove_override(db: sqlite_utils.Database, day: date, *, actor: str, now: datetime) -> None:
    """Delete the override of *day* (the package decides that day again)."""
    stamp = to_iso(now)
    with write_tx(db):
        cur = db.conn.execute("DELETE FROM calendar_overrides WHERE date = ?",
                              (day.isoformat(),))
        if cur.rowcount == 0:
            raise CalendarError(f"Ngày {day:%d/%m/%Y} không có điều chỉnh.", "not_found")
        audit.append(db, at=stamp, actor=actor, action="calendar.override_removed",
                     obj=day.isoformat())
        outbox.add(db, kind="calendar.override_removed", payload={"date": day.isoformat()},
                   at=stamp)
