"""Due dates, step deadlines, the dossier clock, extensions and timeliness.

All expected times are local (Asia/Ho_Chi_Minh) and worked out by hand with the default sessions
07:00-11:30 and 13:30-17:00 (8 working hours a day). 2026-03-02 is a Monday.
"""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from edge_node.domain.calendar import TZ, Override, WorkCalendar, parse_working_hours
from edge_node.domain.deadlines import (
    UNITS,
    ClockEvent,
    DeadlineError,
    check_extension,
    classify_completion,
    classify_step,
    clock_state,
    due_at,
    limit_minutes,
    open_status,
    step_deadlines,
    working_minutes_between,
)

CAL = WorkCalendar()
NGHE_AN = WorkCalendar(
    hours=parse_working_hours(
        "04-16..10-15=07:00-11:30,13:30-17:00;10-16..04-15=07:30-12:00,13:30-17:00"
    )
)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


# ----------------------------------------------------------------------------- due_at

DUE_TABLE = [
    # (id, received, value, unit, effective receipt, due)
    ("mon-0915+3d=thu-0915", local(2026, 3, 2, 9, 15), 3, "working_days",
     local(2026, 3, 2, 9, 15), local(2026, 3, 5, 9, 15)),
    ("2025-mon-0915+3d", local(2025, 3, 3, 9, 15), 3, "working_days",
     local(2025, 3, 3, 9, 15), local(2025, 3, 6, 9, 15)),
    ("mon-0700+4d=thu-1700-not-fri-0700", local(2026, 3, 2, 7, 0), 4, "working_days",
     local(2026, 3, 2, 7, 0), local(2026, 3, 5, 17, 0)),
    ("before-opening", local(2026, 3, 2, 6, 10), 1, "working_days",
     local(2026, 3, 2, 7, 0), local(2026, 3, 2, 17, 0)),
    ("mon-1330+1d=tue-1130-stays", local(2026, 3, 2, 13, 30), 1, "working_days",
     local(2026, 3, 2, 13, 30), local(2026, 3, 3, 11, 30)),
    ("lunch-1145", local(2026, 3, 2, 11, 45), 1, "working_days",
     local(2026, 3, 2, 13, 30), local(2026, 3, 3, 11, 30)),
    ("lunch-1145+1h", local(2026, 3, 2, 11, 45), 1, "working_hours",
     local(2026, 3, 2, 13, 30), local(2026, 3, 2, 14, 30)),
    ("1659+1d", local(2026, 3, 2, 16, 59), 1, "working_days",
     local(2026, 3, 2, 16, 59), local(2026, 3, 3, 16, 59)),
    ("1659+1h", local(2026, 3, 2, 16, 59), 1, "working_hours",
     local(2026, 3, 2, 16, 59), local(2026, 3, 3, 7, 59)),
    ("1700-exactly", local(2026, 3, 2, 17, 0), 1, "working_days",
     local(2026, 3, 3, 7, 0), local(2026, 3, 3, 17, 0)),
    ("1730", local(2026, 3, 2, 17, 30), 1, "working_days",
     local(2026, 3, 3, 7, 0), local(2026, 3, 3, 17, 0)),
    ("friday-1730", local(2026, 3, 6, 17, 30), 2, "working_days",
     local(2026, 3, 9, 7, 0), local(2026, 3, 10, 17, 0)),
    ("sunday", local(2026, 3, 8, 10, 0), 2, "working_days",
     local(2026, 3, 9, 7, 0), local(2026, 3, 10, 17, 0)),
    ("seconds-truncated", local(2026, 3, 2, 9, 15, 45), 1, "working_hours",
     local(2026, 3, 2, 9, 15), local(2026, 3, 2, 10, 15)),
    ("hours-over-lunch", local(2026, 3, 2, 10, 0), 3, "working_hours",
     local(2026, 3, 2, 10, 0), local(2026, 3, 2, 15, 0)),
    ("8h-is-one-day", local(2026, 3, 2, 9, 15), 8, "working_hours",
     local(2026, 3, 2, 9, 15), local(2026, 3, 3, 9, 15)),
    # Tết 2026: Fri 13/2 then Mon 23/2.
    ("tet-1d", local(2026, 2, 13, 10, 0), 1, "working_days",
     local(2026, 2, 13, 10, 0), local(2026, 2, 23, 10, 0)),
    ("tet-5d", local(2026, 2, 13, 10, 0), 5, "working_days",
     local(2026, 2, 13, 10, 0), local(2026, 2, 27, 10, 0)),
    ("received-during-tet", local(2026, 2, 18, 9, 0), 1, "working_days",
     local(2026, 2, 23, 7, 0), local(2026, 2, 23, 17, 0)),
    # Giỗ Tổ observed Mon 27/4, then 30/4-1/5: Tue 28, Wed 29, Mon 4/5.
    ("gio-to-and-30-4", local(2026, 4, 24, 9, 0), 3, "working_days",
     local(2026, 4, 24, 9, 0), local(2026, 5, 4, 9, 0)),
    # National Day 2026: Fri 28/8, then Thu 3/9 (Sat 29, Sun 30, swap Mon 31, 1/9, 2/9 off).
    ("national-day-2026", local(2026, 8, 27, 14, 0), 2, "working_days",
     local(2026, 8, 27, 14, 0), local(2026, 9, 3, 14, 0)),
    ("makeup-saturday", local(2026, 8, 21, 10, 0), 1, "working_days",
     local(2026, 8, 21, 10, 0), local(2026, 8, 22, 10, 0)),
    ("national-day-2025", local(2025, 8, 29, 10, 0), 1, "working_days",
     local(2025, 8, 29, 10, 0), local(2025, 9, 3, 10, 0)),
    ("national-day-2027", local(2027, 9, 1, 10, 0), 1, "working_days",
     local(2027, 9, 1, 10, 0), local(2027, 9, 6, 10, 0)),
    ("tet-2027", local(2027, 2, 3, 10, 0), 1, "working_days",
     local(2027, 2, 3, 10, 0), local(2027, 2, 11, 10, 0)),
    ("culture-day-2026", local(2026, 11, 23, 10, 0), 1, "working_days",
     local(2026, 11, 23, 10, 0), local(2026, 11, 25, 10, 0)),
    ("no-culture-day-2025", local(2025, 11, 21, 10, 0), 1, "working_days",
     local(2025, 11, 21, 10, 0), local(2025, 11, 24, 10, 0)),
    ("across-new-year", local(2026, 12, 31, 10, 0), 1, "working_days",
     local(2026, 12, 31, 10, 0), local(2027, 1, 4, 10, 0)),
    # same_day: end of the day, or of the next working day after 15:00.
    ("same-day-morning", local(2026, 3, 2, 10, 0), 1, "same_day",
     local(2026, 3, 2, 10, 0), local(2026, 3, 2, 17, 0)),
    ("same-day-before-opening", local(2026, 3, 2, 6, 0), 1, "same_day",
     local(2026, 3, 2, 7, 0), local(2026, 3, 2, 17, 0)),
    ("same-day-1500", local(2026, 3, 2, 15, 0, 59), 1, "same_day",
     local(2026, 3, 2, 15, 0), local(2026, 3, 2, 17, 0)),
    ("same-day-1501", local(2026, 3, 2, 15, 1), 1, "same_day",
     local(2026, 3, 2, 15, 1), local(2026, 3, 3, 17, 0)),
    ("same-day-1800", local(2026, 3, 2, 18, 0), 1, "same_day",
     local(2026, 3, 3, 7, 0), local(2026, 3, 3, 17, 0)),
    ("same-day-sunday", local(2026, 3, 8, 9, 0), 1, "same_day",
     local(2026, 3, 9, 7, 0), local(2026, 3, 9, 17, 0)),
    ("same-day-friday-before-tet", local(2026, 2, 13, 15, 30), 1, "same_day",
     local(2026, 2, 13, 15, 30), local(2026, 2, 23, 17, 0)),
    ("same-day-friday-before-makeup-sat", local(2026, 8, 21, 16, 0), 1, "same_day",
     local(2026, 8, 21, 16, 0), local(2026, 8, 22, 17, 0)),
    ("same-day-value-ignored", local(2026, 3, 2, 10, 0), None, "same_day",
     local(2026, 3, 2, 10, 0), local(2026, 3, 2, 17, 0)),
    # calendar_days: add days keeping the time, move off a day off.
    ("cal-3", local(2026, 3, 2, 9, 15), 3, "calendar_days",
     local(2026, 3, 2, 9, 15), local(2026, 3, 5, 9, 15)),
    ("cal-5-lands-saturday", local(2026, 3, 2, 9, 15), 5, "calendar_days",
     local(2026, 3, 2, 9, 15), local(2026, 3, 9, 9, 15)),
    ("cal-lands-on-swap-day", local(2026, 8, 28, 10, 0), 3, "calendar_days",
     local(2026, 8, 28, 10, 0), local(2026, 9, 3, 10, 0)),
    ("cal-lands-in-tet", local(2026, 2, 13, 10, 0), 2, "calendar_days",
     local(2026, 2, 13, 10, 0), local(2026, 2, 23, 10, 0)),
    ("cal-after-hours-counts-from-effective", local(2026, 3, 6, 17, 30), 1, "calendar_days",
     local(2026, 3, 9, 7, 0), local(2026, 3, 10, 7, 0)),
    ("cal-lunch", local(2026, 3, 2, 11, 45), 15, "calendar_days",
     local(2026, 3, 2, 13, 30), local(2026, 3, 17, 13, 30)),
]


@pytest.mark.parametrize(
    ("received", "value", "unit", "effective", "due"),
    [row[1:] for row in DUE_TABLE],
    ids=[row[0] for row in DUE_TABLE],
)
def test_due_at_table(
    received: datetime, value: int, unit: str, effective: datetime, due: datetime
) -> None:
    result = due_at(received, value, unit, CAL)
    assert result.received_effective_at == effective
    assert result.due_at == due
    assert result.due_at.tzinfo is UTC
    assert result.received_effective_at.tzinfo is UTC


def test_receipt_in_any_timezone_gives_the_same_result() -> None:
    utc = datetime(2026, 3, 2, 2, 15, tzinfo=UTC)  # 09:15 local
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert due_at(utc, 3, "working_days", CAL) == due_at(paris, 3, "working_days", CAL)
    assert due_at(utc, 3, "working_days", CAL).due_at == local(2026, 3, 5, 9, 15)


@pytest.mark.parametrize(
    ("received", "value", "unit", "due"),
    [
        # Thu 15/10 is the last summer day (07:00-11:30): 3 h worked by 10:00, 5 h left that day,
        # 3 h on Fri 16/10 in winter hours (from 07:30) → 10:30.
        (local(2026, 10, 15, 10, 0), 1, "working_days", local(2026, 10, 16, 10, 30)),
        # Winter 07:30-12:00: 11:45 is still working time.
        (local(2026, 12, 1, 11, 45), 1, "working_hours", local(2026, 12, 1, 14, 15)),
        (local(2026, 12, 1, 7, 10), 1, "same_day", local(2026, 12, 1, 17, 0)),
        # Kept time 07:10 is before the winter opening 07:30 → end of that working day.
        (local(2026, 10, 15, 7, 10), 1, "calendar_days", local(2026, 10, 16, 17, 0)),
        # Kept time 11:45 falls in the summer lunch break → end of that working day.
        (local(2026, 4, 15, 11, 45), 1, "calendar_days", local(2026, 4, 16, 17, 0)),
        (local(2026, 4, 15, 9, 0), 1, "calendar_days", local(2026, 4, 16, 9, 0)),
    ],
)
def test_seasonal_hours(received: datetime, value: int, unit: str, due: datetime) -> None:
    assert due_at(received, value, unit, NGHE_AN).due_at == due


def test_overrides_move_due_dates() -> None:
    cal = WorkCalendar(
        [
            Override(date(2026, 3, 3), False, "Nghỉ lễ hội địa phương"),
            Override(date(2026, 9, 2), True, "Làm việc ngày 2/9"),
        ]
    )
    assert due_at(local(2026, 3, 2, 9, 15), 3, "working_days", cal).due_at == local(
        2026, 3, 6, 9, 15
    )
    assert due_at(local(2026, 8, 28, 10, 0), 1, "working_days", cal).due_at == local(
        2026, 9, 2, 10, 0
    )


def test_calendar_days_is_not_monotonic_in_receipt_time() -> None:
    # Documented consequence of keeping the time of day when a weekend is skipped.
    earlier = due_at(local(2026, 3, 5, 16, 0), 3, "calendar_days", CAL).due_at
    later = due_at(local(2026, 3, 6, 8, 0), 3, "calendar_days", CAL).due_at
    assert earlier == local(2026, 3, 9, 16, 0)
    assert later == local(2026, 3, 9, 8, 0)


@pytest.mark.parametrize(
    ("received", "value", "unit", "message"),
    [
        (datetime(2026, 3, 2, 9, 15), 3, "working_days", "timezone-aware"),
        (local(2026, 3, 2, 9, 15), 0, "working_days", "must be > 0"),
        (local(2026, 3, 2, 9, 15), -2, "working_hours", "must be > 0"),
        (local(2026, 3, 2, 9, 15), 0, "calendar_days", "must be > 0"),
        (local(2026, 3, 2, 9, 15), 1.5, "working_days", "whole number"),
        (local(2026, 3, 2, 9, 15), True, "working_days", "whole number"),
        (local(2026, 3, 2, 9, 15), "3", "working_days", "whole number"),
        (local(2026, 3, 2, 9, 15), None, "working_hours", "whole number"),
        (local(2026, 3, 2, 9, 15), 3, "weeks", "unknown limit unit 'weeks'"),
        (local(2026, 3, 2, 9, 15), 3, "ngày làm việc", "unknown limit unit"),
        (local(2099, 12, 30, 9, 0), 5, "working_days", "outside the supported calendar range"),
        ("2026-03-02 09:15", 3, "working_days", "must be a datetime"),
    ],
)
def test_due_at_bad_inputs(received: object, value: object, unit: str, message: str) -> None:
    with pytest.raises(DeadlineError, match=message):
        due_at(received, value, unit, CAL)  # type: ignore[arg-type]


def test_deadline_error_is_a_value_error() -> None:
    assert issubclass(DeadlineError, ValueError)
    assert UNITS == ("working_days", "working_hours", "same_day", "calendar_days")


def test_limit_minutes() -> None:
    assert limit_minutes(3, "working_days") == 1440
    assert limit_minutes(5, "working_hours") == 300
    with pytest.raises(DeadlineError, match="no fixed length"):
        limit_minutes(1, "same_day")


# --------------------------------------------------------------------- step deadlines


def test_step_deadlines_same_day_certification() -> None:
    # QĐ 663 shape: 2 h + 3 h + 2 h + 1 h = one working day.
    start = local(2026, 3, 2, 8, 0)
    steps = step_deadlines(start, [120, 180, 120, 60], CAL)
    assert steps == [
        local(2026, 3, 2, 10, 0),
        local(2026, 3, 2, 15, 0),  # 1 h 30 before lunch, 1 h 30 after
        local(2026, 3, 2, 17, 0),  # lands on the session end and stays there
        local(2026, 3, 3, 8, 0),
    ]
    assert steps[-1] == due_at(start, 1, "working_days", CAL).due_at
    assert all(s.tzinfo is UTC for s in steps)


def test_step_deadlines_zero_minute_steps() -> None:
    steps = step_deadlines(local(2026, 3, 2, 17, 30), [0, 60, 0], CAL)
    assert steps == [local(2026, 3, 3, 7, 0), local(2026, 3, 3, 8, 0), local(2026, 3, 3, 8, 0)]
    assert step_deadlines(local(2026, 3, 2, 9, 0), [], CAL) == []


def test_step_deadlines_bad_inputs() -> None:
    with pytest.raises(DeadlineError, match="step 1"):
        step_deadlines(local(2026, 3, 2, 9, 0), [60, -1], CAL)
    with pytest.raises(DeadlineError, match="step 0"):
        step_deadlines(local(2026, 3, 2, 9, 0), [0.5], CAL)  # type: ignore[list-item]
    with pytest.raises(DeadlineError, match="timezone-aware"):
        step_deadlines(datetime(2026, 3, 2, 9, 0), [60], CAL)


def test_working_minutes_between_wrapper() -> None:
    assert working_minutes_between(local(2026, 2, 13, 16, 0), local(2026, 2, 23, 8, 0), CAL) == 120
    with pytest.raises(DeadlineError, match="timezone-aware"):
        working_minutes_between(datetime(2026, 2, 13), local(2026, 2, 23), CAL)


# ------------------------------------------------------------------------------ clock

RECEIVED = ClockEvent("received", local(2026, 3, 2, 9, 15))  # 3 working days → Thu 5/3 09:15


def state(events: list[ClockEvent], as_of: datetime, **kw: object):
    return clock_state(events, 3, "working_days", CAL, as_of, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("as_of", "status", "remaining"),
    [
        (local(2026, 3, 2, 10, 15), "within_time", 3 * 480 - 60),
        (local(2026, 3, 4, 9, 15), "due_soon", 480),  # exactly one working day left
        (local(2026, 3, 4, 10, 0), "due_soon", 435),
        (local(2026, 3, 5, 9, 15), "due_soon", 0),  # the due instant is still in time
        (local(2026, 3, 5, 10, 0), "overdue", -45),
        (local(2026, 3, 9, 7, 0), "overdue", -(135 + 210 + 480)),  # rest of Thu, all of Fri
    ],
)
def test_clock_open(as_of: datetime, status: str, remaining: int) -> None:
    s = state([RECEIVED], as_of)
    assert s.due_at == local(2026, 3, 5, 9, 15)
    assert s.received_effective_at == local(2026, 3, 2, 9, 15)
    assert (s.status, s.remaining_working_minutes) == (status, remaining)
    assert s.extension_used is False
    assert s.paused_intervals == ()


def test_clock_overdue_outside_working_hours() -> None:
    s = clock_state(
        [ClockEvent("received", local(2026, 3, 2, 7, 0))], 3, "working_days", CAL,
        local(2026, 3, 4, 18, 0),
    )
    assert s.due_at == local(2026, 3, 4, 17, 0)
    assert (s.status, s.remaining_working_minutes) == ("overdue", 0)


def test_clock_due_soon_threshold_is_configurable() -> None:
    s = state([RECEIVED], local(2026, 3, 3, 9, 15), due_soon_working_minutes=960)
    assert s.status == "due_soon"
    assert state([RECEIVED], local(2026, 3, 3, 9, 15)).status == "within_time"


SUPPLEMENT = [
    RECEIVED,
    ClockEvent("supplement_requested", local(2026, 3, 3, 9, 15)),  # 960 min left
    ClockEvent("supplement_received", local(2026, 3, 9, 10, 0)),
]


def test_supplement_restart_model() -> None:
    s = state(SUPPLEMENT, local(2026, 3, 9, 11, 0))
    assert s.due_at == local(2026, 3, 12, 10, 0)  # full 3 working days from Mon 9/3 10:00
    assert s.clock_started_at == local(2026, 3, 9, 10, 0)
    assert s.received_effective_at == local(2026, 3, 2, 9, 15)
    assert s.remaining_working_minutes == 3 * 480 - 60
    assert s.status == "within_time"
    assert s.paused_intervals == ((local(2026, 3, 3, 9, 15), local(2026, 3, 9, 10, 0)),)


def test_supplement_pause_model() -> None:
    s = state(SUPPLEMENT, local(2026, 3, 9, 11, 0), supplement_model="pause")
    # 960 working minutes were left when paused; they resume Mon 9/3 10:00 → Wed 11/3 10:00.
    assert s.due_at == local(2026, 3, 11, 10, 0)
    assert s.clock_started_at == local(2026, 3, 2, 9, 15)
    assert s.remaining_working_minutes == 960 - 60


def test_clock_paused() -> None:
    s = state(SUPPLEMENT[:2], local(2026, 3, 6, 16, 0))
    assert s.status == "paused"
    assert s.due_at == local(2026, 3, 5, 9, 15)
    assert s.remaining_working_minutes == 960  # frozen at the start of the pause
    assert s.paused_intervals == ((local(2026, 3, 3, 9, 15), None),)
    # Events after as_of are not applied.
    assert state(SUPPLEMENT, local(2026, 3, 6, 16, 0)) == s


PAYMENT = [
    RECEIVED,
    ClockEvent("payment_requested", local(2026, 3, 3, 9, 15)),
    ClockEvent("payment_received", local(2026, 3, 3, 14, 15)),  # 180 working minutes later
]


def test_payment_pauses_only_when_configured() -> None:
    as_of = local(2026, 3, 3, 15, 0)
    ignored = state(PAYMENT, as_of)
    assert ignored.due_at == local(2026, 3, 5, 9, 15)
    assert ignored.paused_intervals == ()
    paused = state(PAYMENT, as_of, payment_pauses=True)
    assert paused.due_at == local(2026, 3, 5, 14, 15)
    assert paused.paused_intervals == ((local(2026, 3, 3, 9, 15), local(2026, 3, 3, 14, 15)),)
    # Payment uses the pause model even when supplements restart.
    assert paused.clock_started_at == local(2026, 3, 2, 9, 15)
    assert state(PAYMENT[:2], as_of, payment_pauses=True).status == "paused"


def test_extension_in_clock() -> None:
    new_due = local(2026, 3, 9, 17, 0)
    events = [RECEIVED, ClockEvent("extended", local(2026, 3, 3, 10, 0), new_due)]
    s = state(events, local(2026, 3, 6, 9, 0))
    assert s.due_at == new_due
    assert s.extension_used is True
    assert s.status == "within_time"
    twice = [*events, ClockEvent("extended", local(2026, 3, 4, 10, 0), local(2026, 3, 10, 17, 0))]
    with pytest.raises(DeadlineError, match="only one is allowed"):
        state(twice, local(2026, 3, 6, 9, 0))


@pytest.mark.parametrize("kind", ["completed", "withdrawn", "stopped"])
def test_clock_ended(kind: str) -> None:
    events = [RECEIVED, ClockEvent(kind, local(2026, 3, 4, 10, 0))]
    s = state(events, local(2026, 3, 20, 9, 0))
    assert (s.status, s.end_kind) == ("ended", kind)
    assert s.ended_at == local(2026, 3, 4, 10, 0)
    assert s.remaining_working_minutes == 435  # frozen at the end


def test_clock_end_closes_an_open_pause() -> None:
    events = [*SUPPLEMENT[:2], ClockEvent("withdrawn", local(2026, 3, 4, 8, 0))]
    s = state(events, local(2026, 3, 20, 9, 0))
    assert s.status == "ended"
    assert s.paused_intervals == ((local(2026, 3, 3, 9, 15), local(2026, 3, 4, 8, 0)),)


def test_clock_ignores_events_before_acceptance_and_sorts() -> None:
    events = [
        ClockEvent("supplement_received", local(2026, 2, 27, 9, 0)),
        RECEIVED,
        ClockEvent("supplement_requested", local(2026, 2, 26, 9, 0)),  # before acceptance
    ]
    s = state(events, local(2026, 3, 2, 10, 15))
    assert (s.status, s.due_at) == ("within_time", local(2026, 3, 5, 9, 15))


@pytest.mark.parametrize(
    ("events", "as_of", "kw", "message"),
    [
        ([], local(2026, 3, 2, 10, 0), {}, "no 'received' event"),
        ([RECEIVED], local(2026, 3, 1, 10, 0), {}, "before the receipt"),
        ([RECEIVED], datetime(2026, 3, 2, 10, 0), {}, "timezone-aware"),
        ([ClockEvent("received", datetime(2026, 3, 2, 9, 0))], local(2026, 3, 2, 10, 0), {},
         "timezone-aware"),
        ([RECEIVED, ClockEvent("reopened", local(2026, 3, 2, 10, 0))], local(2026, 3, 3), {},
         "unknown clock event kind 'reopened'"),
        ([RECEIVED, ClockEvent("received", local(2026, 3, 2, 10, 0))], local(2026, 3, 3), {},
         "second 'received'"),
        ([RECEIVED, ClockEvent("supplement_received", local(2026, 3, 2, 10, 0))],
         local(2026, 3, 3), {}, "without an open 'supplement_requested'"),
        ([*SUPPLEMENT[:2], ClockEvent("supplement_requested", local(2026, 3, 4))],
         local(2026, 3, 5), {}, "pause is still open"),
        ([RECEIVED, ClockEvent("completed", local(2026, 3, 3)),
          ClockEvent("supplement_requested", local(2026, 3, 4))],
         local(2026, 3, 5), {}, "after the clock ended"),
        ([RECEIVED, ClockEvent("extended", local(2026, 3, 3))], local(2026, 3, 5), {},
         "needs new_due_at"),
        ([RECEIVED], local(2026, 3, 5), {"supplement_model": "freeze"}, "unknown supplement model"),
    ],
)
def test_clock_bad_histories(
    events: list[ClockEvent], as_of: datetime, kw: dict, message: str
) -> None:
    with pytest.raises(DeadlineError, match=message):
        state(events, as_of, **kw)


# -------------------------------------------------------------------------- extension

DUE = local(2026, 3, 5, 9, 15)
LATER = local(2026, 3, 12, 17, 0)


@pytest.mark.parametrize(
    "requested",
    [
        local(2026, 3, 3, 9, 15),  # two working days before
        local(2026, 3, 4, 9, 15),  # exactly 8 working hours before
        local(2026, 3, 3, 20, 0),  # evening: Wed counts in full
    ],
)
def test_extension_allowed(requested: datetime) -> None:
    assert check_extension(requested, DUE, LATER, False, CAL) is None


def test_extension_over_tet_counts_working_time() -> None:
    due = local(2026, 2, 23, 10, 0)
    check_extension(local(2026, 2, 13, 10, 0), due, local(2026, 2, 27, 17, 0), False, CAL)
    with pytest.raises(DeadlineError, match="at least 1 working day"):
        check_extension(local(2026, 2, 13, 10, 1), due, local(2026, 2, 27, 17, 0), False, CAL)


@pytest.mark.parametrize(
    ("requested", "new_due", "already", "message"),
    [
        (local(2026, 3, 3, 9, 15), LATER, True, "already extended once"),
        (local(2026, 3, 4, 9, 16), LATER, False, r"only 7 h 59 min"),
        (local(2026, 3, 5, 8, 0), LATER, False, "at least 1 working day"),
        (local(2026, 3, 6, 8, 0), LATER, False, r"only 0 h 00 min"),  # after the due time
        (local(2026, 3, 3, 9, 15), DUE, False, "must be after the current one"),
        (local(2026, 3, 3, 9, 15), local(2026, 3, 4, 17, 0), False, "must be after"),
        (datetime(2026, 3, 3, 9, 15), LATER, False, "timezone-aware"),
    ],
)
def test_extension_refused(
    requested: datetime, new_due: datetime, already: bool, message: str
) -> None:
    with pytest.raises(DeadlineError, match=message):
        check_extension(requested, DUE, new_due, already, CAL)


# ------------------------------------------------------------------------- timeliness


@pytest.mark.parametrize(
    ("done", "expected"),
    [
        (local(2026, 3, 4, 16, 59), "early"),
        (local(2026, 3, 5, 0, 1), "on_time"),
        (local(2026, 3, 5, 16, 59), "on_time"),  # later than 09:15 but the same date
        (local(2026, 3, 6, 7, 0), "late"),
        # 17:30 UTC on 4/3 is 00:30 on 5/3 in Vietnam: local dates decide.
        (datetime(2026, 3, 4, 17, 30, tzinfo=UTC), "on_time"),
    ],
)
def test_classify_completion(done: datetime, expected: str) -> None:
    assert classify_completion(done, DUE) == expected


@pytest.mark.parametrize(
    ("spent", "allotted", "expected"),
    [(59, 60, "early"), (60, 60, "on_time"), (61, 60, "late"), (0, 0, "on_time")],
)
def test_classify_step(spent: int, allotted: int, expected: str) -> None:
    assert classify_step(spent, allotted) == expected


def test_classify_step_bad_input() -> None:
    with pytest.raises(DeadlineError, match="spent_minutes"):
        classify_step(-1, 60)
    with pytest.raises(DeadlineError, match="allotted_minutes"):
        classify_step(1, 1.5)  # type: ignore[arg-type]


def test_open_status_and_naive_inputs() -> None:
    assert open_status(DUE, DUE) == "within_time"
    assert open_status(DUE, DUE + timedelta(seconds=1)) == "overdue"
    with pytest.raises(DeadlineError, match="timezone-aware"):
        open_status(DUE, datetime(2026, 3, 5))
    with pytest.raises(DeadlineError, match="timezone-aware"):
        classify_completion(datetime(2026, 3, 5), DUE)
