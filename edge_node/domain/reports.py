"""Period report (Biểu II.06a) and the QĐ 766 indicators computable on a node. Pure.

Everything is computed from dossier *events*, never from the current projection: each dossier's
events up to the end of the period are folded (:func:`fold_facts`, or :func:`fold_rows` for
the compact rows a database query returns), so a past period gives the same figures
tomorrow, whatever happens to its dossiers afterwards. The node and the provincial hub feed
the same events to the same functions, so they agree.

A period is a range of local (Asia/Ho_Chi_Minh) calendar dates ``[start, end]``; its instants
are ``[start 00:00, end + 1 day 00:00)`` local time.

Rules (domain decision 7, ``shared/docs/domain.md`` §4.4 and §8):

* **Received** (tiếp nhận) — a dossier counts from its ``accept`` event (counter outcomes
  "guide to supplement" and "refuse" before acceptance are not received). *In the period*:
  accepted within it, split online (``channel`` 2) and direct (1 counter, 3 postal).
  *Carried over* (từ kỳ trước): accepted before the period and still open at its start (no
  result and not withdrawn, stopped or closed before it).
* **Done** (đã giải quyết) — the first ``complete`` or ``reject`` (a result or a refusal
  decision, DVCQG 9, ``NgayKetThucXuLy``) within the period; early / on time / late by the
  local calendar date of completion against the due date in force at that moment
  (:func:`~edge_node.domain.deadlines.classify_completion`). A later correction
  (``correct``, ND 118 art 23.1) fixes the result; it does not make the dossier new work, so
  the statistics keep the first completion.
* **In progress** (đang giải quyết) at the end of the period — neither done nor ended. Overdue
  when the due time in force is before the reference instant (the period end, or now for a
  period that has not ended yet); at the period end this is the same as "due date on or before
  the last day". Paused dossiers (``CHO_BO_SUNG``, ``CHO_NGHIA_VU_TAI_CHINH``) count as within
  time (06a column 12 note).
* **Ended without a result** — withdrawn (``DA_RUT``), stopped (``DUNG_XU_LY``) or closed
  after the supplement period (``DA_DONG``) within the period. Biểu 06a has no column for them
  (one implementation files them under "on time"); they are kept apart so the on-time rate
  only judges dossiers that got a result, and so the table balances::

      received.total = done.total + in_progress.total + ended_without_result.total

* A dossier **voided** as keyed in by mistake (``HUY_NHAP_SAI``, DVCQG 3) before the period
  end is not a dossier at all for that period.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

from edge_node.domain.calendar import TZ, WorkCalendar
from edge_node.domain.clock import parse_iso as _parse
from edge_node.domain.clock import to_iso as _iso
from edge_node.domain.deadlines import WORKDAY_MINUTES, classify_completion
from edge_node.domain.text import fold

__all__ = [
    "ATTRIBUTES",
    "COLUMNS",
    "GROUPS",
    "INDICATOR_LABELS",
    "IRRELEVANT_EVENT_TYPES",
    "MAX_PERIOD_YEARS",
    "ROW_FIELDS",
    "WEEKLY_CLASSES",
    "DossierFacts",
    "Period",
    "PeriodError",
    "chart_series",
    "fold_facts",
    "fold_rows",
    "in_progress_without_due",
    "parse_period",
    "period_report",
    "with_due",
]

CHANNEL_ONLINE = 2
PAUSED_STATES = ("CHO_BO_SUNG", "CHO_NGHIA_VU_TAI_CHINH")
COMPLETION_TYPES = ("complete", "reject")
ENDING_TYPES = {"withdraw": "withdrawn", "stop": "stopped", "close": "closed", "void": "voided"}
MAX_PERIOD_YEARS = 5

#: The table's column groups and their columns, with the Vietnamese headers of Biểu 06a.
GROUPS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("received", "Số hồ sơ tiếp nhận", (
        ("total", "Tổng số"), ("online", "Trực tuyến"), ("direct", "Trực tiếp, bưu chính"),
        ("carried_over", "Từ kỳ trước chuyển sang"))),
    ("done", "Số hồ sơ đã giải quyết", (
        ("total", "Tổng số"), ("early", "Trước hạn"), ("on_time", "Đúng hạn"),
        ("late", "Quá hạn"))),
    ("in_progress", "Số hồ sơ đang giải quyết", (
        ("total", "Tổng số"), ("within_time", "Trong hạn"), ("overdue", "Quá hạn"))),
    ("ended_without_result", "Rút, dừng, đóng (không có kết quả)", (
        ("total", "Tổng số"), ("withdrawn", "Rút hồ sơ"), ("stopped", "Dừng xử lý"),
        ("closed", "Đóng (quá hạn bổ sung)"))),
)
#: Flat ``(group, column)`` keys in table order.
COLUMNS: tuple[tuple[str, str], ...] = tuple((g, c) for g, _, cols in GROUPS for c, _ in cols)
_IX = {key: i for i, key in enumerate(COLUMNS)}

INDICATOR_LABELS = {
    "on_time_rate": "Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn",
    "avg_processing_working_days": "Thời gian giải quyết trung bình (ngày làm việc)",
    "online_share": "Tỷ lệ hồ sơ nộp trực tuyến",
    "digitised_at_intake": "Tỷ lệ hồ sơ được số hóa khi tiếp nhận",
    "electronic_result": "Tỷ lệ hồ sơ có cấp kết quả điện tử",
    "paid_online": "Tỷ lệ hồ sơ thanh toán trực tuyến",
    "synced_to_province": "Tỷ lệ hồ sơ đã đồng bộ lên hệ thống của tỉnh",
}
_NO_DATA = {
    "digitised_at_intake": "Nút chưa ghi nhận thành phần hồ sơ được số hóa khi tiếp nhận; "
                           "chưa có dữ liệu để tính.",
    "electronic_result": "Nút chưa cấp kết quả điện tử có ký số; chưa có dữ liệu để tính.",
    "paid_online": "Nút chỉ ghi nhận nộp phí, lệ phí tại quầy; chưa có thanh toán trực tuyến.",
}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PeriodError(ValueError):
    """A period that cannot be reported: ``code`` is stable, ``message`` Vietnamese."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


@dataclass(frozen=True, slots=True)
class Period:
    """Local calendar dates ``start`` to ``end``, both included."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        """First instant (UTC) of the period: local midnight of ``start``."""
        return datetime.combine(self.start, time(0), tzinfo=TZ).astimezone(UTC)

    @property
    def end_at(self) -> datetime:
        """First instant (UTC) after the period: local midnight after ``end``."""
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=TZ).astimezone(UTC)


def parse_period(start: str | None, end: str | None) -> Period:
    """Read ``YYYY-MM-DD`` dates; the period may not run backwards or span over 5 years.

    :raises PeriodError: ``missing_date``, ``bad_date``, ``bad_period`` or ``period_too_long``.
    """
    days = []
    for name, text in (("from", start), ("to", end)):
        text = (text or "").strip()
        if not text:
            which = "bắt đầu" if name == "from" else "kết thúc"
            raise PeriodError("missing_date", f"Thiếu ngày {which} của kỳ báo cáo "
                                              f"(tham số “{name}”, dạng năm-tháng-ngày).")
        try:
            if not _DATE_RE.match(text):
                raise ValueError(text)
            days.append(date.fromisoformat(text))
        except ValueError:
            raise PeriodError("bad_date", f"Ngày không hợp lệ: “{text[:40]}” (cần dạng "
                                          "năm-tháng-ngày, ví dụ 2026-01-31).") from None
    first, last = days
    if first > last:
        raise PeriodError("bad_period", "Ngày bắt đầu phải trước hoặc trùng ngày kết thúc.")
    if last >= _add_years(first, MAX_PERIOD_YEARS):
        raise PeriodError("period_too_long",
                          f"Kỳ báo cáo dài tối đa {MAX_PERIOD_YEARS} năm.")
    if first.year < 1995 or last.year > 2098:
        raise PeriodError("bad_date", "Ngày nằm ngoài khoảng lịch làm việc hỗ trợ "
                                      "(1995–2098).")
    return Period(first, last)


class DossierFacts(NamedTuple):
    """What the report needs of one accepted dossier, as of an instant.

    Instants are canonical UTC text ``YYYY-MM-DDTHH:MM:SSZ`` (as stored), so they compare as
    strings.

    :param completed_at: first ``complete``/``reject`` (NgayKetThucXuLy), if any.
    :param due_at_completion: the due time in force at that completion.
    :param ended_at: ``withdraw``/``stop``/``close``/``void`` before any completion, if any.
    :param end_kind: ``withdrawn``, ``stopped``, ``closed`` or ``voided``.
    :param status: state as of the instant ("" if no folded event set it); ``due_at`` the
        due time in force then.
    """

    code: str
    procedure_code: str
    procedure_name: str
    field: str
    channel: int
    received_at: str
    completed_at: str | None
    due_at_completion: str | None
    ended_at: str | None
    end_kind: str | None
    status: str
    due_at: str | None


#: Event types that change nothing the report reads (status open/paused, due time,
#: completion, ending); a caller may leave them out of the histories it folds.
IRRELEVANT_EVENT_TYPES = ("transfer", "handover", "return_result")
#: Intake facts no later event changes (they are set once, at acceptance).
ATTRIBUTES = ("procedure_code", "procedure_name", "field", "channel")

#: Layout of the rows :func:`fold_rows` reads, one per event: the dossier code, something
#: that orders its events (the event id), the event type, its instant, the ``status`` and
#: ``due_at`` it set (``None``: not set by this event), then the intake facts
#: :data:`ATTRIBUTES` (only the first row's are read).
ROW_FIELDS = ("code", "order", "type", "at", "status", "due_at", *ATTRIBUTES)


def _event_set(event: Mapping) -> Mapping:
    if "set" in event:
        return event["set"] or {}
    return (event.get("payload") or {}).get("set") or {}


def fold_facts(code: str, events: Iterable[Mapping], until: datetime | str
               ) -> DossierFacts | None:
    """Fold one dossier's events (in order) that happened before ``until``.

    Each event is a mapping with ``type``, ``at`` (UTC ISO text) and ``set`` (the fields it
    set); a ``dossier_events`` row with ``payload: {"set": …}`` works too. Only ``status``,
    ``due_at`` and the intake facts :data:`ATTRIBUTES` of the sets are read. Events at or
    after ``until`` are ignored, and so may be events of :data:`IRRELEVANT_EVENT_TYPES`.

    :returns: the facts, or ``None`` for a dossier not accepted before ``until``.
    """
    limit = until if isinstance(until, str) else _iso(until)
    intake: dict = {}
    rows = []
    for i, event in enumerate(events):
        changes = _event_set(event)
        if event["at"] < limit:
            intake.update({k: changes[k] for k in ATTRIBUTES if k in changes})
        rows.append((code, i, event["type"], event["at"], changes.get("status"),
                     changes.get("due_at")))
    if not rows:
        return None
    attrs = tuple(intake.get(k) for k in ATTRIBUTES)
    return fold_rows([r + attrs for r in rows], limit)


def fold_rows(rows: list[tuple], until: datetime | str) -> DossierFacts | None:
    """:func:`fold_facts` over one dossier's events given as :data:`ROW_FIELDS` rows, in
    order — what the node's report query returns, without building a mapping per event.

    The receipt time is the ``at`` of the ``accept`` event (acceptance stamps
    ``received_at`` with it).
    """
    limit = until if isinstance(until, str) else _iso(until)
    status = due = received = completed = due_done = ended = kind = None
    for row in rows:
        at = row[3]
        if at >= limit:
            continue
        etype = row[2]
        if row[4] is not None:
            status = row[4]
        if row[5] is not None:
            due = row[5]
        if received is None:
            if etype == "accept":
                received = at
            continue
        if completed is not None or ended is not None:
            continue
        if etype in COMPLETION_TYPES:
            completed, due_done = at, due
        elif etype in ENDING_TYPES:
            ended, kind = at, ENDING_TYPES[etype]
    if received is None:
        return None
    first = rows[0]
    return DossierFacts(first[0], first[6] or "", first[7] or "", first[8] or "",
                        int(first[9] or 1), received, completed, due_done, ended, kind,
                        status or "", due)


def in_progress_without_due(facts: Iterable[DossierFacts]) -> list[str]:
    """Codes of dossiers still open whose due time no folded event gave (a caller that left
    out the acceptance's due time must supply it, see :func:`with_due`)."""
    return [f.code for f in facts if f.completed_at is None and f.ended_at is None
            and f.due_at is None]


def with_due(fact: DossierFacts, due_at: str | None) -> DossierFacts:
    """The same facts with the due time in force set (when no later event changed it)."""
    return fact._replace(due_at=due_at)


def _dt(text: str) -> datetime:
    # stored instants are canonical ("…Z"), which fromisoformat reads directly and fast;
    # anything else goes through parse_iso (which refuses an instant without a zone)
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo is not None else _parse(text)


def _outcome(f: DossierFacts, t0: str, t1: str, ref: str) -> tuple[int, int, int, int] | None:
    """Column indexes the dossier adds 1 to (received total, how it came, outcome group
    total, outcome), or ``None`` when it is outside the period."""
    if f.received_at >= t1 or (f.end_kind == "voided" and f.ended_at and f.ended_at < t1):
        return None
    if f.received_at >= t0:
        how = "online" if f.channel == CHANNEL_ONLINE else "direct"
    elif (f.completed_at is None or f.completed_at >= t0) and (
            f.ended_at is None or f.ended_at >= t0):
        how = "carried_over"
    else:
        return None
    if f.completed_at is not None and f.completed_at < t1:
        verdict = ("on_time" if not f.due_at_completion else
                   classify_completion(_dt(f.completed_at), _dt(f.due_at_completion)))
        group, col = "done", verdict
    elif f.ended_at is not None and f.ended_at < t1:
        group, col = "ended_without_result", f.end_kind
    else:
        late = f.status not in PAUSED_STATES and f.due_at is not None and f.due_at < ref
        group, col = "in_progress", ("overdue" if late else "within_time")
    return (_IX["received", "total"], _IX["received", how], _IX[group, "total"],
            _IX[group, col])


def _block(counts: list[int]) -> dict:
    out: dict = {}
    for (group, col), value in zip(COLUMNS, counts, strict=True):
        out.setdefault(group, {})[col] = value
    return out


def _ratio(numerator: int, denominator: int, label: str, note: str = "") -> dict:
    return {"label": label,
            "value": round(numerator / denominator, 4) if denominator else None,
            "numerator": numerator, "denominator": denominator, "note": note}


def _reference(period: Period, now: datetime) -> tuple[str, str, str, bool]:
    t0, t1 = _iso(period.start_at), _iso(period.end_at)
    now_iso = _iso(now)
    final = now_iso >= t1
    return t0, t1, (t1 if final else now_iso), final


def _classify(facts: Iterable[DossierFacts], period: Period, now: datetime
              ) -> list[tuple[DossierFacts, tuple[int, int, int, int]]]:
    t0, t1, ref, _ = _reference(period, now)
    out = []
    for f in facts:
        cols = _outcome(f, t0, t1, ref)
        if cols is not None:
            out.append((f, cols))
    return out


def period_report(facts: Iterable[DossierFacts], period: Period, *, now: datetime,
                  cal: WorkCalendar, synced: set[str] | None = None,
                  charts: bool = False) -> dict:
    """The Biểu 06a table, by field and by procedure, and the 766 indicators.

    :param facts: one :class:`DossierFacts` per dossier, folded up to ``period.end_at``.
    :param now: when the report is made; for a period not over yet, in-progress dossiers are
        judged at ``now`` instead of the period end (``final`` is then false).
    :param cal: the working calendar, for the average processing time in working days.
    :param synced: codes of dossiers whose events up to the period end the province has all
        acknowledged; ``None`` when the caller cannot know (the hub).
    :param charts: also compute the dashboard series (:func:`chart_series`) under ``charts``.
    :returns: a JSON-ready dict::

            {"period": {"from", "to", "as_of", "final"},
             "received": {"total", "online", "direct", "carried_over"},
             "done": {"total", "early", "on_time", "late"},
             "in_progress": {"total", "within_time", "overdue"},
             "ended_without_result": {"total", "withdrawn", "stopped", "closed"},
             "by_field": [{"field", <the four groups>}],
             "by_procedure": [{"procedure_code", "procedure_name", "field", <the four groups>}],
             "indicators": {name: {"label", "value", "numerator", "denominator", "note"}}}

        Ratios are between 0 and 1 (``None`` without a denominator or without data);
        ``avg_processing_working_days`` has ``value``, ``count`` and ``by_procedure`` instead.
    """
    classified = _classify(facts, period, now)
    _, _, ref, final = _reference(period, now)
    width = len(COLUMNS)
    total = [0] * width
    by_field: dict[str, list[int]] = {}
    by_proc: dict[str, list[int]] = {}
    names: dict[str, tuple[str, str, str, str]] = {}  # code -> (received_at, code, name, field)
    minutes: dict[str, list[int]] = {}  # procedure -> [sum of working minutes, count]
    synced_count = 0
    done_total = _IX["done", "total"]
    for f, cols in classified:
        if synced is not None and f.code in synced:
            synced_count += 1
        field_row = by_field.get(f.field)
        if field_row is None:
            field_row = by_field[f.field] = [0] * width
        proc_row = by_proc.get(f.procedure_code)
        if proc_row is None:
            proc_row = by_proc[f.procedure_code] = [0] * width
        for i in cols:
            total[i] += 1
            field_row[i] += 1
            proc_row[i] += 1
        seen = names.get(f.procedure_code)
        if seen is None or f.received_at > seen[0] or (f.received_at == seen[0]
                                                       and f.code > seen[1]):
            # the name and field of the latest dossier, should the catalog have renamed it
            names[f.procedure_code] = (f.received_at, f.code, f.procedure_name, f.field)
        if cols[2] == done_total:
            spent = cal.working_minutes_between(_dt(f.received_at), _dt(f.completed_at))
            acc = minutes.get(f.procedure_code)
            if acc is None:
                acc = minutes[f.procedure_code] = [0, 0]
            acc[0] += max(spent, 0)
            acc[1] += 1

    fields = sorted(by_field, key=lambda k: (fold(k), k))
    procs = sorted(by_proc)
    done, late = total[done_total], total[_IX["done", "late"]]
    received_now = total[_IX["received", "online"]] + total[_IX["received", "direct"]]
    all_minutes = sum(m[0] for m in minutes.values())
    all_done = sum(m[1] for m in minutes.values())
    indicators = {
        "on_time_rate": _ratio(done - late, done, INDICATOR_LABELS["on_time_rate"],
                               "(trước hạn + đúng hạn) / đã giải quyết trong kỳ, so theo ngày"),
        "avg_processing_working_days": {
            "label": INDICATOR_LABELS["avg_processing_working_days"],
            "value": _days(all_minutes, all_done), "count": all_done,
            "note": "Từ lúc tiếp nhận đến khi có kết quả (kể cả thời gian chờ bổ sung), "
                    "hồ sơ giải quyết trong kỳ.",
            "by_procedure": [
                {"procedure_code": p, "procedure_name": names[p][2], "count": minutes[p][1],
                 "value": _days(minutes[p][0], minutes[p][1])}
                for p in procs if p in minutes],
        },
        "online_share": _ratio(total[_IX["received", "online"]], received_now,
                               INDICATOR_LABELS["online_share"],
                               "hồ sơ nộp trực tuyến / hồ sơ tiếp nhận trong kỳ"),
        **{key: {"label": INDICATOR_LABELS[key], "value": None, "numerator": None,
                 "denominator": None, "note": note} for key, note in _NO_DATA.items()},
        "synced_to_province": (
            _ratio(synced_count, len(classified), INDICATOR_LABELS["synced_to_province"],
                   "hồ sơ mà mọi thao tác đến cuối kỳ đã được tỉnh xác nhận / hồ sơ trong báo "
                   "cáo; tính đến lúc lập báo cáo")
            if synced is not None else
            {"label": INDICATOR_LABELS["synced_to_province"], "value": None,
             "numerator": None, "denominator": None,
             "note": "Không áp dụng: hệ thống của tỉnh chỉ có hồ sơ đã đồng bộ."}),
    }
    report = {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat(),
                   "as_of": ref, "final": final},
        **_block(total),
        "by_field": [{"field": k, **_block(by_field[k])} for k in fields],
        "by_procedure": [{"procedure_code": p, "procedure_name": names[p][2],
                          "field": names[p][3], **_block(by_proc[p])} for p in procs],
        "indicators": indicators,
    }
    if charts:
        report["charts"] = _series(classified, period)
    return report


def _days(total_minutes: int, count: int) -> float | None:
    return round(total_minutes / count / WORKDAY_MINUTES, 2) if count else None


# --------------------------------------------------------------------------- chart series

#: Outcome classes of the weekly chart, with Vietnamese legends.
WEEKLY_CLASSES = (
    ("done_in_time", "Đã giải quyết trước hạn, đúng hạn"),
    ("done_late", "Đã giải quyết quá hạn"),
    ("in_progress", "Đang giải quyết trong hạn"),
    ("overdue", "Đang giải quyết quá hạn"),
    ("ended", "Rút, dừng, đóng"),
)
_CLASS_OF = {_IX["done", "early"]: "done_in_time", _IX["done", "on_time"]: "done_in_time",
             _IX["done", "late"]: "done_late", _IX["in_progress", "within_time"]: "in_progress",
             _IX["in_progress", "overdue"]: "overdue"}
MAX_WEEKLY_BUCKETS = 53


def _local_day(iso: str) -> date:
    # the local date depends only on the UTC date and hour (whole-hour offset)
    return _local_day_of_hour(iso[:13])


@lru_cache(maxsize=65536)
def _local_day_of_hour(hour: str) -> date:
    return _dt(hour + ":00:00+00:00").astimezone(TZ).date()


def _next_month(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


def chart_series(facts: Iterable[DossierFacts], period: Period, *, now: datetime,
                 top: int = 10) -> dict:
    """Data of the dashboard's three charts, from the same rules as :func:`period_report`.

    * ``intake``: dossiers received in the period per week (per month when the period is
      longer than 53 weeks), split by their state at the period end (:data:`WEEKLY_CLASSES`);
    * ``on_time``: per month, dossiers done in that month and the share early or on time;
    * ``overdue``: the ``top`` procedures by overdue dossiers (done late in the period plus
      in progress and overdue at its end).
    """
    return _series(_classify(facts, period, now), period, top)


def _series(classified, period: Period, top: int = 10) -> dict:
    t0 = _iso(period.start_at)
    weekly = (period.end - period.start).days < MAX_WEEKLY_BUCKETS * 7

    def bucket(d: date) -> date:
        return d - timedelta(days=d.weekday()) if weekly else d.replace(day=1)

    starts = []
    d = bucket(period.start)
    while d <= period.end:
        starts.append(d)
        d = d + timedelta(days=7) if weekly else _next_month(d)
    intake = {s: dict.fromkeys((k for k, _ in WEEKLY_CLASSES), 0) for s in starts}
    months = []
    m = period.start.replace(day=1)
    while m <= period.end:
        months.append(m)
        m = _next_month(m)
    on_time = {mo: [0, 0] for mo in months}  # [done, early or on time]
    overdue: dict[str, list] = {}  # code -> [name, done late, in progress overdue]
    done_late = _IX["done", "late"]
    for f, cols in classified:
        outcome = cols[3]
        klass = _CLASS_OF.get(outcome, "ended")
        if f.received_at >= t0:
            intake[bucket(_local_day(f.received_at))][klass] += 1
        if cols[2] == _IX["done", "total"]:
            slot = on_time[_local_day(f.completed_at).replace(day=1)]
            slot[0] += 1
            slot[1] += outcome != done_late
        if klass in ("done_late", "overdue"):
            row = overdue.setdefault(f.procedure_code, [f.procedure_name, 0, 0])
            row[1 if klass == "done_late" else 2] += 1
    ranked = sorted(overdue.items(), key=lambda kv: (-(kv[1][1] + kv[1][2]), kv[0]))[:top]
    return {
        "bucket": "week" if weekly else "month",
        "intake": [{"start": s.isoformat(), **intake[s]} for s in starts],
        "on_time": [{"month": mo.strftime("%Y-%m"), "done": v[0], "in_time": v[1],
                     "rate": round(v[1] / v[0], 4) if v[0] else None}
                    for mo, v in on_time.items()],
        "overdue": [{"procedure_code": code, "procedure_name": v[0], "done_late": v[1],
                     "in_progress_overdue": v[2]} for code, v in ranked],
    }
