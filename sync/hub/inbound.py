"""Hub API for work from the province: online dossiers, facts, DVCQG export.

Callers are systems (the provincial DVCQG adapter), so these endpoints take a
``Authorization: Bearer`` integration token from ``sync-hub token create``, or
the API token of a hub admin account (``POST /api/v1/session``). No cookie, so
no CSRF token.
"""

from __future__ import annotations

from datetime import date, datetime, time

from flask import Blueprint, current_app, g, jsonify, request

from edge_node.domain.clock import LOCAL_TZ, parse_iso, to_iso
from edge_node.services import accounts
from edge_node.web.app import request_now
from edge_node.web.errors import api_error
from sync.hub import dvcqg
from sync.hub import province as service

bp = Blueprint("hubinbound", __name__, url_prefix="/api/v1")
ENDPOINTS = {"hubinbound.inbound_dossier", "hubinbound.inbound_fact",
             "hubinbound.inbound_facts", "hubinbound.export_dvcqg",
             "hubinbound.notifications"}


def register(app) -> None:
    """Mount the blueprint; its endpoints check their own tokens."""
    app.config["OPEN_ENDPOINTS"] = set(app.config["OPEN_ENDPOINTS"]) | ENDPOINTS
    app.config["NO_SESSION_ENDPOINTS"] = set(app.config["NO_SESSION_ENDPOINTS"]) | ENDPOINTS
    app.register_blueprint(bp)


def _store():
    from sync.hub.app import store

    return store()


@bp.before_request
def _authenticate():
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else ""
    now = request_now()
    row = service.check_token(_store(), token, now) if token else None
    if row is not None:
        g.caller = f"token:{row['label']}"
        return None
    info = accounts.resolve_session(_store().db, token, kind="api", now=now, idle=None) \
        if token else None
    # an admin's API token, if it may write (tokens carry scopes since issue 10)
    if info is not None and info.user["role"] == "admin" and not info.user[
            "must_change_password"] and "write" in getattr(info, "scopes", {"write"}):
        g.caller = info.user["username"]
        return None
    return api_error(401, "unauthorized", "send Authorization: Bearer <token> (sync-hub token "
                                          "create, or an admin's POST /api/v1/session)")


def _refusal(exc: service.HubError):
    return api_error(exc.status, exc.code, exc.message,
                     fields=getattr(exc, "fields", {}))


@bp.route("/inbound/dossiers", methods=["POST"])
def inbound_dossier():
    """``POST /api/v1/inbound/dossiers``: an online dossier forwarded by DVCQG → 201."""
    try:
        routed = service.submit_dossier(_store(), request.get_json(silent=True),
                                        now=request_now(), by=g.caller)
    except service.HubError as exc:
        return _refusal(exc)
    return jsonify(routed), 201


@bp.route("/inbound/facts", methods=["POST"])
def inbound_fact():
    """``POST /api/v1/inbound/facts``: 201 routed to the node, 202 kept flagged."""
    try:
        result = service.submit_fact(_store(), request.get_json(silent=True),
                                     now=request_now(), by=g.caller)
    except service.HubError as exc:
        return _refusal(exc)
    return jsonify(result), (201 if result["status"] == "routed" else 202)


@bp.route("/inbound/facts", methods=["GET"])
def inbound_facts():
    """Facts received, newest first (``?status=flagged`` for those waiting for a person)."""
    status = request.args.get("status", "")
    if status not in ("", "routed", "flagged"):
        return api_error(400, "bad_status", "status must be routed or flagged")
    return jsonify({"items": _store().facts(status)})


@bp.route("/notifications", methods=["GET"])
def notifications():
    """Applicant notifications and their delivery state (``?dossier=CODE``)."""
    return jsonify({"items": _store().notifications(request.args.get("dossier", ""))})


def parse_since(text: str) -> str:
    """``YYYY-MM-DD`` (local midnight) or an ISO instant with zone → UTC ISO; raises."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return to_iso(datetime.combine(day, time(0), tzinfo=LOCAL_TZ))
        return to_iso(parse_iso(text))
    except OverflowError:  # 0001-01-01 in Vietnam is before year 1 in UTC
        raise ValueError("out of range") from None


def unit_names(store) -> dict[str, str]:
    return {n["commune_code"]: f"Bộ phận Một cửa {n['commune_name']}" for n in store.nodes()}


@bp.route("/export/dvcqg", methods=["GET"])
def export_dvcqg():
    """``GET /api/v1/export/dvcqg[?since=]``: DongBoHoSoMC + CapNhatTienDoHoSoMC JSON."""
    since = request.args.get("since", "")
    try:
        since = parse_since(since) if since else ""
    except ValueError:
        return api_error(400, "bad_since", "since must be YYYY-MM-DD or an ISO instant with zone")
    current_app.logger.info("DVCQG export since %s by %s", since or "-", g.caller)
    return jsonify(dvcqg.export(_store(), since=since, unit_names=unit_names(_store())))
