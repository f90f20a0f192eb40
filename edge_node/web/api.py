"""JSON API under ``/api/v1`` (described at ``/api/v1/openapi.json``).

Errors are ``{"error": {"code", "message"}}`` with a 4xx status, and a 4xx
writes nothing.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, g, jsonify, request

from edge_node.domain import lifecycle
from edge_node.domain.clock import parse_iso, to_iso
from edge_node.domain.deadlines import DeadlineError, due_at
from edge_node.domain.privacy import mask_id
from edge_node.services import catalog as catalog_service
from edge_node.services import processing
from edge_node.services.calendar import load_calendar
from edge_node.services.intake import IntakeError
from edge_node.store import dossiers as dossier_store
from edge_node.web.app import MAX_REQUEST_BYTES, get_db, request_now
from edge_node.web.auth import roles
from edge_node.web.dossiers import (
    ALL_ROLES,
    ATTACH_ROLES,
    INTAKE_ROLES,
    receive_dossier,
    run_action,
)
from edge_node.web.errors import api_error
from edge_node.web.openapi import spec

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_LIMIT = 500


def _json_body() -> dict | None:
    limit = MAX_REQUEST_BYTES
    if request.content_length is not None and request.content_length > limit:
        abort(413)  # get_json(silent=True) would hide the size as "not JSON"
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def procedure_json(p: dict) -> dict:
    return {
        "code": p["code"], "name": p["name"], "field": p["field"],
        "time_limit": {"value": p["time_limit_value"], "unit": p["time_limit_unit"]},
        "fee_vnd": p["fee_vnd"], "documents": p["documents"],
    }


def dossier_json(d: dict, full_id: bool | None = None) -> dict:
    """A dossier for the API; the applicant's ID number is masked (``0010******45``)
    unless *full_id*, which defaults to whether the caller holds a population-data grant.
    Lists always mask it."""
    from edge_node.web.population import may_see_population

    step = lifecycle.current_step(d)
    if full_id is None:
        full_id = may_see_population()
    return {
        "code": d["code"], "status": d["status"], "dvcqg_status": d["dvcqg_status"],
        "procedure_code": d["procedure_code"], "procedure_name": d["procedure_name"],
        "applicant": {"full_name": d["applicant_name"],
                      "id_number": d["id_number"] if full_id else mask_id(d["id_number"]),
                      "phone": d["phone"], "address": d["address"], "email": d["email"]},
        "documents_received": d["documents_received"], "return_method": d["return_method"],
        "postal_address": d["postal_address"], "fee_vnd": d["fee_vnd"],
        "time_limit": {"value": d["time_limit_value"], "unit": d["time_limit_unit"]},
        "received_at": d["received_at"], "received_effective_at": d["received_effective_at"],
        "due_at": d["due_at"], "identity_status": d["identity_status"],
        "original_due_at": d["original_due_at"], "extension_count": d["extension_count"],
        "transfer_due_at": d["transfer_due_at"],
        "current_step": {"index": d["current_step"], "name": step["name"],
                         "role": step["role"], "due_at": step["due_at"]} if step else None,
        "assignee": d["assignee"] or None,
        "steps": d["steps"],
        "fee": {"amount_vnd": d["fee_vnd"], "paid_vnd": d["fee_paid_vnd"],
                "receipt_no": d["fee_receipt_no"], "status": d["payment_status"]},
        "obligation": {"due_vnd": d["payment_due_vnd"], "paid_vnd": d["obligation_paid_vnd"],
                       "receipt_no": d["obligation_receipt_no"]},
        "supplement": {"items": d["supplement_items"], "count": d["supplement_count"],
                       "requested_at": d["supplement_requested_at"],
                       "close_at": d["supplement_close_at"]},
        "reason": d["reason"], "completed_at": d["completed_at"],
        "result_kind": d["result_kind"] or None, "returned_at": d["returned_at"],
        "return_channel": d["return_channel"] or None, "waybill_no": d["waybill_no"] or None,
        "postal_fee_vnd": d["postal_fee_vnd"], "correction_count": d["correction_count"],
        # work from the province (online dossiers, citizens' requests, identity answers)
        "channel": d["channel"], "national_code": d.get("national_code"),
        "submitted_at": d.get("submitted_at"), "online_paid": bool(d.get("online_paid")),
        "identity_note": d.get("identity_note") or "",
        "pending_request": d.get("pending_request") or None,
        "pending_request_note": d.get("pending_request_note") or "",
    }


@bp.route("/openapi.json")
def openapi():
    return jsonify(spec())


@bp.route("/procedures")
@roles(*ALL_ROLES)
def procedures():
    try:
        limit = min(max(int(request.args.get("limit", 20)), 1), MAX_LIMIT)
    except ValueError:
        return api_error(400, "bad_request", "limit must be an integer")
    items = catalog_service.search(get_db(), request.args.get("q", ""), limit=limit)
    return jsonify({"items": [procedure_json(p) for p in items]})


@bp.route("/dossiers", methods=["POST"])
@roles(*INTAKE_ROLES)
def create_dossier():
    body = _json_body()
    if body is None:
        return api_error(400, "bad_request", "body must be a JSON object")
    try:
        dossier = receive_dossier(body, g.user)
    except IntakeError as exc:
        return api_error(400, exc.code, "; ".join(exc.errors.values()), fields=exc.errors)
    return jsonify(dossier_json(dossier)), 201


@bp.route("/dossiers/<code>")
@roles(*ALL_ROLES)
def get_dossier(code: str):
    dossier = dossier_store.get(get_db(), code)
    if dossier is None:
        return api_error(404, "not_found", f"no dossier {code}")
    return jsonify(dossier_json(dossier))


@bp.route("/dossiers")
@roles(*ALL_ROLES)
def list_dossiers():
    status = request.args.get("status", "").strip()
    try:
        limit = min(max(int(request.args.get("limit", 200)), 1), MAX_LIMIT)
        offset = min(max(int(request.args.get("offset", 0)), 0), 10**9)
    except ValueError:
        return api_error(400, "bad_request", "limit and offset must be integers")
    if status == "open":
        statuses = dossier_store.OPEN_STATES
    elif status:
        statuses = tuple(s.strip().upper() for s in status.split(",") if s.strip())
    else:
        statuses = None
    rows = dossier_store.list_by_status(get_db(), statuses, limit=limit, offset=offset)
    return jsonify({"items": [dossier_json(d, full_id=False) for d in rows]})


def _calendar():
    return load_calendar(get_db(), current_app.config["EDGE"].working_hours)


@bp.route("/calendar/due")
@roles(*ALL_ROLES)
def calendar_due():
    """Due date of a limit from a receipt instant, as intake computes it."""
    args = request.args
    try:
        received = parse_iso(args.get("received_at", ""))
    except ValueError:
        return api_error(400, "bad_received_at",
                         "received_at must be an ISO 8601 instant with a time zone, "
                         "e.g. 2026-12-03T09:15:00+07:00")
    unit = args.get("unit", "")
    raw_value = args.get("value", "")
    try:
        value = int(raw_value) if raw_value else None
    except ValueError:
        return api_error(400, "bad_value", "value must be a whole number")
    try:
        result = due_at(received, value, unit, _calendar())
    except (DeadlineError, ValueError, OverflowError) as exc:
        return api_error(400, "bad_limit", str(exc))
    return jsonify({"due_at": to_iso(result.due_at),
                    "received_effective_at": to_iso(result.received_effective_at)})


@bp.route("/calendar/days")
@roles(*ALL_ROLES)
def calendar_days():
    """Each date of a range with working true/false and why."""
    try:
        start = date.fromisoformat(request.args.get("from", ""))
        end = date.fromisoformat(request.args.get("to", ""))
    except ValueError:
        return api_error(400, "bad_date", "from and to must be dates YYYY-MM-DD")
    try:
        days = _calendar().days(start, end)
    except ValueError as exc:
        return api_error(400, "bad_range", str(exc))
    return jsonify({"days": [{"date": d.date.isoformat(), "working": d.working, "kind": d.kind,
                              "reason": d.reason} for d in days]})


@bp.route("/dossiers/<code>/actions", methods=["POST"])
@roles(*ALL_ROLES)
def dossier_action(code: str):
    """Apply one lifecycle action: 200 with the dossier, 409 illegal, 403 wrong role."""
    body = _json_body()
    if body is None or not isinstance(body.get("action"), str):
        return api_error(400, "bad_request", "body must be JSON {action, ...}")
    params = {k: v for k, v in body.items() if k != "action"}
    try:
        dossier = run_action(code, body["action"], params, g.user)
    except processing.NotFound:
        return api_error(404, "not_found", f"no dossier {code}")
    except lifecycle.TransitionError as exc:
        return api_error(exc.status, exc.code, exc.message)
    return jsonify(dossier_json(dossier))


@bp.route("/dossiers/<code>/events")
@roles(*ALL_ROLES)
def dossier_events(code: str):
    db = get_db()
    if dossier_store.get(db, code) is None:
        return api_error(404, "not_found", f"no dossier {code}")
    return jsonify({"items": [
        {"event_id": e["event_id"], "type": e["type"], "at": e["at"], "actor": e["actor"],
         "actor_role": e["actor_role"], "set": e["payload"].get("set", {}),
         "data": e["payload"].get("data", {})} for e in dossier_store.events(db, code)]})


@bp.route("/sync/reconcile")
@roles(*ALL_ROLES)
def sync_reconcile():
    """Ask the hub for its per-day digests and compare: {match, days, pending_events}."""
    from edge_node.services import sync

    try:
        result = sync.reconcile(get_db(), current_app.config["EDGE"], now_fn=request_now)
    except sync.SyncError as exc:
        # 409: retrying will not help until someone acts on this node (enroll it, repair or
        # restore its database, upgrade it); 503: the hub or the link, try again later
        status = 409 if exc.code in NEEDS_ACTION else 503
        return api_error(status, exc.code, exc.detail or exc.message)
    return jsonify(result)


NEEDS_ACTION = ("not_enrolled", "seq_reused", "outbox_damaged", "revoked_sender",
                "unknown_sender", "unsupported_version", "recover_pending")


def attachment_json(a: dict) -> dict:
    return {"id": a["id"], "dossier_code": a["dossier_code"], "sha256": a["sha256"],
            "size": a["size"], "mime": a["mime"], "name": a["original_name"],
            "label": a["label"], "uploaded_at": a["uploaded_at"],
            "uploaded_by": a["uploaded_by"], "removed_at": a["removed_at"],
            "transfer": {"state": a["transfer_state"], "sent_bytes": a["sent_bytes"],
                         "sent_at": a["sent_at"], "error": a["transfer_error"] or None}}


@bp.route("/dossiers/<code>/attachments", methods=["POST"])
@roles(*ATTACH_ROLES)
def create_attachment(code: str):
    """Multipart ``file`` (+ optional ``label``): 201 with the attachment."""
    from edge_node.domain.attachments import AttachmentError
    from edge_node.web.dossiers import attach_file

    request.max_content_length = current_app.config["UPLOAD_LIMITS"][request.endpoint]
    try:
        row = attach_file(code, request.files.get("file"), request.form.get("label"), g.user)
    except AttachmentError as exc:
        return api_error(exc.status, exc.code, exc.message)
    return jsonify(attachment_json(row)), 201


@bp.route("/dossiers/<code>/attachments")
@roles(*ALL_ROLES)
def list_attachments(code: str):
    from edge_node.store import attachments as attachment_store

    db = get_db()
    if dossier_store.get(db, code) is None:
        return api_error(404, "not_found", f"no dossier {code}")
    return jsonify({"items": [attachment_json(a) for a in attachment_store.for_dossier(db, code)]})


@bp.route("/dossiers/<code>/attachments/<sha256>")
@roles(*ALL_ROLES)
def get_attachment(code: str, sha256: str):
    from edge_node.web.dossiers import send_attachment

    resp = send_attachment(code, sha256)
    if resp is None:
        return api_error(404, "not_found", f"no attachment {sha256[:64]} on dossier {code}")
    return resp
