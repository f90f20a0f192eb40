"""Reports: the period page with its small dashboard, and ``/api/v1/reports/period``.

The charts are inline SVG drawn here, on the server: no script, no chart library, nothing
fetched from the internet (SVG presentation attributes only: the CSP forbids inline styles).
The hub's province view reuses :func:`render_report`, :func:`report_links` and
:func:`export_response`.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup, escape

from edge_node.domain.clock import local
from edge_node.domain.reports import GROUPS, WEEKLY_CLASSES, PeriodError, parse_period
from edge_node.services import reports as report_service
from edge_node.services.calendar import load_calendar
from edge_node.web.app import get_db, request_now
from edge_node.web.auth import roles
from edge_node.web.errors import api_error, page_error

bp = Blueprint("reports", __name__)
READ_ROLES = ("leader", "admin", "clerk", "officer")
FORMATS = ("json", "csv", "xlsx")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REPORT_TITLE = "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH (Biểu II.06a)"


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _prev_month_end(d: date) -> date:
    return d.replace(day=1) - timedelta(days=1)


def quick_periods(today: date) -> list[tuple[str, date, date]]:
    """Common choices: this month, last month, this quarter, this year, last year."""
    last_month_end = _prev_month_end(today)
    q_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    return [
        ("Tháng này", _month_start(today), today),
        ("Tháng trước", _month_start(last_month_end), last_month_end),
        ("Quý này", q_start, today),
        ("Năm nay", date(today.year, 1, 1), today),
        ("Năm trước", date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    ]


def report_links(page_endpoint: str, export_endpoint: str, report: dict, today: date,
                 **extra) -> dict:
    """URLs of the exports of this report and of the quick period choices."""
    span = {"from": report["period"]["from"], "to": report["period"]["to"], **extra}
    return {
        **{fmt: url_for(export_endpoint, **span, **({"format": fmt} if fmt != "json" else {}))
           for fmt in FORMATS},
        "quick": [(label, url_for(page_endpoint, **{"from": s.isoformat(), "to": e.isoformat()},
                                  **extra))
                  for label, s, e in quick_periods(today)],
    }


def render_report(template: str, report: dict, links: dict, *, unit: str, **context):
    """Render a report page (the node's, or the hub's which extends it)."""
    return render_template(template, report=report, charts=charts_svg(report["charts"]),
                           table=report_service.table_rows(report), groups=GROUPS,
                           lead=report_service.LEAD_HEADERS,
                           indicators=report_service.indicator_rows(report),
                           period_label=report_service.period_label(report), links=links,
                           unit=unit, title=REPORT_TITLE, **context)


def export_response(report: dict, fmt: str, *, title: str, unit: str, prefix: str):
    """The report as JSON, or as a CSV / XLSX attachment with the same figures."""
    if fmt == "json":
        return jsonify(report)
    name = report_service.file_basename(report, prefix)
    if fmt == "csv":
        body, mimetype = report_service.to_csv(report), "text/csv"
    else:
        body, mimetype = report_service.to_xlsx(report, title=title, unit=unit), XLSX
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        "Cache-Control": "no-store"})


def _unit() -> str:
    cfg = current_app.config["EDGE"]
    return f"{cfg.office_name} — {cfg.authority_name}"


def _report(period, *, charts: bool = False) -> dict:
    db = get_db()
    cal = load_calendar(db, current_app.config["EDGE"].working_hours)
    return report_service.period_report(db, period, now=request_now(), cal=cal, charts=charts)


@bp.route("/reports")
@roles(*READ_ROLES)
def period():
    today = local(request_now()).date()
    start = request.args.get("from") or _month_start(today).isoformat()
    end = request.args.get("to") or today.isoformat()
    try:
        chosen = parse_period(start, end)
    except PeriodError as exc:
        return page_error(400, exc.message)
    report = _report(chosen, charts=True)
    links = report_links("reports.period", "reports.api_period", report, today)
    return render_report("reports/period.html", report, links, unit=_unit())


@bp.route("/api/v1/reports/period")
@roles(*READ_ROLES)
def api_period():
    """``GET /api/v1/reports/period?from=YYYY-MM-DD&to=YYYY-MM-DD[&format=csv|xlsx]``."""
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        return api_error(400, "bad_format", "Định dạng không hỗ trợ: chọn json, csv hoặc xlsx.")
    try:
        chosen = parse_period(request.args.get("from"), request.args.get("to"))
    except PeriodError as exc:
        return api_error(400, exc.code, exc.message)
    return export_response(_report(chosen), fmt, title=REPORT_TITLE, unit=_unit(),
                           prefix="bao-cao-06a")


# --------------------------------------------------------------------------------- charts

COLORS = {"done_in_time": "#1e7b34", "done_late": "#d08700", "in_progress": "#0b5394",
          "overdue": "#b3261e", "ended": "#8c96a3"}
WIDTH = 720


def _nice_max(value: int) -> int:
    """A round upper bound for an axis (1, 2, 5 × 10ⁿ)."""
    value = max(value, 1)
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def _svg(height: int, label: str, body: list[str]) -> Markup:
    text = escape(label)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{text}" xmlns="http://www.w3.org/2000/svg"><title>{text}</title>'
        + "".join(body) + "</svg>")


def _grid(top: int, bottom: int, left: int, right: int, ymax: int, fmt=str) -> list[str]:
    out = []
    for k in range(5):
        value = ymax * k / 4
        y = bottom - (bottom - top) * k / 4
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#d5dbe3" stroke-width="1"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                   f'fill="#5b6775">{escape(fmt(value))}</text>')
    return out


def _every(count: int, room: int) -> int:
    return max(1, -(-count // room))


def intake_svg(series: list[dict], bucket: str) -> Markup:
    """Stacked bars: dossiers received per week (or month), by state at the period end."""
    height, top, bottom, left, right = 240, 12, 204, 44, WIDTH - 8
    totals = [sum(b[k] for k, _ in WEEKLY_CLASSES) for b in series]
    ymax = _nice_max(max(totals, default=0))
    body = _grid(top, bottom, left, right, ymax, lambda v: f"{v:g}")
    n = max(len(series), 1)
    slot = (right - left) / n
    bar = max(slot * 0.7, 1)
    labels = _every(n, 12)
    for i, b in enumerate(series):
        x = left + i * slot + (slot - bar) / 2
        y = bottom
        d = date.fromisoformat(b["start"])
        when = (f"Tuần từ {d:%d/%m/%Y}" if bucket == "week" else f"Tháng {d:%m/%Y}")
        for key, legend in WEEKLY_CLASSES:
            if not b[key]:
                continue
            h = (bottom - top) * b[key] / ymax
            y -= h
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                        f'fill="{COLORS[key]}"><title>{escape(when)}: {b[key]} '
                        f'{escape(legend.lower())}</title></rect>')
        if i % labels == 0:
            text = f"{d:%d/%m}" if bucket == "week" else f"{d:%m/%y}"
            body.append(f'<text x="{x + bar / 2:.1f}" y="{bottom + 16}" text-anchor="middle" '
                        f'font-size="11" fill="#5b6775">{text}</text>')
    unit = "tuần" if bucket == "week" else "tháng"
    return _svg(height, f"Hồ sơ tiếp nhận theo {unit}, chia theo tình trạng cuối kỳ", body)


def on_time_svg(series: list[dict]) -> Markup:
    """Line: share of dossiers done early or on time, per month."""
    height, top, bottom, left, right = 220, 12, 184, 44, WIDTH - 16
    body = _grid(top, bottom, left, right, 100, lambda v: f"{v:g}%")
    under = len(body)  # lines go above the grid and below the points
    n = len(series)
    step = (right - left) / max(n - 1, 1)
    labels = _every(n, 12)
    points = []
    for i, m in enumerate(series):
        x = left + (i * step if n > 1 else (right - left) / 2)
        year, month = m["month"].split("-")
        if i % labels == 0:
            body.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" '
                        f'font-size="11" fill="#5b6775">{month}/{year[2:]}</text>')
        if m["rate"] is None:
            points.append(None)
            continue
        y = bottom - (bottom - top) * m["rate"]
        points.append((x, y))
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#0b5394"><title>Tháng '
                    f'{month}/{year}: {m["rate"] * 100:.1f}% ({m["in_time"]}/{m["done"]} hồ '
                    'sơ trước hạn, đúng hạn)</title></circle>')
    run: list[tuple[float, float]] = []
    for p in [*points, None]:
        if p is not None:
            run.append(p)
            continue
        if len(run) > 1:
            body.insert(under, '<polyline fill="none" stroke="#0b5394" stroke-width="2" points="'
                        + " ".join(f"{x:.1f},{y:.1f}" for x, y in run) + '"/>')
        run = []
    if not any(points):
        body.append(f'<text x="{(left + right) / 2}" y="{(top + bottom) / 2}" '
                    'text-anchor="middle" font-size="13" fill="#5b6775">Chưa có hồ sơ giải '
                    'quyết trong kỳ</text>')
    return _svg(height, "Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn theo tháng", body)


def _short(text: str, limit: int = 46) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def overdue_svg(series: list[dict]) -> Markup:
    """Horizontal bars: overdue dossiers per procedure (done late + still open and overdue)."""
    row_h, top, left, right = 24, 8, 330, WIDTH - 40
    height = max(top * 2 + row_h * len(series), 60)
    body: list[str] = []
    if not series:
        body.append(f'<text x="{WIDTH / 2}" y="34" text-anchor="middle" font-size="13" '
                    'fill="#5b6775">Không có hồ sơ quá hạn trong kỳ</text>')
    xmax = max((s["done_late"] + s["in_progress_overdue"] for s in series), default=1)
    for i, s in enumerate(series):
        y = top + i * row_h
        body.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" font-size="12" '
                    f'fill="#1d2733">{escape(_short(s["procedure_name"] or s["procedure_code"]))}'
                    f'<title>{escape(s["procedure_code"])} — {escape(s["procedure_name"])}'
                    '</title></text>')
        x = left
        for key, color, words in (("done_late", COLORS["done_late"], "đã giải quyết quá hạn"),
                                  ("in_progress_overdue", COLORS["overdue"],
                                   "đang giải quyết quá hạn")):
            if not s[key]:
                continue
            w = (right - left) * s[key] / xmax
            body.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                        f'fill="{color}"><title>{s[key]} hồ sơ {words}</title></rect>')
            x += w
        body.append(f'<text x="{x + 6:.1f}" y="{y + 16}" font-size="12" fill="#1d2733">'
                    f'{s["done_late"] + s["in_progress_overdue"]}</text>')
    return _svg(height, "Hồ sơ quá hạn theo thủ tục", body)


def charts_svg(charts: dict) -> dict:
    """The three dashboard pictures, plus the legend of the first one."""
    return {"intake": intake_svg(charts["intake"], charts["bucket"]),
            "bucket": charts["bucket"],
            "legend": [(COLORS[k], label) for k, label in WEEKLY_CLASSES],
            "on_time": on_time_svg(charts["on_time"]),
            "overdue": overdue_svg(charts["overdue"])}
