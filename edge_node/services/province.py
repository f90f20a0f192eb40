"""Work that comes from the province, on the node.

Feed handlers (run by :mod:`edge_node.services.sync` inside the feed item's
write transaction): ``dossier.inbound`` creates an online dossier waiting to be
received, ``dossier.fact`` records a fact from the province as an event on its
dossier and lets the node decide the transition, ``notification.status``
records the hub's delivery report. A fact the node cannot apply by itself is
kept in ``province_flags`` with the reason, for a person: nothing is lost.

:func:`notify` queues the applicant's notification for an event; the node
never sends anything itself, the row travels to the hub as outbox kind
``notification``.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import datetime

import sqlite_utils

from edge_node.config import OPTIONS
from edge_node.domain import lifecycle
from edge_node.domain import province as rules
from edge_node.domain.clock import local, parse_iso, to_iso
from edge_node.domain.codes import dossier_code
from edge_node.domain.text import fold
from edge_node.store import audit, outbox, settings
from edge_node.store import catalog as catalog_store
from edge_node.store import dossiers as dossier_store
from edge_node.store import province as province_store
from edge_node.store.db import write_tx

PROVINCE = {"id": None, "username": "province", "role": "clerk"}
DEFAULT_AGENCY = next(o.default for o in OPTIONS if o.name == "agency_id")
FACT_EVENTS = {"withdrawal": "province_withdrawal_request",
               "adjustment": "province_adjustment_request",
               "payment": "province_payment", "identity": "province_identity"}
EVENT_LABELS = rules.EVENT_LABELS


@contextmanager
def _savepoint(db: sqlite_utils.Database):
    """Undo a half-applied feed item (the feed's transaction records it as refused)."""
    db.conn.execute("SAVEPOINT province_item")
    try:
        yield
    except BaseException:
        db.conn.execute("ROLLBACK TO province_item")
        db.conn.execute("RELEASE province_item")
        raise
    db.conn.execute("RELEASE province_item")


def append_event(db: sqlite_utils.Database, dossier: dict, event_type: str, changes: dict,
                 data: dict, stamp: str, *, clock: dict | None = None,
                 actor: dict = PROVINCE) -> dict:
    """Update a dossier and write its event, audit entry and outbox event (in a transaction).

    Returns the dossier after the change.
    """
    changes = dict(changes)
    if "status" in changes:
        changes["dvcqg_status"] = lifecycle.dvcqg_status(changes["status"])
    changes["updated_at"] = stamp
    dossier_store.update(db, dossier["code"], changes)
    event_id = str(uuid.uuid4())
    payload = {"set": changes, "data": data}
    if clock:
        payload["clock"] = clock
    dossier_store.record_event(
        db, event_id=event_id, dossier_code=dossier["code"], type=event_type,
        actor_id=actor["id"], actor=actor["username"], actor_role=actor["role"], at=stamp,
        payload=payload)
    audit.append(db, at=stamp, actor=actor["username"], action=f"dossier.{event_type}",
                 obj=dossier["code"], detail={"status": changes.get("status",
                                                                     dossier["status"])})
    return dossier_store.get(db, dossier["code"])


def notify(db: sqlite_utils.Database, dossier: dict, event_type: str, data: dict,
           stamp: str) -> dict | None:
    """Queue the applicant's notification for *event_type*, if it is one they should hear
    about; call inside the action's transaction."""
    made = rules.notification_for(dossier, event_type, data)
    if made is None:
        return None
    channel, recipient, text = made
    row = {"id": str(uuid.uuid4()), "dossier_code": dossier["code"], "event_type": event_type,
           "channel": channel, "recipient": recipient, "text": text, "created_at": stamp}
    province_store.add_notification(db, row)
    outbox.add(db, kind="notification", event_id=row["id"], at=stamp, payload={
        "notification_id": row["id"], "dossier_code": dossier["code"],
        "national_code": dossier.get("national_code"), "event": event_type,
        "channel": channel, "recipient": recipient, "text": text, "created_at": stamp})
    return row


def _flag(db, now: datetime, kind: str, problem_code: str, reason: str, payload: dict, *,
          dossier: dict | None = None, national: str | None = None) -> None:
    stamp = to_iso(now)
    province_store.add_flag(db, at=stamp, kind=kind, code=problem_code, reason=reason,
                            payload=payload, dossier_code=dossier["code"] if dossier else None,
                            national_code=national or (dossier or {}).get("national_code"))
    audit.append(db, at=stamp, actor="province", action="province.flagged",
                 obj=(dossier or {}).get("code") or national or "",
                 detail={"kind": kind, "code": problem_code, "reason": reason})


def _agency(db, payload: dict) -> str:
    return settings.get(db, "sync.agency_id") or payload.get("agency_id") or DEFAULT_AGENCY


def feed_inbound(db: sqlite_utils.Database, item: dict, now: datetime) -> None:
    """``dossier.inbound``: an online dossier waiting to be received (CHO_TIEP_NHAN)."""
    payload = item["payload"]
    d = payload["dossier"]
    national = str(d["MaHoSo"])
    if province_store.by_national_code(db, national) is not None:
        # the same item read twice (the hub's feed was rewound): already here
        audit.append(db, at=to_iso(now), actor="province", action="inbound.duplicate",
                     obj=national)
        return
    procedure = catalog_store.get(db, str(d["MaTTHC"]))
    if procedure is None:
        _flag(db, now, "inbound", "unknown_procedure",
              f"Hồ sơ trực tuyến {national}: thủ tục {d['MaTTHC']} không có trong danh mục của "
              "xã; cần cập nhật danh mục rồi nhập lại.", payload, national=national)
        return
    stamp = to_iso(now)
    received_hub = payload.get("received_at") or stamp
    parse_iso(received_hub)
    id_no = str(d["SoGiayToChuHoSo"])
    row = {
        "procedure_code": procedure["code"], "procedure_name": procedure["name"],
        "field": procedure["field"], "channel": 2, "status": "CHO_TIEP_NHAN",
        "dvcqg_status": lifecycle.dvcqg_status("CHO_TIEP_NHAN"),
        "applicant_name": d["ChuHoSo"], "applicant_fold": fold(d["ChuHoSo"]),
        "id_number": id_no, "id_type": int(d.get("id_type") or (1 if len(id_no) == 12 else 2)),
        "phone": d.get("SoDienThoai") or "", "address": d.get("DiaChi") or "",
        "email": d.get("Email") or "",
        "documents_received": [doc["TenTepDinhKem"] for doc in d.get("TaiLieuNop") or []],
        "return_method": "postal" if d.get("HinhThuc") == 1 else "online",
        "postal_address": (d.get("DiaChi") or "") if d.get("HinhThuc") == 1 else "",
        "fee_vnd": procedure["fee_vnd"] or 0,
        "payment_status": "unpaid" if procedure["fee_vnd"] else "none",
        "time_limit_value": procedure["time_limit_value"],
        "time_limit_unit": procedure["time_limit_unit"],
        "identity_status": "da_xac_thuc",  # the portal took the dossier after a VNeID login
        "identity_note": "Tài khoản VNeID", "catalog_version": procedure["catalog_version"],
        "national_code": national, "submitted_at": d.get("submitted_at") or received_hub,
        "online_account": str(d.get("MaDoiTuong") or "")[:64],
        "created_at": received_hub, "updated_at": stamp,
    }
    with _savepoint(db):
        day = local(now).date()
        agency = _agency(db, payload)
        row["code"] = dossier_code(agency, day, dossier_store.next_seq(db, agency,
                                                                     day.isoformat()))
        dossier_store.insert(db, row)
        stored = dossier_store.get(db, row["code"])
        snapshot = {k: v for k, v in stored.items() if k != "applicant_fold"}
        event_id = str(uuid.uuid4())
        body = {"set": snapshot, "data": {"national_code": national,
                                          "submitted_at": d.get("submitted_at")}}
        dossier_store.record_event(
            db, event_id=event_id, dossier_code=row["code"], type="online_submission",
            actor_id=None, actor="province", actor_role="province", at=stamp, payload=body)
        audit.append(db, at=stamp, actor="province", action="dossier.online_submission",
                     obj=row["code"], detail={"national_code": national,
                                              "procedure": procedure["code"]})


class _Ambiguous(Exception):
    """The fact's MaHoSo and dossier_code name two different dossiers of this node."""


def _find(db, fact: dict) -> dict | None:
    by_code = dossier_store.get(db, fact["dossier_code"]) if fact.get("dossier_code") else None
    by_national = None
    if fact.get("MaHoSo"):
        by_national = province_store.by_national_code(db, fact["MaHoSo"]) or dossier_store.get(
            db, fact["MaHoSo"])
    if by_code and by_national and by_code["code"] != by_national["code"]:
        # the hub routed by MaHoSo; applying it to dossier_code's dossier would touch the
        # wrong applicant's file (a payment, a withdrawal): a person must decide
        raise _Ambiguous
    return by_code or by_national


def feed_fact(db: sqlite_utils.Database, item: dict, now: datetime) -> None:
    """``dossier.fact``: record the province's fact on its dossier; decide what it changes."""
    fact = rules.parse_fact(item["payload"])
    kind = fact["kind"]
    stamp = to_iso(now)
    try:
        dossier = _find(db, fact)
    except _Ambiguous:
        _flag(db, now, kind, "ambiguous_dossier",
              f"MaHoSo {fact['MaHoSo']} và mã hồ sơ {fact['dossier_code']} là hai hồ sơ khác "
              "nhau trên máy này: không áp dụng, cần người xem xét.", item["payload"],
              national=fact.get("MaHoSo"))
        return
    if dossier is None:
        what = {"payment": "Thanh toán trực tuyến", "withdrawal": "Yêu cầu rút hồ sơ",
                "adjustment": "Yêu cầu điều chỉnh", "identity": "Kết quả xác thực"}[kind]
        _flag(db, now, kind, "unknown_dossier",
              f"{what} cho hồ sơ {fact.get('MaHoSo') or fact.get('dossier_code')} không có "
              "trên máy này.", item["payload"], national=fact.get("MaHoSo"))
        return
    history = dossier_store.events(db, dossier["code"])
    event = FACT_EVENTS[kind]
    # a feed read again (hub restored, node restored) must not record the same fact twice
    again = (kind == "identity" and dossier["identity_status"] == rules.IDENTITY_STATUS.get(
        fact["result"])) or (kind in ("withdrawal", "adjustment") and any(
            e["type"] == event and e["payload"].get("data", {}).get("reason") == fact["reason"]
            for e in history))
    if again:
        audit.append(db, at=stamp, actor="province", action="province.duplicate",
                     obj=dossier["code"], detail={"kind": kind})
        return
    with _savepoint(db):
        if kind in ("withdrawal", "adjustment"):
            problem = rules.withdrawal_problem(dossier, history)
            data = {"reason": fact["reason"], "request": kind}
            if problem is not None:
                if kind == "adjustment":
                    problem = rules.FactProblem(problem.reason.replace(
                        "rút hồ sơ", "điều chỉnh nội dung hồ sơ"), problem.code)
                append_event(db, dossier, event, {}, {**data, "flagged": problem.reason}, stamp)
                _flag(db, now, kind, problem.code, problem.reason, item["payload"],
                      dossier=dossier)
                return
            append_event(db, dossier, event, {"pending_request": kind,
                                              "pending_request_note": fact["reason"]},
                         data, stamp)
        elif kind == "payment":
            amount, txn = fact["amount_vnd"], fact["transaction_id"]
            data = {"amount_vnd": amount, "transaction_id": txn, "online": True}
            try:
                what = rules.payment_outcome(dossier, history, amount, txn)
            except rules.FactProblem as problem:
                if problem.code == "duplicate_payment":
                    # the same payment reported again: already on the dossier
                    audit.append(db, at=stamp, actor="province", action="province.duplicate",
                                 obj=dossier["code"], detail={"transaction_id": txn})
                    return
                append_event(db, dossier, event, {}, {**data, "flagged": problem.reason}, stamp)
                _flag(db, now, kind, problem.code, problem.reason, item["payload"],
                      dossier=dossier)
                return
            if what == "obligation":
                decision = lifecycle.decide(dossier, history, "record_payment",
                                            {"amount_vnd": amount, "receipt_no": txn},
                                            actor=PROVINCE, now=now, cal=_calendar(db),
                                            procedure=catalog_store.get(
                                                db, dossier["procedure_code"]) or {})
                append_event(db, dossier, event, {**decision.set, "online_paid": 1},
                             {**decision.data, **data}, stamp, clock=decision.clock)
            else:
                append_event(db, dossier, event, {
                    "fee_paid_vnd": (dossier.get("fee_paid_vnd") or 0) + amount,
                    "fee_receipt_no": txn, "payment_status": "paid", "online_paid": 1},
                    {**data, "kind": "fee", "receipt_no": txn}, stamp)
        else:
            status = rules.IDENTITY_STATUS[fact["result"]]
            note = fact.get("reason") or ("Đã đối chiếu với hệ thống định danh" if
                                          status == "da_xac_thuc" else "Không khớp")
            append_event(db, dossier, event, {"identity_status": status,
                                              "identity_note": note[:500]},
                         {"result": fact["result"], "reason": note}, stamp)
            if status != "da_xac_thuc":
                _flag(db, now, kind, "identity_rejected",
                      f"Định danh của người nộp hồ sơ {dossier['code']} không được xác thực: "
                      f"{note}.", item["payload"], dossier=dossier)


def _calendar(db):
    from edge_node.services.calendar import load_calendar

    default = next(o.default for o in OPTIONS if o.name == "working_hours")
    return load_calendar(db, default)


def feed_notification_status(db: sqlite_utils.Database, item: dict, now: datetime) -> None:
    """``notification.status``: the hub's report of one delivery (sent / failed)."""
    payload = item["payload"]
    status = payload["status"]
    if status not in ("sent", "failed"):
        raise ValueError(f"unknown notification status {status!r}")
    at = payload.get("at") or to_iso(now)
    parse_iso(at)
    province_store.set_notification_status(db, str(payload["notification_id"]), status, at,
                                           str(payload.get("detail") or ""))


def resolve_flag(db: sqlite_utils.Database, flag_id: int, *, user: dict, now: datetime,
                 ip: str = "") -> bool:
    """A person has dealt with a flagged fact."""
    stamp = to_iso(now)
    with write_tx(db):
        done = province_store.resolve_flag(db, flag_id, at=stamp, by=user["username"])
        if done:
            audit.append(db, at=stamp, actor=user["username"], action="province.flag_resolved",
                         obj=str(flag_id), ip=ip)
    return done


#: Feed kinds this module handles (merged into ``services.sync.FEED_HANDLERS``).
HANDLERS = {"dossier.inbound": feed_inbound, "dossier.fact": feed_fact,
            "notification.status": feed_notification_status}
