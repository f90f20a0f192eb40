"""Period report (Biểu 06a) and 766 indicators from hand-written event histories.

The period is March 2026 (Sunday 1 to Tuesday 31; no holiday in it; Tết 2026 ended on Friday
20 February). All times are local (Asia/Ho_Chi_Minh); sessions 07:00-11:30 and 13:30-17:00,
so a full working day is 480 working minutes. Every expected figure below was worked out by
hand from the histories, dossier by dossier.
"""

from datetime import date, datetime

import pytest

from edge_node.domain.calendar import TZ, WorkCalendar
from edge_node.domain.clock import to_iso
from edge_node.domain.reports import (
    COLUMNS,
    IRRELEVANT_EVENT_TYPES,
    ROW_FIELDS,
    DossierFacts,
    Period,
    PeriodError,
    chart_series,
    fold_facts,
    fold_rows,
    in_progress_without_due,
    parse_period,
    period_report,
    with_due,
)

CAL = WorkCalendar()
MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))
APRIL = Period(date(2026, 4, 1), date(2026, 4, 30))
AFTER_MARCH = datetime(2026, 5, 15, 9, 0, tzinfo=TZ)  # both periods are over

PROCEDURES = {
    "P1": ("1.000001", "Đăng ký khai sinh", "Hộ tịch"),
    "P2": ("2.000002", "Chứng thực bản sao từ bản chính", "Chứng thực"),
    "P3": ("3.000003", "Đăng ký biến động đất đai", "Đất đai"),
    "P4": ("1.000004", "Đăng ký kết hôn", "Hộ tịch"),
}


def t(mo, d, h=9, mi=0) -> str:
    return to_iso(datetime(2026, mo, d, h, mi, tzinfo=TZ))


def ev(kind: str, at: str, **fields) -> dict:
    return {"type": kind, "at": at, "set": fields}


def accept(at: str, proc: str, due: str, channel: int = 1) -> dict:
    code, name, field = PROCEDURES[proc]
    return ev("accept", at, status="DA_TIEP_NHAN", dvcqg_status=2, received_at=at, due_at=due,
              channel=channel, procedure_code=code, procedure_name=name, field=field,
              completed_at=None, extension_count=0)


def transfer(at):
    return ev("transfer", at, status="DANG_XU_LY", transferred_at=at)


def complete(at, due=None):
    extra = {"due_at": due} if due else {}
    return ev("complete", at, status="DA_XU_LY_XONG", completed_at=at, **extra)


def returned(at):
    return ev("return_result", at, status="DA_TRA_KET_QUA", returned_at=at)


# Dossier by dossier: what happened, and where it lands in the March report.
HISTORIES = {
    # carried over (received 26/02), done early: completed Tue 03/03, due Thu 05/03.
    # 26/02 09:00-17:00 = 360 + 27/02 480 + 02/03 480 + 03/03 07:00-10:00 180 = 1500 min.
    "A": [accept(t(2, 26), "P1", t(3, 5)), transfer(t(2, 26, 10)),
          complete(t(3, 3, 10), due=t(3, 5)), returned(t(3, 4, 8))],
    # received Mon 02/03, due Mon 09/03 08:00, completed the same date at 16:00: on time.
    # 02/03 08:00- = 420 + 03..06/03 1920 + 09/03 07:00-16:00 420 = 2760 min.
    "B": [accept(t(3, 2, 8), "P1", t(3, 9, 8)), transfer(t(3, 2, 9)),
          complete(t(3, 9, 16), due=t(3, 9, 8))],
    # online, 1 working day, completed Thu 05/03 after the due Wed 04/03: late.
    # 03/03 09:00- = 360 + 04/03 480 + 05/03 07:00-10:00 180 = 1020 min.
    "C": [accept(t(3, 3), "P2", t(3, 4), channel=2), transfer(t(3, 3, 10)),
          complete(t(3, 5, 10), due=t(3, 4))],
    # supplement asked and never brought within March: paused, so within time although the
    # due time (Thu 05/03) is long past at the end of March.
    "D": [accept(t(3, 4), "P2", t(3, 5)), transfer(t(3, 4, 10)),
          ev("request_supplement", t(3, 4, 14), status="CHO_BO_SUNG", supplement_count=1)],
    # withdrawn by the citizen on Tue 10/03.
    "E": [accept(t(3, 5), "P3", t(3, 19)), transfer(t(3, 5, 10)),
          ev("withdraw", t(3, 10), status="DA_RUT", withdrawn_at=t(3, 10))],
    # extended on Fri 13/03 from Mon 16/03 08:00 to Fri 20/03 16:00, completed Fri 20/03
    # 10:00: on time (late without the extension).
    # 09/03 08:00- = 420 + 10..13/03 1920 + 16..19/03 1920 + 20/03 180 = 4440 min.
    "F": [accept(t(3, 9, 8), "P3", t(3, 16, 8)), transfer(t(3, 9, 9)),
          ev("handover", t(3, 10), current_step=2),
          ev("extend", t(3, 13), extension_count=1, original_due_at=t(3, 16, 8),
             due_at=t(3, 20, 16)),
          complete(t(3, 20, 10), due=t(3, 20, 16))],
    # open at the end of March, due Wed 01/04: within time.
    "G": [accept(t(3, 25), "P4", t(4, 1)), transfer(t(3, 25, 10))],
    # open at the end of March, due Fri 27/03: overdue.
    "H": [accept(t(3, 26), "P1", t(3, 27)), transfer(t(3, 26, 10))],
    # due Tue 31/03 16:00 and completed only on Wed 01/04: overdue at the end of March.
    "I": [accept(t(3, 30), "P2", t(3, 31, 16)), transfer(t(3, 30, 10)),
          complete(t(4, 1, 9), due=t(3, 31, 16))],
    # carried over; supplement asked Mon 02/03, brought Wed 04/03 (the clock restarts: due
    # Wed 11/03 09:00), completed Wed 11/03 15:00: on time.
    # 27/02 09:00- = 360 + 02..06/03 2400 + 09..10/03 960 + 11/03 to 15:00 360 = 4080 min.
    "J": [accept(t(2, 27), "P1", t(3, 6)), transfer(t(2, 27, 10)),
          ev("request_supplement", t(3, 2), status="CHO_BO_SUNG", supplement_count=1),
          ev("receive_supplement", t(3, 4), status="DANG_XU_LY", due_at=t(3, 11)),
          complete(t(3, 11, 15), due=t(3, 11))],
    # received and completed before March: not in the report.
    "K": [accept(t(1, 12), "P1", t(1, 19)), transfer(t(1, 12, 10)),
          complete(t(1, 15), due=t(1, 19))],
    # withdrawn before March: not in the report.
    "L": [accept(t(2, 9), "P2", t(2, 10)),
          ev("withdraw", t(2, 10), status="DA_RUT", withdrawn_at=t(2, 10))],
    # keyed in by mistake and voided: not a dossier.
    "M": [accept(t(3, 16), "P1", t(3, 23)),
          ev("void", t(3, 16, 9, 30), status="HUY_NHAP_SAI")],
    # guided to complete it at the counter (Mẫu 02), never accepted: not received.
    "N": [ev("request_supplement", t(3, 17), status="HUONG_DAN_BO_SUNG", received_at=t(3, 17),
             channel=1, procedure_code="1.000001", procedure_name="Đăng ký khai sinh",
             field="Hộ tịch")],
    # sent by post, stopped by the leader.
    "O": [accept(t(3, 23), "P3", t(4, 6), channel=3), transfer(t(3, 23, 10)),
          ev("stop", t(3, 25), status="DUNG_XU_LY", stopped_at=t(3, 25))],
    # carried over and still being processed (25 working days).
    "Q": [accept(t(2, 23), "P3", t(3, 30, 17)), transfer(t(2, 23, 10)),
          ev("extend", t(3, 20), extension_count=1, due_at=t(4, 10, 16))],
    # supplement asked, never brought, closed after 15 days.
    "R": [accept(t(3, 2, 10), "P2", t(3, 3, 10)), transfer(t(3, 2, 11)),
          ev("request_supplement", t(3, 2, 14), status="CHO_BO_SUNG", supplement_count=1),
          ev("close", t(3, 18), status="DA_DONG", closed_at=t(3, 18))],
    # received on the last afternoon, done within 30 minutes, due Wed 01/04: early.
    "S": [accept(t(3, 31, 16), "P2", t(4, 1, 16)), transfer(t(3, 31, 16, 5)),
          complete(t(3, 31, 16, 30), due=t(4, 1, 16))],
    # received the day after the period: not in it.
    "U": [accept(t(4, 1, 7, 30), "P1", t(4, 8, 7, 30))],
}


def block(received, done, in_progress, ended) -> dict:
    """Hand-written row: (total, online, direct, carried), (total, early, on time, late),
    (total, within, overdue), (total, withdrawn, stopped, closed)."""
    names = {"received": ("total", "online", "direct", "carried_over"),
             "done": ("total", "early", "on_time", "late"),
             "in_progress": ("total", "within_time", "overdue"),
             "ended_without_result": ("total", "withdrawn", "stopped", "closed")}
    values = {"received": received, "done": done, "in_progress": in_progress,
              "ended_without_result": ended}
    return {g: dict(zip(cols, values[g], strict=True)) for g, cols in names.items()}


EXPECTED_TOTAL = block((14, 1, 10, 3), (6, 2, 3, 1), (5, 3, 2), (3, 1, 1, 1))
EXPECTED_BY_FIELD = [
    {"field": "Chứng thực", **block((5, 1, 4, 0), (2, 1, 0, 1), (2, 1, 1), (1, 0, 0, 1))},
    {"field": "Đất đai", **block((4, 0, 3, 1), (1, 0, 1, 0), (1, 1, 0), (2, 1, 1, 0))},
    {"field": "Hộ tịch", **block((5, 0, 3, 2), (3, 1, 2, 0), (2, 1, 1), (0, 0, 0, 0))},
]
EXPECTED_BY_PROCEDURE = [
    {"procedure_code": "1.000001", "procedure_name": "Đăng ký khai sinh", "field": "Hộ tịch",
     **block((4, 0, 2, 2), (3, 1, 2, 0), (1, 0, 1), (0, 0, 0, 0))},
    {"procedure_code": "1.000004", "procedure_name": "Đăng ký kết hôn", "field": "Hộ tịch",
     **block((1, 0, 1, 0), (0, 0, 0, 0), (1, 1, 0), (0, 0, 0, 0))},
    {"procedure_code": "2.000002", "procedure_name": "Chứng thực bản sao từ bản chính",
     "field": "Chứng thực", **block((5, 1, 4, 0), (2, 1, 0, 1), (2, 1, 1), (1, 0, 0, 1))},
    {"procedure_code": "3.000003", "procedure_name": "Đăng ký biến động đất đai",
     "field": "Đất đai", **block((4, 0, 3, 1), (1, 0, 1, 0), (1, 1, 0), (2, 1, 1, 0))},
]


def facts_of(histories: dict, period: Period) -> list[DossierFacts]:
    out = [fold_facts(code, events, period.end_at) for code, events in histories.items()]
    return [f for f in out if f is not None]


def march(histories=HISTORIES, **kwargs) -> dict:
    kwargs.setdefault("now", AFTER_MARCH)
    return period_report(facts_of(histories, MARCH), MARCH, cal=CAL, **kwargs)


def table(report: dict) -> dict:
    return {g: report[g] for g in ("received", "done", "in_progress", "ended_without_result")}


def test_the_march_table_matches_the_hand_computed_one():
    report = march()
    assert table(report) == EXPECTED_TOTAL
    assert report["by_field"] == EXPECTED_BY_FIELD
    assert report["by_procedure"] == EXPECTED_BY_PROCEDURE
    assert report["period"] == {"from": "2026-03-01", "to": "2026-03-31",
                                "as_of": to_iso(MARCH.end_at), "final": True}


def _flat(row: dict) -> list[int]:
    return [row[g][c] for g, c in COLUMNS]


@pytest.mark.parametrize("histories", [HISTORIES, {k: v for k, v in HISTORIES.items()
                                                   if k not in ("A", "C", "O")}])
def test_totals_add_up(histories):
    report = march(histories)
    for row in [report, *report["by_field"], *report["by_procedure"]]:
        r, d, p, e = (row[g] for g in ("received", "done", "in_progress",
                                       "ended_without_result"))
        assert r["total"] == r["online"] + r["direct"] + r["carried_over"]
        assert d["total"] == d["early"] + d["on_time"] + d["late"]
        assert p["total"] == p["within_time"] + p["overdue"]
        assert e["total"] == e["withdrawn"] + e["stopped"] + e["closed"]
        assert r["total"] == d["total"] + p["total"] + e["total"]
    for rows in (report["by_field"], report["by_procedure"]):
        sums = [sum(col) for col in zip(*(_flat(r) for r in rows), strict=True)]
        assert sums == _flat(report)


def test_indicators():
    ind = march(synced={"A", "B", "K"})["indicators"]
    assert ind["on_time_rate"]["value"] == round(5 / 6, 4)
    assert (ind["on_time_rate"]["numerator"], ind["on_time_rate"]["denominator"]) == (5, 6)
    assert ind["online_share"]["value"] == round(1 / 11, 4)
    assert (ind["online_share"]["numerator"], ind["online_share"]["denominator"]) == (1, 11)
    # K is synced but outside the period: 2 of the 14 dossiers in the table
    assert (ind["synced_to_province"]["numerator"],
            ind["synced_to_province"]["denominator"]) == (2, 14)
    avg = ind["avg_processing_working_days"]
    # A 1500 + B 2760 + C 1020 + F 4440 + J 4080 + S 30 = 13830 min over 6 dossiers
    assert (avg["count"], avg["value"]) == (6, round(13830 / 6 / 480, 2)) == (6, 4.8)
    assert avg["by_procedure"] == [
        {"procedure_code": "1.000001", "procedure_name": "Đăng ký khai sinh", "count": 3,
         "value": round((1500 + 2760 + 4080) / 3 / 480, 2)},
        {"procedure_code": "2.000002", "procedure_name": "Chứng thực bản sao từ bản chính",
         "count": 2, "value": round((1020 + 30) / 2 / 480, 2)},
        {"procedure_code": "3.000003", "procedure_name": "Đăng ký biến động đất đai",
         "count": 1, "value": 9.25},
    ]
    for key in ("digitised_at_intake", "electronic_result", "paid_online"):
        assert ind[key]["value"] is None and ind[key]["note"]
    hub_view = march()["indicators"]["synced_to_province"]
    assert hub_view["value"] is None and hub_view["note"]


def test_a_past_period_gives_the_same_numbers_after_later_events():
    before = march()
    later = {code: list(events) for code, events in HISTORIES.items()}
    later["D"] += [ev("receive_supplement", t(4, 1), status="DANG_XU_LY", due_at=t(4, 2)),
                   complete(t(4, 2, 10), due=t(4, 2))]
    later["G"] += [ev("handover", t(4, 1), current_step=2), complete(t(4, 1, 15), due=t(4, 1))]
    later["H"] += [ev("withdraw", t(4, 2), status="DA_RUT", withdrawn_at=t(4, 2))]
    later["Q"] += [ev("void", t(4, 3), status="HUY_NHAP_SAI")]  # unusual, still ignored
    later["B"] += [ev("correct", t(4, 6), status="DANG_XU_LY", completed_at=None,
                      due_at=t(4, 9)), complete(t(4, 8), due=t(4, 9))]
    later["V"] = [accept(t(4, 2), "P1", t(4, 9))]
    assert march(later) == before
    # and tomorrow is tomorrow: asking again a month later changes nothing either
    assert march(later, now=datetime(2026, 6, 30, tzinfo=TZ)) == before


def test_the_next_period_carries_over_what_was_in_progress():
    mar = march()
    apr = period_report(facts_of(HISTORIES, APRIL), APRIL, now=AFTER_MARCH, cal=CAL)
    assert apr["received"]["carried_over"] == mar["in_progress"]["total"] == 5
    assert apr["received"]["direct"] == 1  # U
    # I was completed on 01/04 after its due date 31/03: late, in April
    assert apr["done"] == {"total": 1, "early": 0, "on_time": 0, "late": 1}


def test_a_period_not_over_yet_judges_open_dossiers_now():
    def upto(now):
        cut = {code: [e for e in events if e["at"] < to_iso(now)]
               for code, events in HISTORIES.items()}
        return march(cut, now=now)

    # H is due Fri 27/03 09:00
    morning = upto(datetime(2026, 3, 27, 8, 0, tzinfo=TZ))
    assert morning["period"]["final"] is False
    assert morning["period"]["as_of"] == t(3, 27, 8)
    assert morning["in_progress"] == {"total": 4, "within_time": 4, "overdue": 0}  # D G H Q
    later = upto(datetime(2026, 3, 27, 10, 0, tzinfo=TZ))
    assert later["in_progress"] == {"total": 4, "within_time": 3, "overdue": 1}


def test_fold_facts_reads_events_up_to_the_instant_only():
    f = fold_facts("F", HISTORIES["F"], MARCH.end_at)
    assert (f.received_at, f.completed_at, f.due_at_completion) == (t(3, 9, 8), t(3, 20, 10),
                                                                    t(3, 20, 16))
    assert fold_facts("F", HISTORIES["F"], t(3, 9, 8)) is None  # not yet accepted
    mid = fold_facts("F", HISTORIES["F"], t(3, 14))
    assert (mid.completed_at, mid.due_at, mid.status) == (None, t(3, 20, 16), "DANG_XU_LY")
    assert fold_facts("N", HISTORIES["N"], MARCH.end_at) is None
    # rows as stored (payload holding the set) fold the same way
    stored = [{"type": e["type"], "at": e["at"], "payload": {"set": e["set"], "data": {}}}
              for e in HISTORIES["J"]]
    assert fold_facts("J", stored, MARCH.end_at) == fold_facts("J", HISTORIES["J"],
                                                               MARCH.end_at)


def test_rows_shaped_like_the_node_query_fold_the_same():
    """The node's query leaves out transfers, handovers and returns, does not read an
    acceptance's payload, and fills the intake due time in afterwards where still needed."""
    assert ROW_FIELDS[:6] == ("code", "order", "type", "at", "status", "due_at")
    expected = {f.code: f for f in facts_of(HISTORIES, MARCH)}
    got = {}
    for code, events in HISTORIES.items():
        rows = []
        for i, e in enumerate(events):
            if e["type"] in IRRELEVANT_EVENT_TYPES:
                continue
            accept = e["type"] == "accept"
            rows.append((code, i, e["type"], e["at"], None if accept else e["set"].get("status"),
                         None if accept else e["set"].get("due_at")))
        first = next(e["set"] for e in events if e["type"] in ("accept", "request_supplement"))
        rows[0] = rows[0] + tuple(first.get(k) for k in ROW_FIELDS[6:])
        fact = fold_rows(rows, MARCH.end_at)
        if fact is not None:
            got[code] = fact
    for code in in_progress_without_due(got.values()):
        got[code] = with_due(got[code], HISTORIES[code][0]["set"]["due_at"])
    assert sorted(in_progress_without_due(fold_rows([r], MARCH.end_at) for r in [
        ("G", 0, "accept", t(3, 25), None, None, "1.000004", "x", "Hộ tịch", 1)])) == ["G"]
    for code, fact in expected.items():
        # the status differs only where nothing but the acceptance set one, and the due time
        # in force only where no longer read (done, ended)
        finished = fact.completed_at or fact.ended_at
        assert got[code]._replace(status="", due_at=None if finished else fact.due_at) == (
            fact._replace(status="", due_at=None if finished else fact.due_at)), code
        if not finished:
            assert got[code].due_at == fact.due_at
    assert set(got) == set(expected)
    assert period_report(got.values(), MARCH, now=AFTER_MARCH, cal=CAL) == march()


def test_chart_series():
    charts = chart_series(facts_of(HISTORIES, MARCH), MARCH, now=AFTER_MARCH)
    assert charts["bucket"] == "week"
    zero = {"done_in_time": 0, "done_late": 0, "in_progress": 0, "overdue": 0, "ended": 0}
    assert charts["intake"] == [
        {"start": "2026-02-23", **zero},
        {"start": "2026-03-02", **zero, "done_in_time": 1, "done_late": 1, "in_progress": 1,
         "ended": 2},  # B, C, D, E and R
        {"start": "2026-03-09", **zero, "done_in_time": 1},  # F
        {"start": "2026-03-16", **zero},  # M was voided, N never accepted
        {"start": "2026-03-23", **zero, "in_progress": 1, "overdue": 1, "ended": 1},  # G H O
        {"start": "2026-03-30", **zero, "done_in_time": 1, "overdue": 1},  # S I
    ]
    assert charts["on_time"] == [{"month": "2026-03", "done": 6, "in_time": 5,
                                  "rate": round(5 / 6, 4)}]
    assert charts["overdue"] == [
        {"procedure_code": "2.000002", "procedure_name": "Chứng thực bản sao từ bản chính",
         "done_late": 1, "in_progress_overdue": 1},
        {"procedure_code": "1.000001", "procedure_name": "Đăng ký khai sinh",
         "done_late": 0, "in_progress_overdue": 1},
    ]
    year = Period(date(2025, 4, 1), date(2026, 3, 31))
    long = chart_series(facts_of(HISTORIES, year), year, now=AFTER_MARCH)
    assert long["bucket"] == "week" and len(long["on_time"]) == 12
    five = Period(date(2022, 1, 1), date(2026, 12, 31))
    longer = chart_series(facts_of(HISTORIES, five), five, now=AFTER_MARCH)
    assert longer["bucket"] == "month" and len(longer["intake"]) == 60
    # every dossier of these five years was received and done within them
    assert sum(b["done_in_time"] + b["done_late"] for b in longer["intake"]) == sum(
        m["done"] for m in longer["on_time"]) == 8


@pytest.mark.parametrize(("start", "end", "code"), [
    (None, "2026-03-31", "missing_date"),
    ("2026-03-01", "", "missing_date"),
    ("2026-02-30", "2026-03-31", "bad_date"),
    ("01/03/2026", "2026-03-31", "bad_date"),
    ("20260301", "2026-03-31", "bad_date"),
    ("2026-04-01", "2026-03-31", "bad_period"),
    ("2021-01-01", "2026-01-01", "period_too_long"),
    ("1990-01-01", "1990-12-31", "bad_date"),
])
def test_bad_periods_are_refused_in_vietnamese(start, end, code):
    with pytest.raises(PeriodError) as err:
        parse_period(start, end)
    assert err.value.code == code and err.value.message


def test_good_periods():
    assert parse_period("2026-03-01", "2026-03-31") == MARCH
    assert parse_period("2021-01-01", "2025-12-31").end == date(2025, 12, 31)  # 5 years
    assert parse_period("2026-03-05", "2026-03-05").start == date(2026, 3, 5)
    assert to_iso(MARCH.start_at) == "2026-02-28T17:00:00Z"
    assert to_iso(MARCH.end_at) == "2026-03-31T17:00:00Z"
