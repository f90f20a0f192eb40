"""Counter intake: accept a complete dossier, issue its code and due date.

The dossier row, its first event, the audit entry and the outbox event are
written in one transaction: either all exist or none.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlite_utils

from edge_node.domain import validation as v
from edge_node.domain.calendar import WorkCalendar
from edge_node.domain.clock import local, to_iso
from edge_node.domain.codes import dossier_code
from edge_node.domain.deadlines import UNITS, DeadlineError, due_at
from edge_node.domain.text import fold, nfc
from edge_node.store import audit, outbox
from edge_node.store import catalog as catalog_store
from edge_node.store import dossiers as dossier_store
from edge_node.store.db import write_tx

STATUS_ACCEPTED = "DA_TIEP_NHAN"
DVCQG_RECEIVED = 2
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
        if (not isinstance(value, int | float) or isinstance(value, bool) or value <= 0
                or value > 3650 or unit not in UNITS):
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


def receive(db: sqlite_utils.Database, payload: dict, *, user: dict, now: datetime,
            agency_id: str, calendar: WorkCalendar, ip: str = "") -> dict:
    """Accept a complete counter dossier; returns the stored dossier.

    :raises IntakeError: for an unknown procedure or any bad field; nothing is written.
    """
    if not isinstance(payload, dict):
        raise IntakeError({"body": "Dữ liệu gửi lên không hợp lệ."})
    code = payload.get("procedure_code")
    procedure = catalog_store.get(db, code) if isinstance(code, str) and code else None
    if procedure is None:
        raise IntakeError({"procedure_code": "Không tìm thấy thủ tục trong danh mục."},
                          "unknown_procedure")
    clean = _clean(payload, procedure)
    limit_value, limit_unit = _limit(procedure, payload.get("time_limit"))
    try:
        due = due_at(now, int(limit_value) if limit_value == int(limit_value) else limit_value,
                     limit_unit, calendar)
    except DeadlineError as exc:
        raise IntakeError({"time_limit": f"Không tính được hạn trả kết quả: {exc}"}) from None
    id_no, id_type = clean["id"]
    stamp = to_iso(now)
    local_day = local(now).date()
    with write_tx(db):
        seq = dossier_store.next_seq(db, agency_id, local_day.isoformat())
        code = dossier_code(agency_id, local_day, seq)
        row = {
            "code": code, "procedure_code": procedure["code"],
            "procedure_name": procedure["name"], "field": procedure["field"],
            "status": STATUS_ACCEPTED, "dvcqg_status": DVCQG_RECEIVED,
            "channel": CHANNEL_DIRECT, "applicant_name": clean["applicant_name"],
            "applicant_fold": fold(clean["applicant_name"]), "id_number": id_no,
            "id_type": id_type, "phone": clean["phone"], "address": clean["address"],
            "email": clean["email"], "documents_received": clean["documents"],
            "return_method": clean["return_method"], "postal_address": clean["postal_address"],
            "fee_vnd": procedure["fee_vnd"] or 0, "time_limit_value": limit_value,
            "time_limit_unit": limit_unit, "received_at": stamp,
            "received_effective_at": to_iso(due.received_effective_at),
            "due_at": to_iso(due.due_at), "identity_status": "chua_xac_thuc",
            "received_by": user["id"], "catalog_version": procedure["catalog_version"],
            "updated_at": stamp,
        }
        dossier_store.insert(db, row)
        event_id = str(uuid.uuid4())
        snapshot = {k: row[k] for k in row if k not in ("applicant_fold", "received_by")}
        dossier_store.add_event(db, {
            "event_id": event_id, "dossier_code": code, "type": "accept",
            "actor_id": user["id"], "actor": user["username"], "actor_role": user["role"],
            "at": stamp, "payload": snapshot,
        })
        audit.append(db, at=stamp, actor=user["username"], action="dossier.accept", obj=code,
                     detail={"procedure": procedure["code"], "due_at": row["due_at"]}, ip=ip)
        outbox.add(db, kind="dossier.event", event_id=event_id, at=stamp, payload={
            "dossier_code": code, "type": "accept", "at": stamp, "actor": user["username"],
            "role": user["role"], "data": snapshot,
        })
    return dossier_store.get(db, code)
