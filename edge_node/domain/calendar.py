"""Working calendar of a commune One-stop: working days, sessions and working time.

Days off come from the ``holidays`` package (country VN: Tết, Giỗ Tổ, 30/4, 1/5, 2/9 with
its adjacent day, 24/11 from 2026, observed substitutes and government swap days, plus the
Saturdays worked in exchange) and province overrides, which win over the package
(domain decision 4). Working time is counted inside dated sessions (domain decision 3).

Everything here is pure: no I/O apart from the package's own tables, no Flask, no SQL.

Time model
    All arithmetic happens in local time of :data:`TZ`. Vietnam has kept UTC+7 without daylight
    saving since 1975, so "local midnight + n seconds" is exact. For every year a
    :class:`WorkCalendar` caches, per day, its sessions (in seconds of the day) and the
    cumulative working seconds before that day. A point in time then maps to a *position*
    (working seconds since 1 January of its year) with one list lookup, and a position maps
    back to a point with one :func:`bisect.bisect` call, so adding 40 working days costs the
    same as adding one hour.

Two ways to turn a position back into a point in time:

* *start* semantics: the first instant at which the next working second begins. Used for the
  effective receipt time (11:30 → 13:30, 17:00 → next working day 07:00).
* *end* semantics: the instant at which the last counted working second ends. Used for due
  times, so a due time that lands on the end of a session stays there (Thu 17:00, not
  Fri 07:00).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "DAY_KINDS",
    "DEFAULT_HOURS",
    "DEFAULT_SESSIONS",
    "MAX_RANGE_DAYS",
    "MAX_YEAR",
    "MIN_YEAR",
    "TZ",
    "DayInfo",
    "Override",
    "Session",
    "SessionPeriod",
    "WorkCalendar",
    "WorkingHours",
    "format_working_hours",
    "parse_working_hours",
    "validate_override",
]

TZ = ZoneInfo("Asia/Ho_Chi_Minh")

#: Years the calendar answers for. The package observes substitutes from 1995 and its lunar
#: tables are reliable up to 2099.
MIN_YEAR = 1995
MAX_YEAR = 2099

#: Longest range :meth:`WorkCalendar.days` returns (5 years, counted generously).
MAX_RANGE_DAYS = 5 * 366

DAY_KINDS = (
    "workday",
    "weekend",
    "holiday",
    "swap_off",
    "makeup_workday",
    "override_off",
    "override_work",
)

_WEEKEND_REASON = {5: "Thứ Bảy", 6: "Chủ nhật"}
# The package names a swapped day off "Ngày nghỉ (thay cho ngày 22/08/2026)"; the date in it is
# the Saturday worked in exchange.
_SWAP_RE = re.compile(r"thay cho ngày (\d{1,2})/(\d{1,2})/(\d{4})")


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True, slots=True)
class Override:
    """A province decision for one date: an extra day off or an extra working day.

    :param date: the local calendar date.
    :param working: ``True`` for an extra working day, ``False`` for an extra day off.
    :param note: short Vietnamese reason shown to users (e.g. the decision number).
    """

    date: date
    working: bool
    note: str

    def __post_init__(self) -> None:
        if isinstance(self.date, datetime) or not isinstance(self.date, date):
            raise TypeError(f"Override.date must be a date, got {self.date!r}")
        if not isinstance(self.working, bool):
            raise TypeError(f"Override.working must be a bool, got {self.working!r}")
        if not isinstance(self.note, str):
            raise TypeError(f"Override.note must be a str, got {self.note!r}")


@dataclass(frozen=True, slots=True)
class DayInfo:
    """What a date is and why.

    :param kind: one of :data:`DAY_KINDS`.
    :param reason: short Vietnamese text (holiday name, "Thứ Bảy", "Ngày làm bù …", the override
        note, …).
    """

    date: date
    working: bool
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class Session:
    """One working session of a day, ``start`` inclusive to ``end``, whole minutes, naive."""

    start: time
    end: time

    def __post_init__(self) -> None:
        for t in (self.start, self.end):
            if not isinstance(t, time):
                raise ValueError(f"session bounds must be datetime.time values, got {t!r}")
            if t.tzinfo is not None or t.second or t.microsecond:
                raise ValueError(f"session bounds must be whole minutes without tzinfo: {t}")
        if self.start >= self.end:
            raise ValueError(
                f"session {self.start:%H:%M}-{self.end:%H:%M} must start before it ends"
            )

    @property
    def start_minute(self) -> int:
        """Minutes from midnight to the start."""
        return self.start.hour * 60 + self.start.minute

    @property
    def end_minute(self) -> int:
        """Minutes from midnight to the end."""
        return self.end.hour * 60 + self.end.minute

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _check_md(md: tuple[int, int]) -> tuple[int, int]:
    try:
        month, day = md
        date(2000, int(month), int(day))  # a leap year, so 02-29 is allowed
    except (TypeError, ValueError):
        raise ValueError(f"invalid month-day {md!r} (expected (month, day))") from None
    return int(month), int(day)


@dataclass(frozen=True, slots=True)
class SessionPeriod:
    """Sessions used from ``start_md`` to ``end_md`` (inclusive ``(month, day)`` pairs).

    A period may wrap across New Year: ``(10, 16)..(4, 15)`` covers 16 October to 15 April.
    """

    start_md: tuple[int, int]
    end_md: tuple[int, int]
    sessions: tuple[Session, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_md", _check_md(self.start_md))
        object.__setattr__(self, "end_md", _check_md(self.end_md))
        sessions = tuple(self.sessions)
        object.__setattr__(self, "sessions", sessions)
        if not sessions:
            raise ValueError("a session period needs at least one session")
        for s in sessions:
            if not isinstance(s, Session):
                raise ValueError(f"not a Session: {s!r}")
        for a, b in zip(sessions, sessions[1:], strict=False):
            if b.start < a.end:
                raise ValueError(f"sessions {a} and {b} overlap or are out of order")

    def contains(self, d: date) -> bool:
        """Whether the period covers the month and day of ``d``."""
        md = (d.month, d.day)
        if self.start_md <= self.end_md:
            return self.start_md <= md <= self.end_md
        return md >= self.start_md or md <= self.end_md


_ALL_MONTH_DAYS = tuple(
    (d.month, d.day) for d in (date(2000, 1, 1) + timedelta(days=k) for k in range(366))
)


@dataclass(frozen=True)
class WorkingHours:
    """Working sessions through the year as dated periods.

    Every month-day (02-29 included) must be covered by exactly one period.
    """

    periods: tuple[SessionPeriod, ...]
    _by_md: dict[tuple[int, int], tuple[Session, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        periods = tuple(self.periods)
        object.__setattr__(self, "periods", periods)
        if not periods:
            raise ValueError("working hours need at least one period")
        by_md: dict[tuple[int, int], tuple[Session, ...]] = {}
        owner: dict[tuple[int, int], SessionPeriod] = {}
        for p in periods:
            if not isinstance(p, SessionPeriod):
                raise ValueError(f"not a SessionPeriod: {p!r}")
            for md in _ALL_MONTH_DAYS:
                if p.contains(date(2000, *md)):
                    if md in owner:
                        raise ValueError(
                            f"{_fmt_md(md)} is covered by two periods "
                            f"({_fmt_period(owner[md])} and {_fmt_period(p)})"
                        )
                    owner[md] = p
                    by_md[md] = p.sessions
        missing = [md for md in _ALL_MONTH_DAYS if md not in by_md]
        if missing:
            raise ValueError(f"{_fmt_md(missing[0])} is not covered by any period")
        object.__setattr__(self, "_by_md", by_md)

    @classmethod
    def all_year(cls, sessions: Iterable[Session]) -> WorkingHours:
        """Same sessions every day of the year."""
        return cls((SessionPeriod((1, 1), (12, 31), tuple(sessions)),))

    def sessions_for(self, d: date) -> tuple[Session, ...]:
        """Sessions in force on ``d`` (whether or not ``d`` is a working day)."""
        return self._by_md[(d.month, d.day)]


DEFAULT_SESSIONS = (Session(time(7, 0), time(11, 30)), Session(time(13, 30), time(17, 0)))
DEFAULT_HOURS = WorkingHours.all_year(DEFAULT_SESSIONS)


# ----------------------------------------------------------------- config text round trip

_HM_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_MD_RE = re.compile(r"^(\d{1,2})-(\d{1,2})$")
_EXAMPLE = (
    "expected '07:00-11:30,13:30-17:00' or "
    "'04-16..10-15=07:00-11:30,13:30-17:00;10-16..04-15=07:30-12:00,13:30-17:00'"
)


def _fmt_md(md: tuple[int, int]) -> str:
    return f"{md[0]:02d}-{md[1]:02d}"


def _fmt_period(p: SessionPeriod) -> str:
    return f"{_fmt_md(p.start_md)}..{_fmt_md(p.end_md)}"


def _parse_hm(text: str) -> time:
    m = _HM_RE.match(text.strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ValueError(f"working hours: bad time {text.strip()!r} (expected HH:MM, 00:00-23:59)")
    return time(int(m[1]), int(m[2]))


def _parse_sessions(text: str) -> tuple[Session, ...]:
    if not text.strip():
        raise ValueError(f"working hours: no sessions given; {_EXAMPLE}")
    sessions = []
    for part in text.split(","):
        bounds = part.split("-")
        if len(bounds) != 2:
            raise ValueError(f"working hours: bad session {part.strip()!r} (expected HH:MM-HH:MM)")
        sessions.append(Session(_parse_hm(bounds[0]), _parse_hm(bounds[1])))
    return tuple(sessions)


def _parse_md(text: str) -> tuple[int, int]:
    m = _MD_RE.match(text.strip())
    if not m:
        raise ValueError(f"working hours: bad month-day {text.strip()!r} (expected MM-DD)")
    try:
        return _check_md((int(m[1]), int(m[2])))
    except ValueError:
        raise ValueError(f"working hours: no such month-day {text.strip()!r}") from None


def parse_working_hours(text: str) -> WorkingHours:
    """Parse working hours from a config string.

    Two forms are accepted::

        07:00-11:30,13:30-17:00
        04-16..10-15=07:00-11:30,13:30-17:00;10-16..04-15=07:30-12:00,13:30-17:00

    The first applies all year; the second lists dated periods (inclusive, may wrap across New
    Year) that together must cover every day exactly once.

    :raises ValueError: with a message that starts with ``working hours:`` and names the
        offending part.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"working hours: empty value; {_EXAMPLE}")
    try:
        if "=" not in text:
            return WorkingHours.all_year(_parse_sessions(text))
        periods = []
        for chunk in text.split(";"):
            if not chunk.strip():
                raise ValueError(f"working hours: empty period in {text.strip()!r}")
            span, sep, sessions = chunk.partition("=")
            ends = span.split("..")
            if not sep or len(ends) != 2:
                raise ValueError(
                    f"working hours: bad period {chunk.strip()!r} "
                    "(expected MM-DD..MM-DD=HH:MM-HH:MM,...)"
                )
            periods.append(
                SessionPeriod(_parse_md(ends[0]), _parse_md(ends[1]), _parse_sessions(sessions))
            )
        return WorkingHours(tuple(periods))
    except ValueError as exc:
        msg = str(exc)
        if not msg.startswith("working hours:"):
            msg = f"working hours: {msg}"
        raise ValueError(msg) from None


def format_working_hours(wh: WorkingHours) -> str:
    """Inverse of :func:`parse_working_hours` (``parse(format(wh)) == wh``)."""

    def sessions(p: SessionPeriod) -> str:
        return ",".join(str(s) for s in p.sessions)

    if (
        len(wh.periods) == 1
        and wh.periods[0].start_md == (1, 1)
        and wh.periods[0].end_md
        == (
            12,
            31,
        )
    ):
        return sessions(wh.periods[0])
    return ";".join(f"{_fmt_period(p)}={sessions(p)}" for p in wh.periods)


# ------------------------------------------------------------------------ package data


@cache
def _package_year(year: int) -> tuple[dict[date, str], dict[date, date | None]]:
    """Days off and worked weekend days of ``year`` according to the ``holidays`` package.

    Returns ``(days_off, makeup)`` where ``makeup`` maps a worked Saturday/Sunday to the day off
    it pays for (``None`` when the package does not say). Neighbouring years are loaded too
    because a swap can cross New Year (Sat 27/12/2014 worked for Fri 2/1/2015).
    """
    pkg = holidays.VN(years=(year - 1, year, year + 1), language="vi")
    days_off = {d: name for d, name in pkg.items() if d.year == year}
    makeup: dict[date, date | None] = {d: None for d in pkg.weekend_workdays if d.year == year}
    for d, name in pkg.items():
        m = _SWAP_RE.search(name)
        if m:
            worked = date(int(m[3]), int(m[2]), int(m[1]))
            if worked in makeup:
                makeup[worked] = d
    return days_off, makeup


def _package_day_info(d: date) -> DayInfo:
    days_off, makeup = _package_year(d.year)
    if d in makeup:
        paid = makeup[d]
        reason = f"Ngày làm bù cho ngày {paid:%d/%m/%Y}" if paid else "Ngày làm bù"
        return DayInfo(d, True, "makeup_workday", reason)
    name = days_off.get(d)
    if name is not None:
        return DayInfo(d, False, "swap_off" if _SWAP_RE.search(name) else "holiday", name)
    weekday = d.weekday()
    if weekday >= 5:
        return DayInfo(d, False, "weekend", _WEEKEND_REASON[weekday])
    return DayInfo(d, True, "workday", "Ngày làm việc")


# ---------------------------------------------------------------------------- calendar


class _Year:
    """Cached day data of one year for one calendar (all times in seconds)."""

    __slots__ = ("year", "ord0", "infos", "sess", "cum", "total", "midnight")

    def __init__(self, year: int, overrides: dict[date, Override], hours: WorkingHours) -> None:
        self.year = year
        first = date(year, 1, 1)
        self.ord0 = first.toordinal()
        n = date(year + 1, 1, 1).toordinal() - self.ord0
        self.infos: list[DayInfo] = []
        self.sess: list[tuple[tuple[int, int], ...]] = []
        self.cum: list[int] = [0]
        self.midnight: list[datetime] = []
        acc = 0
        for k in range(n):
            d = first + timedelta(days=k)
            info = _day_info(d, overrides)
            self.infos.append(info)
            if info.working:
                sess = tuple(
                    (s.start_minute * 60, s.end_minute * 60) for s in hours.sessions_for(d)
                )
                acc += sum(e - s for s, e in sess)
            else:
                sess = ()
            self.sess.append(sess)
            self.cum.append(acc)
            self.midnight.append(datetime(year, d.month, d.day, tzinfo=TZ).astimezone(UTC))
        self.total = acc


def _day_info(d: date, overrides: dict[date, Override]) -> DayInfo:
    ov = overrides.get(d)
    if ov is not None:
        if ov.working:
            return DayInfo(d, True, "override_work", ov.note or "Làm việc theo quyết định của tỉnh")
        return DayInfo(d, False, "override_off", ov.note or "Nghỉ theo quyết định của tỉnh")
    return _package_day_info(d)


def _check_date(d: object) -> date:
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a date, got {d!r}")
    return d


def _check_aware(dt: object, name: str) -> datetime:
    if not isinstance(dt, datetime):
        raise TypeError(f"{name} must be a datetime, got {dt!r}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {dt.isoformat()}")
    return dt


class WorkCalendar:
    """Working days and working time of one One-stop.

    :param overrides: province overrides; they win over the ``holidays`` package. At most one per
        date.
    :param hours: working sessions (default 07:00–11:30 and 13:30–17:00 all year).

    Per-year tables are built on first use and cached on the instance; build a new calendar when
    overrides or hours change. Public methods taking datetimes require timezone-aware values and
    return UTC datetimes.
    """

    __slots__ = ("_overrides", "hours", "_years")

    def __init__(
        self, overrides: Iterable[Override] = (), hours: WorkingHours = DEFAULT_HOURS
    ) -> None:
        by_date: dict[date, Override] = {}
        for ov in overrides:
            if not isinstance(ov, Override):
                raise TypeError(f"not an Override: {ov!r}")
            if ov.date in by_date:
                raise ValueError(f"two overrides for {ov.date.isoformat()}")
            by_date[ov.date] = ov
        if not isinstance(hours, WorkingHours):
            raise TypeError(f"hours must be WorkingHours, got {hours!r}")
        self._overrides = by_date
        self.hours = hours
        self._years: dict[int, _Year] = {}

    @property
    def overrides(self) -> tuple[Override, ...]:
        """The overrides, sorted by date."""
        return tuple(sorted(self._overrides.values(), key=lambda o: o.date))

    def without_overrides(self) -> WorkCalendar:
        """The same hours with the package calendar only."""
        return WorkCalendar((), self.hours)

    # -- day level --------------------------------------------------------------------

    def _year(self, year: int) -> _Year:
        y = self._years.get(year)
        if y is None:
            if not MIN_YEAR <= year <= MAX_YEAR:
                raise ValueError(
                    f"year {year} is outside the supported calendar range {MIN_YEAR}-{MAX_YEAR}"
                )
            y = self._years[year] = _Year(year, self._overrides, self.hours)
        return y

    def day_info(self, d: date) -> DayInfo:
        """Kind of day and reason, overrides included."""
        _check_date(d)
        y = self._year(d.year)
        return y.infos[d.toordinal() - y.ord0]

    def base_day_info(self, d: date) -> DayInfo:
        """Kind of day from the package and weekends only, ignoring overrides."""
        _check_date(d)
        if not MIN_YEAR <= d.year <= MAX_YEAR:
            raise ValueError(
                f"year {d.year} is outside the supported calendar range {MIN_YEAR}-{MAX_YEAR}"
            )
        return _package_day_info(d)

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a working day (overrides included)."""
        _check_date(d)
        y = self._year(d.year)
        return bool(y.sess[d.toordinal() - y.ord0])

    def days(self, from_date: date, to_date: date) -> list[DayInfo]:
        """:class:`DayInfo` of every date from ``from_date`` to ``to_date`` inclusive.

        :raises ValueError: when ``to_date`` is before ``from_date`` or the range is longer than
            :data:`MAX_RANGE_DAYS` days (5 years).
        """
        _check_date(from_date)
        _check_date(to_date)
        if to_date < from_date:
            raise ValueError(f"range ends ({to_date}) before it starts ({from_date})")
        count = (to_date - from_date).days + 1
        if count > MAX_RANGE_DAYS:
            raise ValueError(
                f"range {from_date}..{to_date} has {count} days; at most {MAX_RANGE_DAYS} days "
                "(5 years) at a time"
            )
        out: list[DayInfo] = []
        for year in range(from_date.year, to_date.year + 1):
            y = self._year(year)
            lo = max(from_date.toordinal(), y.ord0) - y.ord0
            hi = min(to_date.toordinal(), y.ord0 + len(y.infos) - 1) - y.ord0
            out.extend(y.infos[lo : hi + 1])
        return out

    def working_day_on_or_after(self, d: date) -> date:
        """``d`` itself when it is a working day, else the next working day."""
        _check_date(d)
        y = self._year(d.year)
        ys, i, _ = self._start_at(y, y.cum[d.toordinal() - y.ord0])
        return date.fromordinal(ys.ord0 + i)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        _check_date(d)
        y = self._year(d.year)
        ys, i, _ = self._start_at(y, y.cum[d.toordinal() - y.ord0 + 1])
        return date.fromordinal(ys.ord0 + i)

    def sessions_on(self, d: date) -> tuple[Session, ...]:
        """Sessions worked on ``d``; empty on a day off."""
        return self.hours.sessions_for(d) if self.is_working_day(d) else ()

    def end_of_working_day(self, d: date) -> datetime:
        """End of the last session of working day ``d`` (UTC).

        :raises ValueError: when ``d`` is not a working day.
        """
        _check_date(d)
        y = self._year(d.year)
        sess = y.sess[d.toordinal() - y.ord0]
        if not sess:
            raise ValueError(f"{d.isoformat()} is not a working day")
        return y.midnight[d.toordinal() - y.ord0] + timedelta(seconds=sess[-1][1])

    # -- working time -----------------------------------------------------------------

    def is_working_time(self, dt: datetime, *, end_inclusive: bool = True) -> bool:
        """Whether ``dt`` falls inside a session (a session end counts unless told otherwise)."""
        local = _check_aware(dt, "dt").astimezone(TZ)
        y = self._year(local.year)
        sec = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        for s, e in y.sess[local.toordinal() - y.ord0]:
            if s <= sec < e or (end_inclusive and sec == e):
                return True
        return False

    def effective_start(self, dt: datetime) -> datetime:
        """First instant at or after ``dt`` at which working time runs (UTC).

        Before 07:00 → 07:00; lunch → 13:30; at or after 17:00 or on a day off → first session of
        the next working day.
        """
        local = _check_aware(dt, "dt").astimezone(TZ)
        y, pos = self._locate(local)
        ys, i, sec = self._start_at(y, pos)
        return ys.midnight[i] + timedelta(seconds=sec)

    def add_working_minutes(self, dt: datetime, minutes: int) -> datetime:
        """Instant at which ``minutes`` of working time after ``dt`` have elapsed (UTC).

        A result on a session end stays there (end semantics). ``minutes == 0`` returns
        :meth:`effective_start`.

        :raises ValueError: for negative ``minutes``.
        """
        local = _check_aware(dt, "dt").astimezone(TZ)
        if minutes < 0:
            raise ValueError(f"minutes must be >= 0, got {minutes}")
        y, pos = self._locate(local)
        if minutes == 0:
            ys, i, sec = self._start_at(y, pos)
        else:
            ys, i, sec = self._end_at(y, pos + minutes * 60)
        return ys.midnight[i] + timedelta(seconds=sec)

    def working_seconds_between(self, a: datetime, b: datetime) -> int:
        """Working seconds from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        ya, pa = self._locate(_check_aware(a, "a").astimezone(TZ))
        yb, pb = self._locate(_check_aware(b, "b").astimezone(TZ))
        return self._diff(ya, pa, yb, pb)

    def working_minutes_between(self, a: datetime, b: datetime) -> int:
        """Whole working minutes from ``a`` to ``b``, truncated toward zero; negative if b < a."""
        sec = self.working_seconds_between(a, b)
        return sec // 60 if sec >= 0 else -((-sec) // 60)

    # -- internals used by the deadline code (local times, seconds) ---------------------

    def _locate(self, local: datetime) -> tuple[_Year, int]:
        """Year table and position (working seconds since 1 January) of a local datetime."""
        y = self._year(local.year)
        i = local.toordinal() - y.ord0
        sec = local.hour * 3600 + local.minute * 60 + local.second
        pos = y.cum[i]
        for s, e in y.sess[i]:
            if sec <= s:
                break
            pos += (sec if sec < e else e) - s
        return y, pos

    def _start_at(self, y: _Year, pos: int) -> tuple[_Year, int, int]:
        """(year, day index, second of day) where working second ``pos`` begins."""
        while pos >= y.total:
            pos -= y.total
            y = self._year(y.year + 1)
        i = bisect_right(y.cum, pos) - 1
        r = pos - y.cum[i]
        for s, e in y.sess[i]:
            if r < e - s:
                return y, i, s + r
            r -= e - s
        raise AssertionError("unreachable: position beyond the day's sessions")

    def _end_at(self, y: _Year, pos: int) -> tuple[_Year, int, int]:
        """(year, day index, second of day) where working second ``pos`` ends; ``pos`` > 0."""
        while pos > y.total:
            pos -= y.total
            y = self._year(y.year + 1)
        i = bisect_left(y.cum, pos) - 1
        r = pos - y.cum[i]
        for s, e in y.sess[i]:
            if r <= e - s:
                return y, i, s + r
            r -= e - s
        raise AssertionError("unreachable: position beyond the day's sessions")

    def _diff(self, ya: _Year, pa: int, yb: _Year, pb: int) -> int:
        if ya.year == yb.year:
            return pb - pa
        if ya.year > yb.year:
            return -self._diff(yb, pb, ya, pa)
        total = ya.total - pa + pb
        for year in range(ya.year + 1, yb.year):
            total += self._year(year).total
        return total


def validate_override(cal_without_overrides: WorkCalendar, override: Override) -> None:
    """Refuse an override that changes nothing.

    The date is judged on the package calendar (overrides already in ``cal_without_overrides``
    are ignored), so a "day off" on a holiday or weekend, or a "working day" on an ordinary
    working day, is refused.

    :raises ValueError: with a message naming the date and why it already is what was asked.
    """
    if not isinstance(override, Override):
        raise TypeError(f"not an Override: {override!r}")
    base = cal_without_overrides.base_day_info(override.date)
    if base.working == override.working:
        what = "a working day" if base.working else "a day off"
        asked = "extra working day" if override.working else "extra day off"
        raise ValueError(
            f"{override.date:%d/%m/%Y} is already {what} ({base.reason}); "
            f"an {asked} there changes nothing"
        )
