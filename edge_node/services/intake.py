"""Counter intake: accept a complete dossier, issue its code and due date.

The dossier row, its first event, the audit entry and the outbox event are
written in one transaction: either all exist or none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

import sqlite_utils

from edge_node.domain import lifecycle
from edge_node.domain import validation as v
from edge_node.domain.calendar import WorkCalendar
from edge_node.domain.clock import local, to_iso
from edge_node.domain.codes import dossier_code
from edge_node.domain.deadlines import UNITS, DeadlineError, due_at, limit_minutes
from edge_node.domain.text import fold, nfc
from edge_node.store import audit, outbox
from edge_node.store import catalog as catalog_store
from edge_node.store import dossiers as dossier_store
from edge_node.store import process as process_store
from edge_node.store.db import write_tx

STATUS_ACCEPTED = "DA_TIEP_NHAN"
CHANNEL_DIRECT = 1
MAX_DOCUMENTS = 100
UNIT_LABELS = {
    "working_days": "ngày làm việc",
    "working_hours": "giờ làm việc",
    "same_day": "trong ngày",
    "calendar_days": "ngày",
}


class IntakeError(ValueError):
    """Intake refused: ``errors`` maps field names to Vietnamese messages."""

    def __init__(self, errors: dict[str, str], code: str = "validation_error"):
        super().__init__("; ".join(f"{k}: {m}" for k, m in errors.items()))
        self.errors = errors
        self.code = code


def _limit(procedure: dict, override) -> tuple[float, str]:
    value, unit = procedure["time_limit_value"], procedure["time_limit_unit"]
    if value is None:
        # The catalog has no limit (the portal says "Không có thông tin"): the
        # clerk states the limit of the procedure's legal text so work goes on.
        if not isinstance(override, dict):
            raise IntakeError({"time_limit": "Thủ tục chưa có thời hạn giải quyết trong danh "
                                             "mục; hãy nhập thời hạn theo quy định."})
        value, unit = override.get("value"), override.get("unit")
        if isinstance(value, str):
            try:
                value = float(value.replace(",", "."))
            except ValueError:
                value = None
        if (not isinstance(value, int | float) or isinstance(value, bool)
                or not math.isfinite(value) or value <= 0 or value > 3650
                or unit not in UNITS):
            raise IntakeError({"time_limit": "Thời hạn giải quyết không hợp lệ."})
    if unit == "working_days" and float(value) != int(value):
        return round(float(value) * 8), "working_hours"  # half days become hours
    return float(value), unit


def _clean(payload: dict, procedure: dict) -> dict:
    applicant = payload.get("applicant")
    if not isinstance(applicant, dict):
        applicant = {}
    errors: dict[str, str] = {}
    out: dict = {}
    checks = [
        ("applicant_name", lambda: v.full_name(applicant.get("full_name"))),
        ("id", lambda: v.id_number(applicant.get("id_number"))),
        ("phone", lambda: v.phone(applicant.get("phone"))),
        ("address", lambda: v.address(applicant.get("address"))),
        ("email", lambda: v.email(applicant.get("email"))),
        ("return_method", lambda: v.return_method(payload.get("return_method"))),
    ]
    for key, check in checks:
        try:
            out[key] = check()
        except v.FieldError as exc:
            errors[exc.field] = exc.message
    out["postal_address"] = ""
    if out.get("return_method") == "postal":
        try:
            out["postal_address"] = v.address(payload.get("postal_address") or
                                              applicant.get("address"), "postal_address")
        except v.FieldError as exc:
            errors[exc.field] = "Chưa nhập địa chỉ nhận kết quả qua bưu chính."
    docs = payload.get("documents_received") or []
    if not isinstance(docs, list) or len(docs) > MAX_DOCUMENTS:
        errors["documents_received"] = "Danh sách giấy tờ không hợp lệ."
    else:
        known = {nfc(d) for d in procedure["documents"]}
        cleaned = []
        for doc in docs:
            text = nfc(doc) if isinstance(doc, str) else ""
            if not text or (known and text not in known):
                errors["documents_received"] = (
                    "Giấy tờ không có trong thành phần hồ sơ của thủ tục: "
                    f"“{str(doc)[:80]}”.")
                break
            if text not in cleaned:
                cleaned.append(text)
        out["documents"] = cleaned
    if errors:
        raise IntakeError(errors)
    return out


def _steps(db: sqlite_utils.Database, procedure: dict, start: datetime, due: datetime,
           limit_value: float, limit_unit: str, cal: WorkCalendar) -> list[dict]:
    steps = process_store.steps_of(db, procedure["code"])
    if not steps:
        total = (limit_minutes(int(limit_value), limit_unit)
                 if limit_unit in ("working_days", "working_hours")
                 else cal.working_minutes_between(start, due))
        steps = lifecycle.default_steps(total)
    return lifecycle.steps_with_deadlines(steps, start, cal)


PRE_ACCEPT_DECISIONS = ("request_supplement", "refuse")


@dataclass(frozen=True)
class Prepared:
    """A checked intake ready to be written: everything :func:`record` needs."""

    row: dict
    data: dict
    clock: dict | None
    prefix: str
    event_type: str
    agency_id: str
    local_day: date
    stamp: str
    user: dict
    procedure_code: str
    ip: str


def receive(db: sqlite_utils.Database, payload: dict, *, user: dict, now: datetime,
            agency_id: str, calendar: WorkCalendar, ip: str = "") -> dict:
    """Record a counter dossier: accept it (default), or guide the applicant to
    complete it (Mẫu 02) or refuse it (Mẫu 03) without accepting.

    Acceptance issues the dossier code and due date; the other two outcomes are
    numbered ``PN-yyMMdd-NNNN`` (a slip number, not a dossier code) and start
    no clock.

    :raises IntakeError: for an unknown procedure or any bad field; nothing is written.
    :returns: the stored dossier.
    """
    return record(db, prepare(db, payload, user=user, now=now, agency_id=agency_id,
                              calendar=calendar, ip=ip))


def prepare(db: sqlite_utils.Database, payload: dict, *, user: dict, now: datetime,
            agency_id: str, calendar: WorkCalendar, ip: str = "") -> Prepared:
    """Check an intake and work out its row, due date and steps; writes nothing.

    :raises IntakeError: for an unknown procedure or any bad field.
    """
    if not isinstance(payload, dict):
        raise IntakeError({"body": "Dữ liệu gửi lên không hợp lệ."})
    decision = payload.get("decision")
    decision = "accept" if decision is None or decision == "" else decision
    if not isinstance(decision, str) or decision not in ("accept", *PRE_ACCEPT_DECISIONS):
        raise IntakeError({"decision": "Kết quả kiểm tra hồ sơ không hợp lệ."})
    code = payload.get("procedure_code")
    procedure = catalog_store.get(db, code) if isinstance(code, str) and code else None
    if procedure is None:
        raise IntakeError({"procedure_code": "Không tìm thấy thủ tục trong danh mục."},
                          "unknown_procedure")
    clean = _clean(payload, procedure)
    stamp = to_iso(now)
    local_day = local(now).date()
    id_no, id_type = clean["id"]
    row = {
        "procedure_code": procedure["code"], "procedure_name": procedure["name"],
        "field": procedure["field"], "channel": CHANNEL_DIRECT,
        "applicant_name": clean["applicant_name"], "applicant_fold": fold(clean["applicant_name"]),
        "id_number": id_no, "id_type": id_type, "phone": clean["phone"],
        "address": clean["address"], "email": clean["email"],
        "documents_received": clean["documents"], "return_method": clean["return_method"],
        "postal_address": clean["postal_address"], "fee_vnd": procedure["fee_vnd"] or 0,
        "payment_status": "unpaid" if procedure["fee_vnd"] else "none",
        "identity_status": "chua_xac_thuc", "received_by": user["id"],
        "catalog_version": procedure["catalog_version"], "created_at": stamp,
        "updated_at": stamp,
    }
    if decision in PRE_ACCEPT_DECISIONS:
        draft = {**row, "status": "NHAP", "time_limit_value": procedure["time_limit_value"],
                 "time_limit_unit": procedure["time_limit_unit"]}
        try:
            outcome = lifecycle.decide(draft, [], decision, payload, actor=user, now=now,
                                       cal=calendar, procedure=procedure)
        except lifecycle.TransitionError as exc:
            field = {"missing_items": "items", "missing_reason": "reason"}.get(exc.code,
                                                                               "decision")
            raise IntakeError({field: exc.message}) from None
        row.update(draft)
        row.update(outcome.set)
        row["received_at"] = stamp  # when the applicant came, for the log book
        data = outcome.data
        clock = None
        prefix, event_type = "PN", decision
    else:
        limit_value, limit_unit = _limit(procedure, payload.get("time_limit"))
        value = int(limit_value) if limit_value == int(limit_value) else limit_value
        try:
            due = due_at(now, None if limit_unit == "same_day" else value, limit_unit, calendar)
        except DeadlineError as exc:
            raise IntakeError({"time_limit": f"Không tính được hạn trả kết quả: {exc}"}) from None
        row.update({
            "status": STATUS_ACCEPTED, "time_limit_value": limit_value,
            "time_limit_unit": limit_unit, "received_at": stamp,
            "received_effective_at": to_iso(due.received_effective_at),
            "due_at": to_iso(due.due_at), "original_due_at": to_iso(due.due_at),
            "transfer_due_at": to_iso(lifecycle.transfer_due(now, calendar)),
            "steps": _steps(db, procedure, due.received_effective_at, due.due_at, limit_value,
                            limit_unit, calendar),
            "current_step": 0,
        })
        data, clock = {}, {"kind": "received", "at": stamp}
        prefix, event_type = agency_id, "accept"
    row["dvcqg_status"] = lifecycle.dvcqg_status(row["status"])
    return Prepared(row=row, data=data, clock=clock, prefix=prefix, event_type=event_type,
                    agency_id=agency_id, local_day=local_day, stamp=stamp, user=user,
                    procedure_code=procedure["code"], ip=ip)


def record(db: sqlite_utils.Database, intake: Prepared) -> dict:
    """Write a prepared intake: its code, the dossier row, the first event, the audit
    entry and the outbox event, in one transaction.

    :returns: the stored dossier (column defaults included).
    """
    row, stamp, user, local_day = dict(intake.row), intake.stamp, intake.user, intake.local_day
    with write_tx(db):
        seq = dossier_store.next_seq(db, intake.prefix, local_day.isoformat())
        code = (dossier_code(intake.agency_id, local_day, seq)
                if intake.prefix == intake.agency_id else f"PN-{local_day:%y%m%d}-{seq:04d}")
        row["code"] = code
        stored = dossier_store.insert(db, row)
        event_id = outbox.new_event_id()
        # The first event holds the whole stored row (defaults included), so the
        # projection can be rebuilt from events alone.
        snapshot = {k: v for k, v in stored.items() if k != "applicant_fold"}
        payload_out = {"set": snapshot, "data": intake.data}
        if intake.clock:
            payload_out["clock"] = intake.clock
        dossier_store.record_event(
            db, event_id=event_id, dossier_code=code, type=intake.event_type,
            actor_id=user["id"], actor=user["username"], actor_role=user["role"], at=stamp,
            payload=payload_out)
        audit.append(db, at=stamp, actor=user["username"], action=f"dossier.{intake.event_type}",
                     obj=code, detail={"procedure": intake.procedure_code,
                                       "due_at": row.get("due_at")}, ip=intake.ip)
    return stored
