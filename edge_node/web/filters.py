"""Jinja filters that show instants, money and labels the Vietnamese way."""

from __future__ import annotations

import math
from datetime import datetime

from edge_node.domain.clock import local, parse_iso
from edge_node.domain.lifecycle import STATES

STATUS_LABELS = {state: spec[0] for state, spec in STATES.items()}
ROLE_LABELS = {
    "admin": "Quản trị hệ thống",
    "clerk": "Cán bộ một cửa",
    "officer": "Chuyên viên",
    "leader": "Lãnh đạo",
}


def _dt(value) -> datetime | None:
    if not value:
        return None
    return local(parse_iso(value) if isinstance(value, str) else value)


def vn_datetime(value) -> str:
    """``09 giờ 15 phút, ngày 03 tháng 12 năm 2026`` (form style)."""
    dt = _dt(value)
    if dt is None:
        return ""
    return f"{dt:%H} giờ {dt:%M} phút, ngày {dt:%d} tháng {dt:%m} năm {dt:%Y}"


def vn_short(value) -> str:
    """``03/12/2026 09:15`` in Vietnam time."""
    dt = _dt(value)
    return f"{dt:%d/%m/%Y %H:%M}" if dt else ""


def vn_date(value) -> str:
    dt = _dt(value)
    return f"{dt:%d/%m/%Y}" if dt else ""


def money(value) -> str:
    """Integer đồng with dot thousands: ``50.000 đ``."""
    if value is None:
        return "Không có thông tin"
    return f"{int(value):,} đ".replace(",", ".")


def limit_label(value, unit) -> str:
    from edge_node.services.intake import UNIT_LABELS

    if value is None or not math.isfinite(float(value)):
        return "Chưa có thông tin"
    if unit == "same_day":
        return "Trong ngày"
    number = int(value) if float(value) == int(value) else value
    return f"{number} {UNIT_LABELS.get(unit, unit)}"


def filesize(value) -> str:
    """Bytes for clerks, Vietnamese decimal comma: ``1,5 MB``, ``820 KB``, ``12 byte``."""
    size = int(value or 0)
    if size < 1024:
        return f"{size} byte"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


def register(app) -> None:
    app.add_template_filter(filesize)
    app.add_template_filter(vn_datetime)
    app.add_template_filter(vn_short)
    app.add_template_filter(vn_date)
    app.add_template_filter(money)
    app.add_template_global(limit_label)
    app.add_template_global(STATUS_LABELS, "STATUS_LABELS")
    app.add_template_global(ROLE_LABELS, "ROLE_LABELS")
