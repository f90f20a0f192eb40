"""Period reports on the node: load the events in one query, fold, render CSV and XLSX.

The figures come from :mod:`edge_node.domain.reports`; this module only reads the database
and writes files. The projection (``dossiers``) is used to *choose* which dossiers to read —
a superset of those the period can involve — and for their intake facts, never for the
figures themselves.
"""

from __future__ import annotations

import io
from datetime import datetime

import sqlite_utils

from edge_node.domain import reports
from edge_node.domain.calendar import WorkCalendar
from edge_node.domain.clock import to_iso as _iso
from edge_node.services.exports import csv_bytes, safe_cell
from edge_node.store.migrations import FINISHED_AT

_SKIP = ", ".join(f"'{t}'" for t in reports.IRRELEVANT_EVENT_TYPES)

# The dossiers a period [t0, t1) can involve, with their intake facts (procedure, field,
# channel: set at acceptance, changed by no event): those received in it, and those received
# before it that had not finished when it began (index dossiers_finished, migration 6; the
# unary + keeps SQLite from scanning the received_at index instead). The projection is used
# for nothing else; every figure comes from the events.
CANDIDATES_SQL = f"""
SELECT code, procedure_code, procedure_name, field, channel FROM dossiers
WHERE received_at >= :t0 AND received_at < :t1
UNION ALL
SELECT code, procedure_code, procedure_name, field, channel FROM dossiers
WHERE +received_at < :t0 AND {FINISHED_AT} >= :t0
"""
# Their events before t1 that matter to the report, as domain.reports.ROW_FIELDS rows: the
# period's events in one range of index dossier_events_at (read in the order they were
# written, as they lie on disk), plus the earlier events of the dossiers carried over. An
# acceptance payload holds the whole row (2 kB): its status is known (DA_TIEP_NHAN, not
# paused) and its due time is read only for the few dossiers still open with no later due
# time (INTAKE_DUE_SQL), which saves most of the JSON parsing.
_EVENT_COLUMNS = """e.dossier_code, e.id, e.type, e.at,
       CASE WHEN e.type = 'accept' THEN NULL ELSE json_extract(e.payload, '$.set.status') END,
       CASE WHEN e.type = 'accept' THEN NULL ELSE json_extract(e.payload, '$.set.due_at') END"""
PERIOD_EVENTS_SQL = f"""
SELECT {_EVENT_COLUMNS}
FROM dossier_events e
WHERE e.at >= :t0 AND e.at < :t1 AND e.type NOT IN ({_SKIP})
UNION ALL
SELECT {_EVENT_COLUMNS}
FROM (SELECT code FROM dossiers WHERE +received_at < :t0 AND {FINISHED_AT} >= :t0) c
JOIN dossier_events e ON e.dossier_code = c.code
WHERE e.at < :t0 AND e.type NOT IN ({_SKIP})
"""
INTAKE_DUE_SQL = """
SELECT dossier_code, json_extract(payload, '$.set.due_at') FROM dossier_events
WHERE type = 'accept' AND dossier_code IN ({marks})
"""
# Dossiers with an event before t1 that the province has not acknowledged yet (the outbox
# backlog is small: index outbox_unacked).
UNSYNCED_SQL = """
SELECT DISTINCT e.dossier_code
FROM outbox o JOIN dossier_events e ON e.event_id = o.event_id
WHERE o.acked_at IS NULL AND o.kind = 'dossier.event' AND e.at < :t1
"""
CHUNK = 500


def load_facts(db: sqlite_utils.Database, period: reports.Period
               ) -> tuple[list[reports.DossierFacts], set[str]]:
    """Every dossier the period may involve, folded up to its end, and the codes of those
    whose events up to then the province has all acknowledged.

    Two queries read the dossiers and their events; two small ones the acceptance due times
    still needed (a few hundred at most) and the unacknowledged backlog.
    """
    t0, t1 = _iso(period.start_at), _iso(period.end_at)
    span = {"t0": t0, "t1": t1}
    intake = {row[0]: row[1:] for row in db.conn.execute(CANDIDATES_SQL, span)}
    grouped: dict[str, list[tuple]] = {}
    for row in db.conn.execute(PERIOD_EVENTS_SQL, span):
        code = row[0]
        events = grouped.get(code)
        if events is not None:
            events.append(row)
        elif code in intake:  # not an event of a dossier finished before the period
            grouped[code] = [row]
    facts: dict[str, reports.DossierFacts] = {}
    for code, rows in grouped.items():
        rows.sort()  # by event id (the code is the same): the order they happened in
        rows[0] = rows[0] + intake[code]
        fact = reports.fold_rows(rows, t1)
        if fact is not None:
            facts[code] = fact
    missing = reports.in_progress_without_due(facts.values())
    for i in range(0, len(missing), CHUNK):
        chunk = missing[i:i + CHUNK]
        sql = INTAKE_DUE_SQL.format(marks=", ".join("?" for _ in chunk))
        for code, due in db.conn.execute(sql, chunk):
            facts[code] = reports.with_due(facts[code], due)
    unsynced = {row[0] for row in db.conn.execute(UNSYNCED_SQL, {"t1": t1})}
    return list(facts.values()), set(facts) - unsynced


def period_report(db: sqlite_utils.Database, period: reports.Period, *, now: datetime,
                  cal: WorkCalendar, charts: bool = False) -> dict:
    """The period report; with ``charts`` the dashboard series ride along under ``charts``."""
    facts, synced = load_facts(db, period)
    return reports.period_report(facts, period, now=now, cal=cal, synced=synced, charts=charts)


# ------------------------------------------------------------------------------ rendering

LEAD_HEADERS = ("Phạm vi", "STT", "Mã", "Lĩnh vực, thủ tục")
FLAT_HEADERS = LEAD_HEADERS + tuple(
    f"{glabel} - {clabel}" for _, glabel, cols in reports.GROUPS for _, clabel in cols)
NO_FIELD = "(Chưa phân loại lĩnh vực)"


def row_values(block: dict) -> list[int]:
    """The table's numbers of one row, in column order."""
    return [block[g][c] for g, c in reports.COLUMNS]


def table_rows(report: dict) -> list[list]:
    """The table shown on the page and written to CSV and XLSX: the total, then each
    commune (hub), each field and each procedure."""
    rows = [["Tổng cộng", "", "", "Tổng cộng", *row_values(report)]]
    for i, r in enumerate(report.get("by_commune") or [], 1):
        rows.append(["Xã", i, r["commune_code"], r["commune_name"], *row_values(r)])
    for i, r in enumerate(report["by_field"], 1):
        rows.append(["Lĩnh vực", i, "", r["field"] or NO_FIELD, *row_values(r)])
    for i, r in enumerate(report["by_procedure"], 1):
        rows.append(["Thủ tục", i, r["procedure_code"], r["procedure_name"], *row_values(r)])
    return rows


_cell = safe_cell


def to_csv(report: dict) -> bytes:
    """The table as CSV: UTF-8 with a BOM (Excel then reads Vietnamese correctly), one header
    row, CRLF line ends."""
    return csv_bytes(FLAT_HEADERS, table_rows(report))


def _vn_date(iso_date: str) -> str:
    y, m, d = iso_date.split("-")
    return f"{d}/{m}/{y}"


def period_label(report: dict) -> str:
    p = report["period"]
    text = f"Kỳ báo cáo: từ ngày {_vn_date(p['from'])} đến ngày {_vn_date(p['to'])}"
    if not p["final"]:
        text += " (kỳ chưa kết thúc: số liệu tạm tính đến thời điểm lập báo cáo)"
    return text


def indicator_rows(report: dict) -> list[list]:
    """``[label, value, numerator, denominator, note]``; ratios as percentages."""
    out = []
    for key, ind in report["indicators"].items():
        if key == "avg_processing_working_days":
            out.append([ind["label"], ind["value"], ind["count"], None, ind["note"]])
            continue
        value = None if ind["value"] is None else round(ind["value"] * 100, 2)
        out.append([ind["label"] + " (%)", value, ind["numerator"], ind["denominator"],
                    ind["note"]])
    return out


def to_xlsx(report: dict, *, title: str, unit: str) -> bytes:
    """The same table as an Excel workbook (sheet "Biểu 06a"), plus the indicators and the
    average processing time per procedure on two more sheets."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "Biểu 06a"
    bold = Font(bold=True)
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([unit])
    ws.append([period_label(report)])
    ws.append([])
    head1 = list(LEAD_HEADERS)
    head2 = [""] * len(LEAD_HEADERS)
    for _, glabel, cols in reports.GROUPS:
        head1 += [glabel] + [""] * (len(cols) - 1)
        head2 += [clabel for _, clabel in cols]
    ws.append(head1)
    ws.append(head2)
    top = 5
    fill = PatternFill("solid", fgColor="EEF2F6")
    for i in range(1, len(LEAD_HEADERS) + 1):
        ws.merge_cells(start_row=top, start_column=i, end_row=top + 1, end_column=i)
    col = len(LEAD_HEADERS) + 1
    for _, _, cols in reports.GROUPS:
        ws.merge_cells(start_row=top, start_column=col, end_row=top, end_column=col + len(cols) - 1)
        col += len(cols)
    for r in (top, top + 1):
        for c in range(1, len(head1) + 1):
            cell = ws.cell(row=r, column=c)
            cell.font, cell.fill = bold, fill
            cell.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
    for row in table_rows(report):
        ws.append([_cell(v) for v in row])
        if row[0] == "Tổng cộng":
            for c in range(1, len(row) + 1):
                ws.cell(row=ws.max_row, column=c).font = bold
    ws.freeze_panes = ws.cell(row=top + 2, column=len(LEAD_HEADERS) + 1)
    widths = [11, 5, 14, 48] + [11] * len(reports.COLUMNS)
    for i, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = width

    ind = wb.create_sheet("Chỉ số 766")
    ind.append(["Chỉ số", "Giá trị", "Tử số / số hồ sơ", "Mẫu số", "Ghi chú"])
    for c in range(1, 6):
        ind.cell(row=1, column=c).font = bold
    for row in indicator_rows(report):
        ind.append([_cell(v) for v in row])
    for letter, width in zip("ABCDE", (52, 10, 16, 10, 80), strict=True):
        ind.column_dimensions[letter].width = width

    avg = wb.create_sheet("Thời gian giải quyết")
    avg.append(["Mã thủ tục", "Tên thủ tục", "Số hồ sơ đã giải quyết",
                "Thời gian trung bình (ngày làm việc)"])
    for c in range(1, 5):
        avg.cell(row=1, column=c).font = bold
    for r in report["indicators"]["avg_processing_working_days"]["by_procedure"]:
        avg.append([_cell(r["procedure_code"]), _cell(r["procedure_name"]), r["count"],
                    r["value"]])
    for letter, width in zip("ABCD", (14, 60, 12, 16), strict=True):
        avg.column_dimensions[letter].width = width

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def file_basename(report: dict, prefix: str = "bao-cao-06a") -> str:
    return f"{prefix}_{report['period']['from']}_{report['period']['to']}"
