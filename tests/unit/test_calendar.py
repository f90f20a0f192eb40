"""Working calendar: package holidays 2025-2027, overrides, sessions and working time.

Expected dates were worked out by hand from the 2026 notice (TB 9441/TB-BNV) and checked
against what ``holidays.VN(language="vi")`` 0.109 returns.
"""

from datetime import UTC, date, datetime, time

import pytest

from edge_node.domain.calendar import (
    DEFAULT_HOURS,
    MAX_RANGE_DAYS,
    TZ,
    Override,
    Session,
    SessionPeriod,
    WorkCalendar,
    WorkingHours,
    format_working_hours,
    parse_working_hours,
    validate_override,
)

CAL = WorkCalendar()
NGHE_AN = "04-16..10-15=07:00-11:30,13:30-17:00;10-16..04-15=07:30-12:00,13:30-17:00"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


# ------------------------------------------------------------------------- day kinds

DAY_TABLE = [
    # (date, working, kind, reason contains)
    # Tết Bính Ngọ 2026: 14/2 (Sat) to 22/2 (Sun) off, statutory Mon 16/2 - Fri 20/2.
    (date(2026, 2, 13), True, "workday", "Ngày làm việc"),
    (date(2026, 2, 14), False, "weekend", "Thứ Bảy"),
    (date(2026, 2, 15), False, "weekend", "Chủ nhật"),
    (date(2026, 2, 16), False, "holiday", "Giao thừa"),
    (date(2026, 2, 17), False, "holiday", "Tết Nguyên Đán"),
    (date(2026, 2, 20), False, "holiday", "Mùng bốn"),
    (date(2026, 2, 21), False, "weekend", "Thứ Bảy"),
    (date(2026, 2, 22), False, "weekend", "Chủ nhật"),
    (date(2026, 2, 23), True, "workday", "Ngày làm việc"),
    # Giỗ Tổ 2026 on Sunday 26/4, Monday 27/4 observed.
    (date(2026, 4, 26), False, "holiday", "Giỗ Tổ Hùng Vương"),
    (date(2026, 4, 27), False, "holiday", "nghỉ bù"),
    (date(2026, 4, 28), True, "workday", "Ngày làm việc"),
    # 30/4 and 1/5 2026 fall Thu-Fri.
    (date(2026, 4, 30), False, "holiday", "Ngày Chiến thắng"),
    (date(2026, 5, 1), False, "holiday", "Quốc tế Lao động"),
    (date(2026, 5, 4), True, "workday", "Ngày làm việc"),
    # National Day 2026: Sat 22/8 worked for Mon 31/8; 1/9 + 2/9 off.
    (date(2026, 8, 22), True, "makeup_workday", "Ngày làm bù cho ngày 31/08/2026"),
    (date(2026, 8, 29), False, "weekend", "Thứ Bảy"),
    (date(2026, 8, 31), False, "swap_off", "thay cho ngày 22/08/2026"),
    (date(2026, 9, 1), False, "holiday", "Quốc khánh"),
    (date(2026, 9, 2), False, "holiday", "Quốc khánh"),
    (date(2026, 9, 3), True, "workday", "Ngày làm việc"),
    # Ngày Văn hóa Việt Nam from 2026 only.
    (date(2026, 11, 24), False, "holiday", "Ngày Văn hóa Việt Nam"),
    (date(2025, 11, 24), True, "workday", "Ngày làm việc"),
    # 2025: Fri 2/5 swapped for Sat 26/4; National Day Mon 1/9 + Tue 2/9.
    (date(2025, 4, 26), True, "makeup_workday", "Ngày làm bù cho ngày 02/05/2025"),
    (date(2025, 5, 2), False, "swap_off", "thay cho ngày 26/04/2025"),
    (date(2025, 9, 1), False, "holiday", "Quốc khánh"),
    (date(2025, 9, 2), False, "holiday", "Quốc khánh"),
    # 2027: 1/1 Fri; Tết 4/2-10/2; 1/5 Sat → Mon 3/5 observed; 2/9 Thu + 3/9 Fri.
    (date(2027, 1, 1), False, "holiday", "Tết Dương lịch"),
    (date(2027, 2, 4), False, "holiday", "29 Tết"),
    (date(2027, 2, 6), False, "holiday", "Tết Nguyên Đán"),
    (date(2027, 2, 10), False, "holiday", "Mùng năm"),
    (date(2027, 2, 11), True, "workday", "Ngày làm việc"),
    (date(2027, 5, 3), False, "holiday", "nghỉ bù"),
    (date(2027, 9, 3), False, "holiday", "Quốc khánh"),
    (date(2027, 9, 6), True, "workday", "Ngày làm việc"),
]


@pytest.mark.parametrize(("d", "working", "kind", "reason"), DAY_TABLE, ids=str)
def test_day_info_from_package(d: date, working: bool, kind: str, reason: str) -> None:
    info = CAL.day_info(d)
    assert (info.date, info.working, info.kind) == (d, working, kind)
    assert reason in info.reason
    assert CAL.is_working_day(d) is working


def test_tet_2026_is_nine_days_off() -> None:
    days = CAL.days(date(2026, 2, 13), date(2026, 2, 23))
    assert [d.working for d in days] == [True] + [False] * 9 + [True]


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 2, 13), date(2026, 2, 23)),  # over Tết
        (date(2026, 2, 15), date(2026, 2, 23)),  # from inside Tết
        (date(2026, 4, 24), date(2026, 4, 28)),  # over Giỗ Tổ observed Monday
        (date(2026, 4, 29), date(2026, 5, 4)),  # over 30/4-1/5
        (date(2026, 8, 21), date(2026, 8, 22)),  # make-up Saturday is a working day
        (date(2026, 8, 28), date(2026, 9, 3)),  # over the swap and National Day
        (date(2026, 11, 23), date(2026, 11, 25)),  # over 24/11
        (date(2026, 12, 31), date(2027, 1, 4)),  # across New Year (1/1/2027 Friday)
        (date(2027, 2, 3), date(2027, 2, 11)),  # over Tết 2027
    ],
)
def test_next_working_day(d: date, expected: date) -> None:
    assert CAL.next_working_day(d) == expected


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 2, 13), date(2026, 2, 13)),
        (date(2026, 2, 14), date(2026, 2, 23)),
        (date(2026, 8, 22), date(2026, 8, 22)),
        (date(2026, 8, 29), date(2026, 9, 3)),
    ],
)
def test_working_day_on_or_after(d: date, expected: date) -> None:
    assert CAL.working_day_on_or_after(d) == expected


def test_days_spans_years_and_is_inclusive() -> None:
    days = CAL.days(date(2026, 12, 30), date(2027, 1, 2))
    assert [d.date for d in days] == [
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 1),
        date(2027, 1, 2),
    ]
    assert [d.kind for d in days] == ["workday", "workday", "holiday", "weekend"]


def test_days_rejects_more_than_five_years() -> None:
    assert len(CAL.days(date(2025, 1, 1), date(2029, 12, 31))) == 1826
    with pytest.raises(ValueError, match="at most 1830 days"):
        CAL.days(date(2025, 1, 1), date(2030, 12, 31))
    assert MAX_RANGE_DAYS == 1830


def test_days_rejects_reversed_range() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        CAL.days(date(2026, 2, 2), date(2026, 2, 1))


def test_year_outside_supported_range() -> None:
    with pytest.raises(ValueError, match="outside the supported calendar range"):
        CAL.is_working_day(date(2100, 1, 4))


def test_datetime_is_not_a_date() -> None:
    with pytest.raises(TypeError):
        CAL.day_info(datetime(2026, 2, 16, 9, 0))


# ------------------------------------------------------------------------ overrides


def test_overrides_win_over_the_package() -> None:
    cal = WorkCalendar(
        [
            Override(date(2026, 8, 22), False, "Tỉnh cho nghỉ thứ Bảy 22/8"),
            Override(date(2026, 9, 2), True, "Trực tiếp nhận hồ sơ ngày 2/9"),
            Override(date(2026, 3, 10), False, "Nghỉ lễ hội địa phương"),
            Override(date(2026, 3, 14), True, "Làm việc thứ Bảy theo QĐ của tỉnh"),
        ]
    )
    assert cal.day_info(date(2026, 8, 22)).kind == "override_off"
    assert cal.day_info(date(2026, 8, 22)).reason == "Tỉnh cho nghỉ thứ Bảy 22/8"
    assert cal.day_info(date(2026, 9, 2)).kind == "override_work"
    assert cal.is_working_day(date(2026, 9, 2))
    assert not cal.is_working_day(date(2026, 3, 10))
    assert cal.is_working_day(date(2026, 3, 14))
    assert cal.next_working_day(date(2026, 8, 21)) == date(2026, 8, 24)
    assert cal.next_working_day(date(2026, 9, 1)) == date(2026, 9, 2)
    # The package view ignores overrides.
    assert cal.base_day_info(date(2026, 9, 2)).kind == "holiday"
    assert CAL.is_working_day(date(2026, 3, 10))


def test_override_with_empty_note_gets_default_reason() -> None:
    cal = WorkCalendar([Override(date(2026, 3, 10), False, "")])
    assert cal.day_info(date(2026, 3, 10)).reason == "Nghỉ theo quyết định của tỉnh"


def test_two_overrides_for_one_date_refused() -> None:
    with pytest.raises(ValueError, match="two overrides for 2026-03-10"):
        WorkCalendar(
            [Override(date(2026, 3, 10), False, "a"), Override(date(2026, 3, 10), True, "b")]
        )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (Override(date(2026, 2, 17), False, "Tết"), r"17/02/2026 is already a day off \(Tết"),
        (Override(date(2026, 3, 8), False, "CN"), r"already a day off \(Chủ nhật\)"),
        (Override(date(2026, 8, 31), False, "x"), "already a day off"),
        (Override(date(2026, 3, 9), True, "x"), "already a working day"),
        (Override(date(2026, 8, 22), True, "x"), r"already a working day \(Ngày làm bù"),
    ],
)
def test_validate_override_refuses_no_op(override: Override, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_override(CAL, override)


@pytest.mark.parametrize(
    "override",
    [
        Override(date(2026, 3, 9), False, "Nghỉ lễ hội"),
        Override(date(2026, 3, 14), True, "Làm thứ Bảy"),
        Override(date(2026, 9, 2), True, "Trực"),
    ],
)
def test_validate_override_accepts_a_change(override: Override) -> None:
    validate_override(CAL, override)
    # Existing overrides on the same date do not hide the package answer.
    validate_override(WorkCalendar([override]), override)


def test_override_type_checks() -> None:
    with pytest.raises(TypeError):
        Override(datetime(2026, 3, 9), False, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Override(date(2026, 3, 9), 0, "x")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- working hours


def test_default_hours() -> None:
    assert DEFAULT_HOURS.sessions_for(date(2026, 7, 1)) == (
        Session(time(7, 0), time(11, 30)),
        Session(time(13, 30), time(17, 0)),
    )
    assert format_working_hours(DEFAULT_HOURS) == "07:00-11:30,13:30-17:00"


def test_seasonal_hours_wrap_across_new_year() -> None:
    wh = parse_working_hours(NGHE_AN)
    summer = (Session(time(7, 0), time(11, 30)), Session(time(13, 30), time(17, 0)))
    winter = (Session(time(7, 30), time(12, 0)), Session(time(13, 30), time(17, 0)))
    assert wh.sessions_for(date(2026, 4, 15)) == winter
    assert wh.sessions_for(date(2026, 4, 16)) == summer
    assert wh.sessions_for(date(2026, 10, 15)) == summer
    assert wh.sessions_for(date(2026, 10, 16)) == winter
    assert wh.sessions_for(date(2027, 1, 1)) == winter
    assert wh.sessions_for(date(2028, 2, 29)) == winter


@pytest.mark.parametrize(
    "text",
    [
        "07:00-11:30,13:30-17:00",
        "07:30-12:00,13:30-17:00",
        "07:00-17:00",
        NGHE_AN,
        "01-01..06-30=07:00-11:00,13:00-17:00;07-01..12-31=07:30-11:30,13:00-17:00",
    ],
)
def test_parse_format_round_trip(text: str) -> None:
    wh = parse_working_hours(text)
    assert format_working_hours(wh) == text
    assert parse_working_hours(format_working_hours(wh)) == wh


def test_parse_normalises() -> None:
    wh = parse_working_hours(" 7:00-11:30 , 13:30-17:00 ")
    assert wh == DEFAULT_HOURS
    assert parse_working_hours("01-01..12-31=07:00-11:30,13:30-17:00") == DEFAULT_HOURS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty value"),
        ("   ", "empty value"),
        ("07:00", r"bad session '07:00'"),
        ("07:00-25:00", r"bad time '25:00'"),
        ("7h-11h30", r"bad time '7h'"),
        ("11:30-07:00", "must start before it ends"),
        ("07:00-12:00,11:30-17:00", "overlap"),
        ("04-16..10-15=07:00-11:30,13:30-17:00", "01-01 is not covered"),
        ("01-01..12-31=07:00-11:30;06-01..06-30=08:00-12:00", "06-01 is covered by two periods"),
        ("13-01..12-31=07:00-11:30", "no such month-day '13-01'"),
        ("02-30..12-31=07:00-11:30", "no such month-day"),
        ("01-01-12-31=07:00-11:30", "bad period"),
        ("01-01..12-31=", "no sessions"),
        ("01-01..06-30=07:00-11:30;", "empty period"),
    ],
)
def test_parse_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_working_hours(text)
    assert str(info.value).startswith("working hours:")


def test_working_hours_must_cover_leap_day() -> None:
    s = (Session(time(7, 0), time(11, 0)),)
    with pytest.raises(ValueError, match="02-29 is not covered"):
        WorkingHours((SessionPeriod((1, 1), (2, 28), s), SessionPeriod((3, 1), (12, 31), s)))


# ------------------------------------------------------------------------ working time


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (local(2026, 3, 2, 6, 30), local(2026, 3, 2, 7, 0)),  # before opening
        (local(2026, 3, 2, 9, 15), local(2026, 3, 2, 9, 15)),  # inside
        (local(2026, 3, 2, 11, 30), local(2026, 3, 2, 13, 30)),  # session end: nothing left
        (local(2026, 3, 2, 11, 45), local(2026, 3, 2, 13, 30)),  # lunch
        (local(2026, 3, 2, 16, 59), local(2026, 3, 2, 16, 59)),
        (local(2026, 3, 2, 17, 0), local(2026, 3, 3, 7, 0)),
        (local(2026, 3, 2, 17, 30), local(2026, 3, 3, 7, 0)),
        (local(2026, 3, 8, 10, 0), local(2026, 3, 9, 7, 0)),  # Sunday
        (local(2026, 2, 13, 17, 1), local(2026, 2, 23, 7, 0)),  # Friday evening before Tết
        (local(2026, 12, 31, 18, 0), local(2027, 1, 4, 7, 0)),  # across New Year
    ],
)
def test_effective_start(given: datetime, expected: datetime) -> None:
    got = CAL.effective_start(given)
    assert got == expected
    assert got.tzinfo is UTC


@pytest.mark.parametrize(
    ("a", "b", "minutes"),
    [
        (local(2026, 3, 2, 9, 15), local(2026, 3, 5, 9, 15), 3 * 480),
        (local(2026, 3, 2, 11, 0), local(2026, 3, 2, 14, 0), 60),  # lunch not counted
        (local(2026, 2, 13, 16, 0), local(2026, 2, 23, 8, 0), 120),  # Tết not counted
        (local(2026, 2, 23, 8, 0), local(2026, 2, 13, 16, 0), -120),
        (local(2026, 12, 31, 16, 0), local(2027, 1, 4, 7, 30), 90),
        (local(2026, 3, 7, 10, 0), local(2026, 3, 8, 10, 0), 0),  # weekend only
        (local(2026, 3, 2, 9, 0, 30), local(2026, 3, 2, 9, 2), 1),  # truncated toward zero
        (local(2026, 3, 2, 9, 2), local(2026, 3, 2, 9, 0, 30), -1),
    ],
)
def test_working_minutes_between(a: datetime, b: datetime, minutes: int) -> None:
    assert CAL.working_minutes_between(a, b) == minutes


def test_working_minutes_between_years_apart() -> None:
    # 2026 has 249 working days: 365 - 104 weekend days - 13 weekdays off (1/1, Tết 16-20/2,
    # 27/4, 30/4, 1/5, 31/8, 1/9, 2/9, 24/11) + 1 make-up Saturday (22/8).
    assert CAL.working_minutes_between(local(2026, 1, 1), local(2027, 1, 1)) == 249 * 480
    span = CAL.working_minutes_between(local(2025, 1, 1), local(2028, 1, 1))
    assert span == CAL.working_minutes_between(local(2025, 1, 1), local(2026, 1, 1)) + 249 * 480 + (
        CAL.working_minutes_between(local(2027, 1, 1), local(2028, 1, 1))
    )


def test_is_working_time_counts_session_end() -> None:
    assert CAL.is_working_time(local(2026, 3, 2, 17, 0))
    assert not CAL.is_working_time(local(2026, 3, 2, 17, 0), end_inclusive=False)
    assert CAL.is_working_time(local(2026, 3, 2, 7, 0))
    assert not CAL.is_working_time(local(2026, 3, 2, 12, 0))
    assert not CAL.is_working_time(local(2026, 3, 8, 9, 0))


def test_add_working_minutes_and_end_of_day() -> None:
    assert CAL.add_working_minutes(local(2026, 3, 2, 13, 30), 210) == local(2026, 3, 2, 17, 0)
    assert CAL.add_working_minutes(local(2026, 3, 2, 17, 30), 0) == local(2026, 3, 3, 7, 0)
    assert CAL.end_of_working_day(date(2026, 8, 22)) == local(2026, 8, 22, 17, 0)
    with pytest.raises(ValueError, match="not a working day"):
        CAL.end_of_working_day(date(2026, 8, 31))
    with pytest.raises(ValueError, match=">= 0"):
        CAL.add_working_minutes(local(2026, 3, 2, 9, 0), -1)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.effective_start(datetime(2026, 3, 2, 9, 0))


def test_sessions_on() -> None:
    cal = WorkCalendar(hours=parse_working_hours(NGHE_AN))
    assert cal.sessions_on(date(2026, 10, 16))[0].start == time(7, 30)
    assert cal.sessions_on(date(2026, 10, 17)) == ()
    assert cal.end_of_working_day(date(2026, 10, 16)) == local(2026, 10, 16, 17, 0)
