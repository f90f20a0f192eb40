"""Due dates, step deadlines, the dossier clock and timeliness (domain decisions 3, 5, 6, 7).

Pure functions over a :class:`~edge_node.domain.calendar.WorkCalendar`. Every datetime argument
must be timezone-aware; every datetime result is UTC. Local time means Asia/Ho_Chi_Minh.

Limits are working time: one working day is 8 working hours whatever the sessions, so
"Mon 09:15 + 3 working days = Thu 09:15" with the default 8-hour sessions. The receipt time is
truncated to the minute first, because the receipt (Mẫu 01) prints "… giờ … phút" and the
clock starts at the printed time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from edge_node.domain.calendar import TZ, WorkCalendar

__all__ = [
    "CLOCK_EVENT_KINDS",
    "CLOCK_STATUSES",
    "EXTENSION_NOTICE_MINUTES",
    "SAME_DAY_CUTOFF",
    "UNITS",
    "WORKDAY_MINUTES",
    "ClockEvent",
    "ClockState",
    "DeadlineError",
    "DueResult",
    "check_extension",
    "classify_completion",
    "classify_step",
    "clock_state",
    "due_at",
    "due_state",
    "limit_minutes",
    "open_status",
    "step_deadlines",
    "working_minutes_between",
]

UNITS = ("working_days", "working_hours", "same_day", "calendar_days")

#: One working day in working minutes (domain decision 3: days × 8 working hours).
WORKDAY_MINUTES = 8 * 60

#: "Trong ngày": received after this local time → end of the next working day.
SAME_DAY_CUTOFF = time(15, 0)

#: An extension must be asked for at least one working day before the due time (ND 118 19.6).
EXTENSION_NOTICE_MINUTES = WORKDAY_MINUTES

CLOCK_EVENT_KINDS = (
    "received",
    "supplement_requested",
    "supplement_received",
    "payment_requested",
    "payment_received",
    "extended",
    "withdrawn",
    "stopped",
    "completed",
)
CLOCK_STATUSES = ("within_time", "due_soon", "overdue", "paused", "ended")
_END_KINDS = frozenset({"withdrawn", "stopped", "completed"})
_SUPPLEMENT_MODELS = ("restart", "pause")


class DeadlineError(ValueError):
    """A deadline cannot be computed or an operation on the clock is not allowed."""


@dataclass(frozen=True, slots=True)
class DueResult:
    """Result of :func:`due_at`: both UTC."""

    due_at: datetime
    received_effective_at: datetime


def _aware(dt: object, name: str) -> datetime:
    if not isinstance(dt, datetime):
        raise DeadlineError(f"{name} must be a datetime, got {dt!r}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise DeadlineError(f"{name} must be timezone-aware, got naive {dt.isoformat()}")
    return dt


def limit_minutes(value: int, unit: str) -> int:
    """Working minutes of a ``working_days`` or ``working_hours`` limit.

    :raises DeadlineError: for other units or a value that is not a positive whole number.
    """
    if unit not in UNITS:
        raise DeadlineError(f"unknown limit unit {unit!r}; expected one of {', '.join(UNITS)}")
    _check_value(value, unit)
    if unit == "working_days":
        return value * WORKDAY_MINUTES
    if unit == "working_hours":
        return value * 60
    raise DeadlineError(f"a {unit!r} limit has no fixed length in working minutes")


def _check_value(value: object, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeadlineError(f"limit value must be a whole number, got {value!r} ({unit})")
    if value <= 0:
        raise DeadlineError(f"limit value must be > 0, got {value} ({unit})")
    return value


def due_at(
    received_at: datetime,
    value: int | None,
    unit: str,
    cal: WorkCalendar,
    *,
    same_day_cutoff: time = SAME_DAY_CUTOFF,
) -> DueResult:
    """Due time of a dossier received at ``received_at`` with limit ``value`` ``unit``.

    The receipt is truncated to the minute, then moved to the start of the next session when it
    falls outside one (before 07:00 → 07:00, lunch → 13:30, at or after 17:00 or on a day off →
    next working day's first session); that instant is ``received_effective_at``.

    * ``working_days``: ``value`` × 8 working hours from the effective receipt.
    * ``working_hours``: ``value`` working hours from the effective receipt.
      For both, a due time landing exactly on the end of a session stays there.
    * ``same_day`` ("trong ngày"; ``value`` is ignored and may be ``None``): end of the last
      session of the receipt day; end of the next working day when received after
      ``same_day_cutoff`` (15:00, compared at minute precision, so 15:00 itself is on time for
      the same day) or on a day off.
    * ``calendar_days`` ("ngày"): the effective receipt plus ``value`` calendar days, keeping
      the time of day; a non-working day moves to the next working day at the same time. If
      that time is outside the day's sessions (only possible when summer and winter hours
      differ) the due time is the end of that working day: the citizen was promised the day,
      and the end of it never shortens the limit.

      Note: because the time of day is kept when a weekend is skipped, this unit is *not*
      monotonic in the receipt time (Thu 16:00 + 3 days → Sun → Mon 16:00, while
      Fri 08:00 + 3 days → Mon 08:00).

    :param received_at: receipt time, timezone-aware.
    :param value: the limit, a whole number > 0 (ignored for ``same_day``).
    :param unit: one of :data:`UNITS`.
    :param cal: the working calendar.
    :returns: :class:`DueResult` with UTC datetimes.
    :raises DeadlineError: for a naive ``received_at``, a bad value or an unknown unit, or a
        result outside the calendar's supported years.
    """
    _aware(received_at, "received_at")
    if unit not in UNITS:
        raise DeadlineError(f"unknown limit unit {unit!r}; expected one of {', '.join(UNITS)}")
    if unit != "same_day":
        _check_value(value, unit)
    local = received_at.astimezone(TZ).replace(second=0, microsecond=0)
    try:
        y, pos = cal._locate(local)
        ys, i, sec = cal._start_at(y, pos)
        effective = ys.midnight[i] + timedelta(seconds=sec)
        if unit == "working_days" or unit == "working_hours":
            minutes = value * (WORKDAY_MINUTES if unit == "working_days" else 60)
            ye, j, sec = cal._end_at(y, pos + minutes * 60)
        elif unit == "same_day":
            ye, j, sec = _same_day(cal, local, same_day_cutoff)
        else:
            ye, j, sec = _calendar_days(cal, ys, i, sec, value)
    except DeadlineError:
        raise
    except ValueError as exc:  # supported-year range of the calendar
        raise DeadlineError(str(exc)) from None
    return DueResult(ye.midnight[j] + timedelta(seconds=sec), effective)


def _same_day(cal: WorkCalendar, local: datetime, cutoff: time) -> tuple:
    y = cal._year(local.year)
    i = local.toordinal() - y.ord0
    minute = local.hour * 60 + local.minute
    if not y.sess[i] or minute > cutoff.hour * 60 + cutoff.minute:
        # First working day after the receipt date: start semantics from the next midnight.
        y, i, _ = cal._start_at(y, y.cum[i + 1])
    return y, i, y.sess[i][-1][1]


def _calendar_days(cal: WorkCalendar, ys, i: int, sec: int, days: int) -> tuple:
    target = date.fromordinal(ys.ord0 + i + days)
    yt = cal._year(target.year)
    # Start semantics from the target's midnight lands on the first working day on or after it.
    yw, j, _ = cal._start_at(yt, yt.cum[target.toordinal() - yt.ord0])
    sessions = yw.sess[j]
    for s, e in sessions:
        if s <= sec <= e:
            return yw, j, sec
    return yw, j, sessions[-1][1]


def step_deadlines(
    start: datetime, step_minutes: Sequence[int], cal: WorkCalendar
) -> list[datetime]:
    """Deadlines of consecutive internal steps (quy trình nội bộ), cumulative working time.

    Step ``k`` is due when the working minutes of steps ``0..k`` have elapsed from the effective
    start (the start truncated to the minute and moved into a session, as in :func:`due_at`).
    A zero-minute step (e.g. "Chờ trả kết quả 0") is due when the previous one is, or at the
    effective start when it is first. The last deadline equals ``due_at(start, total, …)``.

    :param start: start of the first step, timezone-aware.
    :param step_minutes: allotted working minutes per step, whole numbers >= 0.
    :returns: one UTC datetime per step.
    :raises DeadlineError: for a naive ``start`` or a negative or non-integer step.
    """
    _aware(start, "start")
    for k, m in enumerate(step_minutes):
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise DeadlineError(
                f"step {k}: allotted minutes must be a whole number >= 0, got {m!r}"
            )
    local = start.astimezone(TZ).replace(second=0, microsecond=0)
    try:
        y, pos = cal._locate(local)
        out: list[datetime] = []
        total = 0
        for m in step_minutes:
            total += m
            yy, j, sec = cal._end_at(y, pos + total * 60) if total else cal._start_at(y, pos)
            out.append(yy.midnight[j] + timedelta(seconds=sec))
        return out
    except ValueError as exc:
        raise DeadlineError(str(exc)) from None


def working_minutes_between(a: datetime, b: datetime, cal: WorkCalendar) -> int:
    """Whole working minutes from ``a`` to ``b`` (negative when ``b`` is before ``a``).

    Used for the remaining time of a dossier and the time spent on a step.

    :raises DeadlineError: for naive datetimes.
    """
    _aware(a, "a")
    _aware(b, "b")
    try:
        return cal.working_minutes_between(a, b)
    except ValueError as exc:
        raise DeadlineError(str(exc)) from None


# ------------------------------------------------------------------------------- clock


@dataclass(frozen=True, slots=True)
class ClockEvent:
    """A fact from the dossier history that matters to the clock.

    :param kind: one of :data:`CLOCK_EVENT_KINDS`.
    :param at: when it happened, timezone-aware.
    :param new_due_at: for ``extended`` only: the new due time.
    """

    kind: str
    at: datetime
    new_due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ClockState:
    """The dossier clock as of a given instant (all datetimes UTC).

    :param due_at: due time in force. While paused: the due time in force when the pause began
        (it moves when the pause ends). When ended: the due time in force at the end.
    :param received_effective_at: effective start of the clock at the first receipt.
    :param remaining_working_minutes: working minutes from ``as_of`` to ``due_at``; negative once
        working time has passed the due time (0 when overdue only outside working hours).
        Frozen at the start of a pause and at the end of the clock.
    :param status: one of :data:`CLOCK_STATUSES`.
    :param extension_used: whether the single extension was used.
    :param paused_intervals: ``(start, end)`` pairs; ``end`` is ``None`` for an open pause.
    :param clock_started_at: effective start of the current run (differs from
        ``received_effective_at`` after a supplement under the restart model).
    :param ended_at: time of the ending event, if any.
    :param end_kind: ``withdrawn``, ``stopped`` or ``completed``, if ended.
    """

    due_at: datetime
    received_effective_at: datetime
    remaining_working_minutes: int
    status: str
    extension_used: bool
    paused_intervals: tuple[tuple[datetime, datetime | None], ...]
    clock_started_at: datetime
    ended_at: datetime | None = None
    end_kind: str | None = None


def clock_state(
    events: Iterable[ClockEvent],
    limit_value: int | None,
    limit_unit: str,
    cal: WorkCalendar,
    as_of: datetime,
    *,
    supplement_model: str = "restart",
    payment_pauses: bool = False,
    due_soon_working_minutes: int = WORKDAY_MINUTES,
) -> ClockState:
    """Replay the clock events of one dossier up to ``as_of``.

    Events are sorted by time (stable, so equal times keep their order); events after ``as_of``
    are ignored, and so are events before the first ``received`` (a supplement asked for before
    acceptance has no clock, domain decision 5).

    * ``supplement_requested`` … ``supplement_received`` pause the clock. ``restart`` model
      (default, ND 118 art 19.5): on receipt of the supplement the due time is recomputed from
      that instant with the full limit. ``pause`` model: the due time moves by the working time
      spent paused.
    * ``payment_requested`` … ``payment_received`` pause the clock (pause model) only when
      ``payment_pauses`` is true; otherwise they are ignored.
    * ``extended`` replaces the due time with ``new_due_at``; only one is allowed
      (:func:`check_extension` validates the request itself).
    * ``withdrawn``, ``stopped`` and ``completed`` end the clock; an open pause ends with it.

    Status: ``ended``; else ``paused`` during a pause; else ``overdue`` when ``as_of`` is after
    the due time; else ``due_soon`` when at most ``due_soon_working_minutes`` remain; else
    ``within_time``.

    :raises DeadlineError: for naive datetimes, an unknown event kind or supplement model, no
        ``received`` event, ``as_of`` before the receipt, a second ``received``, a second
        extension, a pause that does not match (end without start, or a pause inside another),
        or an event after the clock ended.
    """
    _aware(as_of, "as_of")
    if supplement_model not in _SUPPLEMENT_MODELS:
        raise DeadlineError(
            f"unknown supplement model {supplement_model!r}; expected 'restart' or 'pause'"
        )
    evs = list(events)
    for ev in evs:
        if not isinstance(ev, ClockEvent):
            raise DeadlineError(f"not a ClockEvent: {ev!r}")
        if ev.kind not in CLOCK_EVENT_KINDS:
            raise DeadlineError(
                f"unknown clock event kind {ev.kind!r}; "
                f"expected one of {', '.join(CLOCK_EVENT_KINDS)}"
            )
        _aware(ev.at, f"{ev.kind} event time")
        if ev.kind == "extended":
            if ev.new_due_at is None:
                raise DeadlineError("an 'extended' event needs new_due_at")
            _aware(ev.new_due_at, "extended new_due_at")
    evs.sort(key=lambda e: e.at)
    start = next((k for k, ev in enumerate(evs) if ev.kind == "received"), None)
    if start is None:
        raise DeadlineError("no 'received' event: the clock starts at acceptance")
    received = evs[start]
    if as_of < received.at:
        raise DeadlineError(
            f"as_of {as_of.isoformat()} is before the receipt {received.at.isoformat()}"
        )

    first = due_at(received.at, limit_value, limit_unit, cal)
    due = first.due_at
    run_start = first.received_effective_at
    extension_used = False
    pause: str | None = None  # "supplement" or "payment" while a pause is open
    pause_start: datetime | None = None
    intervals: list[tuple[datetime, datetime | None]] = []
    ended_at: datetime | None = None
    end_kind: str | None = None

    for ev in evs[start + 1 :]:
        if ev.at > as_of:
            break
        kind = ev.kind
        if kind.startswith("payment_") and not payment_pauses:
            continue
        if ended_at is not None:
            raise DeadlineError(
                f"'{kind}' at {ev.at.isoformat()} comes after the clock ended ({end_kind})"
            )
        if kind == "received":
            raise DeadlineError(f"a second 'received' event at {ev.at.isoformat()}")
        if kind in ("supplement_requested", "payment_requested"):
            if pause is not None:
                raise DeadlineError(
                    f"'{kind}' at {ev.at.isoformat()} while a {pause} pause is still open"
                )
            pause, pause_start = kind.split("_")[0], ev.at
        elif kind in ("supplement_received", "payment_received"):
            what = kind.split("_")[0]
            if pause != what or pause_start is None:
                raise DeadlineError(
                    f"'{kind}' at {ev.at.isoformat()} without an open '{what}_requested'"
                )
            intervals.append((pause_start.astimezone(UTC), ev.at.astimezone(UTC)))
            if what == "supplement" and supplement_model == "restart":
                again = due_at(ev.at, limit_value, limit_unit, cal)
                due, run_start = again.due_at, again.received_effective_at
            else:
                paused = working_minutes_between(pause_start, ev.at, cal)
                if paused > 0:
                    due = cal.add_working_minutes(due, paused)
            pause, pause_start = None, None
        elif kind == "extended":
            if extension_used:
                raise DeadlineError(
                    f"second extension at {ev.at.isoformat()}: only one is allowed "
                    "(ND 118 art 19.6)"
                )
            assert ev.new_due_at is not None  # checked above
            due, extension_used = ev.new_due_at.astimezone(UTC), True
        else:  # withdrawn, stopped, completed
            if pause_start is not None:
                intervals.append((pause_start.astimezone(UTC), ev.at.astimezone(UTC)))
                pause, pause_start = None, None
            ended_at, end_kind = ev.at.astimezone(UTC), kind

    if ended_at is not None:
        status, ref = "ended", ended_at
    elif pause_start is not None:
        intervals.append((pause_start.astimezone(UTC), None))
        status, ref = "paused", pause_start
    else:
        ref = as_of
        status = ""
    remaining = working_minutes_between(ref, due, cal)
    if not status:
        if open_status(due, as_of) == "overdue":
            status = "overdue"
        elif remaining <= due_soon_working_minutes:
            status = "due_soon"
        else:
            status = "within_time"
    return ClockState(
        due_at=due.astimezone(UTC),
        received_effective_at=first.received_effective_at,
        remaining_working_minutes=remaining,
        status=status,
        extension_used=extension_used,
        paused_intervals=tuple(intervals),
        clock_started_at=run_start,
        ended_at=ended_at,
        end_kind=end_kind,
    )


def check_extension(
    requested_at: datetime,
    current_due_at: datetime,
    new_due_at: datetime,
    already_extended: bool,
    cal: WorkCalendar,
) -> None:
    """Refuse an extension that ND 118 art 19.6 does not allow (domain decision 6).

    Allowed once per dossier, requested at least one working day (8 working hours) before the
    current due time, and only to a later due time.

    :raises DeadlineError: for a second extension, a request less than 8 working hours before
        the due time (or after it), a new due time not after the current one, or naive datetimes.
    """
    _aware(requested_at, "requested_at")
    _aware(current_due_at, "current_due_at")
    _aware(new_due_at, "new_due_at")
    if already_extended:
        raise DeadlineError("this dossier was already extended once; ND 118 art 19.6 allows one")
    if new_due_at <= current_due_at:
        raise DeadlineError(
            f"the new due time {_local(new_due_at)} must be after the current one "
            f"{_local(current_due_at)}"
        )
    notice = working_minutes_between(requested_at, current_due_at, cal)
    if notice < EXTENSION_NOTICE_MINUTES:
        left = max(notice, 0)
        raise DeadlineError(
            "an extension must be requested at least 1 working day (8 working hours) before the "
            f"due time {_local(current_due_at)}; only {left // 60} h {left % 60:02d} min of "
            "working time were left"
        )


def _local(dt: datetime) -> str:
    return dt.astimezone(TZ).strftime("%H:%M %d/%m/%Y")


# -------------------------------------------------------------------------- timeliness


def classify_completion(done_at: datetime, due_at: datetime) -> str:
    """Early / on time / late by local calendar date (domain decision 7, 766 and Biểu 06a).

    :returns: ``"early"`` when done on a date before the due date, ``"on_time"`` on the due
        date (whatever the hour), ``"late"`` after it.
    :raises DeadlineError: for naive datetimes.
    """
    done = _aware(done_at, "done_at").astimezone(TZ).date()
    due = _aware(due_at, "due_at").astimezone(TZ).date()
    if done < due:
        return "early"
    return "on_time" if done == due else "late"


def classify_step(spent_minutes: int, allotted_minutes: int) -> str:
    """Early / on time / late of an internal step at minute precision (control sheet, Mẫu 06).

    :raises DeadlineError: for negative or non-integer minutes.
    """
    for name, v in (("spent_minutes", spent_minutes), ("allotted_minutes", allotted_minutes)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise DeadlineError(f"{name} must be a whole number >= 0, got {v!r}")
    if spent_minutes < allotted_minutes:
        return "early"
    return "on_time" if spent_minutes == allotted_minutes else "late"


def open_status(due_at: datetime, as_of: datetime) -> str:
    """``"overdue"`` when ``as_of`` is after ``due_at``, else ``"within_time"``.

    The due instant itself is still within time.

    :raises DeadlineError: for naive datetimes.
    """
    _aware(due_at, "due_at")
    _aware(as_of, "as_of")
    return "overdue" if as_of > due_at else "within_time"


def due_state(due_at: datetime, as_of: datetime, cal: WorkCalendar,
              due_soon_working_minutes: int = WORKDAY_MINUTES) -> str:
    """``"overdue"``, ``"due_soon"`` (within *due_soon_working_minutes* of working
    time) or ``"within_time"`` for an open dossier at *as_of*.
    """
    if open_status(due_at, as_of) == "overdue":
        return "overdue"
    if cal.working_minutes_between(as_of, due_at) <= due_soon_working_minutes:
        return "due_soon"
    return "within_time"
