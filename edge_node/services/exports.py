"""Tables as files a clerk opens in Excel: CSV (UTF-8 with BOM) and XLSX."""

from __future__ import annotations

import csv
import io


def safe_cell(value):
    """Text that starts like a formula is written as text, never evaluated by Excel."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_bytes(headers: list[str], rows: list[list]) -> bytes:
    """One header row, CRLF line ends, UTF-8 with a BOM so Excel reads Vietnamese."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def xlsx_bytes(title: str, headers: list[str], rows: list[list], sheet: str = "Danh sách"
               ) -> bytes:
    """A one-sheet workbook: a title line, a bold header row, the rows."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(headers)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
