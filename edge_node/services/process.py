"""Editing a procedure's internal process (quy trình nội bộ) and clock settings."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from edge_node.domain.clock import to_iso
from edge_node.domain.deadlines import limit_minutes
from edge_node.domain.lifecycle import Step
from edge_node.domain.text import nfc
from edge_node.store import audit, outbox
from edge_node.store import catalog as catalog_store
from edge_node.store import process as process_store
from edge_node.store.db import write_tx

ROLE_WORDS = {"clerk": "clerk", "mot cua": "clerk", "một cửa": "clerk",
              "officer": "officer", "chuyên viên": "officer", "chuyen vien": "officer",
              "leader": "leader", "lãnh đạo": "leader", "lanh dao": "leader"}


class ProcessError(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def parse_steps(text: str) -> list[Step]:
    """Read lines ``Tên bước | vai trò | số giờ làm việc`` (hours may be decimal)."""
    steps = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3:
            raise ProcessError(f"Dòng {number}: cần 3 phần “tên bước | vai trò | số giờ”.")
        name, role_word, hours = nfc(parts[0])[:200], parts[1].lower(), parts[2]
        role = ROLE_WORDS.get(nfc(role_word))
        if not name or role is None:
            raise ProcessError(f"Dòng {number}: tên bước trống hoặc vai trò không hợp lệ "
                               "(một cửa, chuyên viên, lãnh đạo).")
        try:
            minutes = round(float(hours.replace(",", ".")) * 60)
        except ValueError:
            raise ProcessError(f"Dòng {number}: số giờ không hợp lệ.") from None
        if minutes < 0 or minutes > 60 * 8 * 400:
            raise ProcessError(f"Dòng {number}: số giờ không hợp lệ.")
        steps.append(Step(name, role, minutes))
    if len(steps) < 3:
        raise ProcessError("Quy trình cần ít nhất 3 bước: tiếp nhận, xử lý, trả kết quả.")
    if steps[0].role != "clerk" or steps[-1].role != "clerk":
        raise ProcessError("Bước đầu (tiếp nhận) và bước cuối (trả kết quả) do Bộ phận Một cửa "
                           "thực hiện.")
    if any(s.role == "clerk" for s in steps[1:-1]):
        raise ProcessError("Các bước giữa do chuyên viên hoặc lãnh đạo thực hiện.")
    if steps[-2].role != "leader":
        raise ProcessError("Bước trước khi trả kết quả phải là lãnh đạo ký duyệt.")
    return steps


def check_total(steps: list[Step], value, unit: str | None) -> None:
    """Refuse steps whose hours do not add up to a limit counted in working time.

    Limits in calendar days or "same day" have no fixed number of working hours,
    so any split is accepted for them.
    """
    if unit in ("working_days", "working_hours") and value:
        total = limit_minutes(int(value), unit)
        given = sum(s.minutes for s in steps)
        if given != total:
            raise ProcessError(f"Tổng thời gian các bước ({given / 60:g} giờ) phải bằng thời hạn "
                               f"giải quyết ({total / 60:g} giờ làm việc).")


def set_process(db: sqlite_utils.Database, code: str, text: str, *, supplement_model: str,
                payment_pauses: bool, actor: str, now: datetime) -> list[Step]:
    """Replace the process of procedure *code*; steps must add up to its legal limit."""
    procedure = catalog_store.get(db, code)
    if procedure is None:
        raise ProcessError("Không tìm thấy thủ tục.")
    if supplement_model not in ("restart", "pause"):
        raise ProcessError("Cách tính thời hạn khi bổ sung không hợp lệ.")
    steps = parse_steps(text)
    check_total(steps, procedure["time_limit_value"], procedure["time_limit_unit"])
    stamp = to_iso(now)
    with write_tx(db):
        process_store.replace(db, code, steps, stamp)
        db.conn.execute("UPDATE procedures SET supplement_model = ?, payment_pauses = ?"
                        " WHERE code = ?", (supplement_model, int(payment_pauses), code))
        detail = {"procedure": code, "steps": [[s.name, s.role, s.minutes] for s in steps],
                  "supplement_model": supplement_model, "payment_pauses": payment_pauses}
        audit.append(db, at=stamp, actor=actor, action="procedure.process_set", obj=code,
                     detail=detail)
        outbox.add(db, kind="procedure.process_set", payload=detail, at=stamp)
    return steps


def format_steps(steps: list[Step]) -> str:
    words = {"clerk": "một cửa", "officer": "chuyên viên", "leader": "lãnh đạo"}
    return "\n".join(f"{s.name} | {words[s.role]} | {s.minutes / 60:g}" for s in steps)
