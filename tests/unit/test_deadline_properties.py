"""Properties of the due-date arithmetic over random receipts in 2025-2027.

Run against the default calendar and a seasonal one with province overrides, so that summer /
winter hours and overrides are exercised too.
"""

from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_node.domain.calendar import (
    TZ,
    Override,
    WorkCalendar,
    format_working_hours,
    parse_working_hours,
)
from edge_node.domain.deadlines import due_at, limit_minutes, step_deadlines

SETTINGS = settings(max_examples=200, deadline=None)

DEFAULT = WorkCalendar()
SEASONAL = WorkCalendar(
    [
        Override(date(2025, 2, 8), True, "Làm bù thứ Bảy 8/2/2025"),
        Override(date(2026, 3, 10), False, "Nghỉ lễ hội địa phương"),
        Override(date(2026, 9, 2), True, "Trực"),
        Override(date(2027, 2, 13), True, "Làm bù thứ Bảy"),
    ],
    parse_working_hours(
        "04-16..10-15=07:00-11:30,13:30-17:00;10-16..04-15=07:30-12:00,13:30-17:00"
    ),
)
CALENDARS = st.sampled_from([DEFAULT, SEASONAL])

_START = datetime(2025, 1, 1, tzinfo=TZ)
_SPAN_MINUTES = int((datetime(2028, 1, 1, tzinfo=TZ) - _START).total_seconds() // 60)

receipts = st.integers(0, _SPAN_MINUTES - 1).map(lambda m: _START + timedelta(minutes=m))
working_limits = st.one_of(
    st.tuples(st.integers(1, 60), st.just("working_days")),
    st.tuples(st.integers(1, 200), st.just("working_hours")),
)
any_limits = st.one_of(
    working_limits,
    st.tuples(st.just(1), st.just("same_day")),
    st.tuples(st.integers(1, 90), st.just("calendar_days")),
)


@SETTINGS
@given(cal=CALENDARS, received=receipts, limit=any_limits)
def test_due_is_on_a_working_day_inside_a_session(
    cal: WorkCalendar, received: datetime, limit: tuple[int, str]
) -> None:
    result = due_at(received, *limit, cal)
    assert cal.is_working_day(result.due_at.astimezone(TZ).date())
    assert cal.is_working_time(result.due_at)  # a session end counts as inside
    assert cal.is_working_time(result.received_effective_at, end_inclusive=False)
    assert result.received_effective_at >= received.replace(second=0, microsecond=0)
    assert result.due_at > result.received_effective_at


@SETTINGS
@given(cal=CALENDARS, received=receipts, limit=any_limits, extra=st.integers(0, 30))
def test_due_is_monotonic_in_the_limit(
    cal: WorkCalendar, received: datetime, limit: tuple[int, str], extra: int
) -> None:
    value, unit = limit
    assert (
        due_at(received, value, unit, cal).due_at
        <= due_at(received, value + extra, unit, cal).due_at
    )


@SETTINGS
@given(
    cal=CALENDARS,
    received=receipts,
    later_by=st.integers(0, 60 * 24 * 20),
    limit=st.one_of(working_limits, st.tuples(st.just(1), st.just("same_day"))),
)
def test_due_is_monotonic_in_the_receipt_time(
    cal: WorkCalendar, received: datetime, later_by: int, limit: tuple[int, str]
) -> None:
    # calendar_days is left out on purpose: keeping the time of day when a weekend is skipped
    # breaks monotonicity (see test_calendar_days_is_not_monotonic_in_receipt_time).
    later = received + timedelta(minutes=later_by)
    assert due_at(received, *limit, cal).due_at <= due_at(later, *limit, cal).due_at


@SETTINGS
@given(cal=CALENDARS, received=receipts, a=st.integers(1, 120), b=st.integers(1, 120))
def test_adding_hours_is_associative(cal: WorkCalendar, received: datetime, a: int, b: int) -> None:
    first = due_at(received, a, "working_hours", cal).due_at
    assert (
        due_at(first, b, "working_hours", cal).due_at
        == due_at(received, a + b, "working_hours", cal).due_at
    )


@SETTINGS
@given(cal=CALENDARS, received=receipts, limit=working_limits)
def test_working_time_from_effective_receipt_to_due_is_the_limit(
    cal: WorkCalendar, received: datetime, limit: tuple[int, str]
) -> None:
    result = due_at(received, *limit, cal)
    assert cal.working_minutes_between(result.received_effective_at, result.due_at) == (
        limit_minutes(*limit)
    )
    assert cal.working_minutes_between(received, result.due_at) == limit_minutes(*limit)


@SETTINGS
@given(
    cal=CALENDARS,
    received=receipts,
    steps=st.lists(st.integers(0, 16).map(lambda k: k * 30), min_size=1, max_size=8),
)
def test_last_step_deadline_equals_due_at(
    cal: WorkCalendar, received: datetime, steps: list[int]
) -> None:
    deadlines = step_deadlines(received, steps, cal)
    assert deadlines == sorted(deadlines)
    total = sum(steps)
    if total % 60 == 0 and total:
        assert deadlines[-1] == due_at(received, total // 60, "working_hours", cal).due_at


_LEAP_DAYS = [date(2000, 1, 1) + timedelta(days=k) for k in range(366)]


@st.composite
def session_texts(draw: st.DrawFn) -> str:
    """One to three ordered, non-overlapping sessions as config text."""
    bounds = sorted(draw(st.sets(st.integers(0, 23 * 60 + 59), min_size=2, max_size=6)))
    if len(bounds) % 2:
        bounds = bounds[:-1]
    return ",".join(
        f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}"
        for a, b in zip(bounds[::2], bounds[1::2], strict=True)
    )


@SETTINGS
@given(
    cut=st.lists(st.integers(0, 365), min_size=2, max_size=2, unique=True).map(sorted),
    first=session_texts(),
    second=session_texts(),
)
def test_working_hours_text_round_trips(cut: list[int], first: str, second: str) -> None:
    # Two periods that together cover the (leap) year once; the second may wrap.
    i, j = cut
    a = f"{_LEAP_DAYS[i]:%m-%d}..{_LEAP_DAYS[j - 1]:%m-%d}"
    b = f"{_LEAP_DAYS[j]:%m-%d}..{_LEAP_DAYS[i - 1]:%m-%d}"
    text = f"{a}={first};{b}={second}"
    wh = parse_working_hours(text)
    assert format_working_hours(wh) == text
    assert parse_working_hours(format_working_hours(wh)) == wh
    assert parse_working_hours(first).periods[0].sessions == wh.sessions_for(_LEAP_DAYS[i])
