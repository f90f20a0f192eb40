"""Period reports on the node: load the events in one query, fold, render CSV and XLSX.

The figures come from :mod:`edge_node.domain.reports`; this module only reads the database
and writes files. The projection (``dossiers``) is used to *choose* which dossiers to read —
a superset of those the period can involve — never for the figures themselves.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import sqlite_utils

from edge_node.domain import reports
from edge_node.domain.calendar import WorkCalendar
from edge_node.domain.clock import to_iso as _iso
from edge_node.domain.lifecycle import OPEN_STATES

#: The projection fields the report reads from each event's ``set``.
EVENT_FIELDS = ("status", "due_at", "received_at", "channel", "procedure_code",
                "procedure_name", "field")
_PATHS = ", ".join(f"'$.set.{k}'" for k in EVENT_FIELDS)
_OPEN = ", ".join(f"'{s}'" for s in OPEN_STATES)

# A dossier can matter to [t0, t1) only if it was received before t1 and either received
# in the period, or touched since t0 (any event moves updated_at), or is still open now.
# json_extract with several paths parses each payload once and returns a JSON array.
PERIOD_EVENTS_SQL = f"""
SELECT e.dossier_code, e.id, e.type, e.at, json_extract(e.payload, {_PATHS}),
       o.acked_at IS NOT NULL
FROM dossiers d
JOIN dossier_events e ON e.dossier_code = d.code
LEFT JOIN outbox o ON o.event_id = e.event_id
WHERE d.received_at < :t1
  AND (d.received_at >= :t0 OR d.updated_at >= :t0 OR d.status IN ({_OPEN}))
  AND e.at < :t1
"""


def group_events(rows) -> dict[str, list[tuple]]:
    """Rows ``(code, order, type, at, fields_json, acked)`` grouped per dossier, in order."""
    grouped: dict[str, list[tuple]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    for events in grouped.values():
        events.sort(key=lambda r: r[1])
    return grouped


def facts_from_rows(grouped: dict[str, list[tuple]], until: str
                    ) -> tuple[list[reports.DossierFacts], set[str]]:
    """Fold each dossier; also the codes whose latest event before ``until`` is acked."""
    facts, synced = [], set()
    for code, rows in grouped.items():
        events = []
        for _, _, etype, at, fields, _acked in rows:
            values = json.loads(fields) if fields else []
            events.append({"type": etype, "at": at, "set": {
                k: v for k, v in zip(EVENT_FIELDS, values, strict=False) if v is not None}})
        fact = reports.fold_facts(code, events, until)
        if fact is None:
            continue
        facts.append(fact)
        if rows[-1][5]:
            synced.add(code)
    return facts, synced


def load_facts(db: sqlite_utils.Database, period: reports.Period
               ) -> tuple[list[reports.DossierFacts], set[str]]:
    """Every dossier the period may involve, folded up to its end, in one query."""
    t0, t1 = _iso(period.start_at), _iso(period.end_at)
    rows = db.conn.execute(PERIOD_EVENTS_SQL, {"t0": t0, "t1": t1})
    return facts_from_rows(group_events(rows), t1)


def period_report(db: sqlite_utils.Database, period: reports.Period, *, now: datetime,
                  cal: WorkCalendar, charts: bool = False) -> dict:
    """The period report; with ``charts`` the dashboard series ride along under ``charts``."""
    facts, synced = load_facts(db, period)
    report = reports.period_report(facts, period, now=now, cal=cal, synced=synced)
    if charts:
        report["charts"] = reports.chart_series(facts, period, now=now)
    return report


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


def _cell(value):
    # A text starting like a formula is shown as text by Excel, never evaluated.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(report: dict) -> bytes:
    """The table as CSV: UTF-8 with a BOM (Excel then reads Vietnamese correctly), one header
    row, CRLF line ends."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(FLAT_HEADERS)
    for row in table_rows(report):
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


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
