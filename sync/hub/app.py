"""The provincial hub's Flask app: sync endpoints, read API, Vietnamese admin pages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import jinja2
from flask import Blueprint, Flask, abort, current_app, g, jsonify, render_template, request

from edge_node import __version__
from edge_node.domain.clock import now_utc
from edge_node.web import auth, errors, filters, security
from edge_node.web.app import read_secret_key, request_now
from edge_node.web.auth import client_ip, roles
from edge_node.web.errors import api_error
from sync import protocol
from sync.hub import service
from sync.hub.store import HubStore, open_store

api = Blueprint("hubapi", __name__, url_prefix="/api/v1")
pages = Blueprint("hub", __name__)
VIEW_ROLES = ("admin", "leader")
OCTET = "application/octet-stream"
ATTACHMENT_ENDPOINTS = ("hubapi.attachment_offer", "hubapi.attachment_chunk")


def store() -> HubStore:
    if "hub_store" not in g:
        g.hub_store = open_store(current_app.config["EDGE"], migrate=False)
    return g.hub_store


def _identity() -> protocol.Identity:
    return current_app.config["HUB_IDENTITY"]


def create_hub_app(cfg) -> Flask:
    """Create the hub app for one hub home (keys, database, secret key)."""
    cfg.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    open_store(cfg).close()  # migrate once
    here = Path(__file__).resolve().parent
    node_pkg = here.parents[1] / "edge_node"
    static = node_pkg.parent / "static"
    app = Flask("sync.hub", static_folder=str(static if static.is_dir() else node_pkg / "static"))
    app.jinja_loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(here / "templates")),
                                            jinja2.FileSystemLoader(str(node_pkg / "templates"))])
    app.config.update(
        EDGE=cfg, SECRET_KEY=read_secret_key(cfg), CLOCK=now_utc,
        MAX_CONTENT_LENGTH=cfg.max_batch_bytes + 1024,
        SESSION_IDLE=timedelta(minutes=cfg.session_idle_minutes),
        HUB_IDENTITY=protocol.load_or_create_identity(cfg.home / "keys"),
        HOME_ENDPOINT="hub.nodes",
        OPEN_ENDPOINTS={"hubapi.enroll", "hubapi.push", "hubapi.pull", "hubapi.reconcile",
                        "hubapi.recover", "hub.healthz", *ATTACHMENT_ENDPOINTS},
        NO_SESSION_ENDPOINTS={"hubapi.push", "hubapi.pull", "hubapi.reconcile", "hubapi.recover",
                              "hub.healthz", *ATTACHMENT_ENDPOINTS},
    )
    app.json.ensure_ascii = False
    filters.register(app)

    @app.before_request
    def _no_nul():
        # PostgreSQL text cannot hold NUL: a "\x00" in a page's path or query reached a
        # query there as a 500 (psycopg.DataError) where SQLite simply found nothing. No
        # code, node id or filter holds one, so both engines refuse it alike, up front.
        if "\x00" in request.path or any("\x00" in v for _, v in request.args.items(multi=True)):
            abort(400)

    @app.before_request
    def _hub_db():
        # accounts and sessions (edge_node.web.auth, via get_db) live in the hub's database,
        # whichever engine it is: hand them the request's store connection
        g.db = store().db

    @app.teardown_appcontext
    def _close(exc):
        g.pop("db", None)
        hub_store = g.pop("hub_store", None)
        if hub_store is not None:
            hub_store.close()

    @app.context_processor
    def _inject():
        return {"version": __version__, "cfg": cfg}

    errors.register(app)
    auth.register(app)
    security.register(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(auth.session_api)
    app.register_blueprint(api)
    app.register_blueprint(pages)
    from sync.hub import inbound

    inbound.register(app)
    return app


def _envelope_error(exc: service.HubError):
    return api_error(exc.status, exc.code, exc.message)


@pages.route("/healthz")
def healthz():
    cfg = current_app.config["EDGE"]
    database = {"backend": "postgresql" if cfg.database_url else "sqlite", "reachable": False,
                "schema_version": None}
    try:
        database.update(store().health())
        state = "ok"
        if database["schema_version"] != database["expected_version"]:
            state = "error: schema_version"  # a process older or newer than the database
    except Exception as exc:  # the answer must come even when the database is broken
        state = f"error: {exc.__class__.__name__}"
    return jsonify({"status": "ok" if state == "ok" else "degraded", "version": __version__,
                    "db": state, "database": database, "hub_id": cfg.hub_id}), (
        200 if state == "ok" else 503)


@api.route("/enroll", methods=["POST"])
def enroll():
    try:
        body = service.enroll(store(), hub_id=current_app.config["EDGE"].hub_id,
                              identity=_identity(), body=request.get_json(silent=True),
                              now=request_now())
    except service.HubError as exc:
        store().log_rejection(request_now().isoformat(), "", exc.code, exc.message, client_ip())
        return _envelope_error(exc)
    return jsonify(body), 201


def _answer(handler, **extra):
    """Run an envelope handler on the request body; answer bytes, or a JSON refusal."""
    cfg = current_app.config["EDGE"]
    try:
        reply = handler(store(), hub_id=cfg.hub_id, identity=_identity(),
                        data=request.get_data(cache=False), now=request_now(),
                        remote=client_ip(), **extra)
    except service.HubError as exc:
        return _envelope_error(exc)
    return current_app.response_class(reply, mimetype=OCTET)


@api.route("/sync/push", methods=["POST"])
def push():
    from sync.hub import province
    from sync.hub.population import load_source

    cfg = current_app.config["EDGE"]
    return _answer(service.push, max_bytes=cfg.max_batch_bytes, population=load_source(cfg),
                   after_apply=province.hook(cfg))


@api.route("/sync/pull", methods=["POST"])
def pull():
    from sync.hub import province
    from sync.hub.population import load_source

    cfg = current_app.config["EDGE"]
    return _answer(service.pull, limit=cfg.feed_batch_items, population=load_source(cfg),
                   follow_up=province.pull_hook(cfg))


@api.route("/sync/recover", methods=["POST"])
def recover():
    return _answer(service.recover)


@api.route("/sync/reconcile", methods=["POST"])
def reconcile():
    return _answer(service.reconcile)


@api.route("/sync/attachments/offer", methods=["POST"])
def attachment_offer():
    return _attachment(service.attachment_offer)


@api.route("/sync/attachments/chunk", methods=["POST"])
def attachment_chunk():
    return _attachment(service.attachment_chunk)


def _attachment(handler):
    try:
        reply = handler(store(), cfg=current_app.config["EDGE"], identity=_identity(),
                        data=request.get_data(cache=False), now=request_now(),
                        remote=client_ip())
    except service.HubError as exc:
        return _envelope_error(exc)
    return current_app.response_class(reply, mimetype=OCTET)


@pages.route("/dossiers/<code>/attachments/<sha256>")
@roles(*VIEW_ROLES)
def attachment_file(code: str, sha256: str):
    """A verified attachment's bytes (only files the hub checked against their hash)."""
    from flask import send_file

    from edge_node.store import blobs

    rows = [a for a in store().dossier_attachments(code)
            if a["sha256"] == sha256 and a["verified_at"]]
    if not rows:
        abort(404)
    resp = send_file(blobs.path_for(service.files_root(current_app.config["EDGE"]), sha256),
                     mimetype=rows[-1]["mime"], as_attachment=True,
                     download_name=rows[-1]["name"] or sha256)
    return resp


@pages.route("/nodes/<node_id>")
@roles(*VIEW_ROLES)
def node_page(node_id: str):
    import json as _json

    node = store().node(node_id)
    if node is None:
        abort(404)
    from sync.hub.audit import verify_node

    result = _json.loads(node["reconcile"]) if node["reconcile"] else None
    return render_template("hub/node.html", n=node_json(node), raw=node, result=result,
                           audit=verify_node(store(), node_id))


def node_json(n: dict) -> dict:
    return {"node_id": n["node_id"], "commune_code": n["commune_code"],
            "commune_name": n["commune_name"], "agency_id": n["agency_id"],
            "label": n["label"], "enrolled_at": n["enrolled_at"], "revoked": bool(n["revoked_at"]),
            "last_seen_at": n["last_seen_at"], "acked_seq": n["acked_seq"],
            "feed_backlog": store().feed_backlog(n["node_id"], n["feed_acked"]),
            "dossiers": n.get("dossiers", 0), "last_error": n["last_error"] or None,
            "clock_skew_seconds": n.get("clock_skew_seconds"),
            "reconciled_at": n.get("reconciled_at")}


def dossier_json(d: dict) -> dict:
    return {"code": d["code"], "commune_code": d["commune_code"], "node_id": d["node_id"],
            "status": d["status"], "dvcqg_status": d["dvcqg_status"],
            "procedure_code": d["procedure_code"], "procedure_name": d["procedure_name"],
            "applicant_name": d["applicant_name"], "received_at": d["received_at"],
            "due_at": d["due_at"], "completed_at": d["completed_at"],
            "updated_at": d["updated_at"]}


@api.route("/nodes")
@roles(*VIEW_ROLES)
def api_nodes():
    return jsonify({"items": [node_json(n) for n in store().nodes(
        request.args.get("commune", ""))]})


@api.route("/dossiers")
@roles(*VIEW_ROLES)
def api_dossiers():
    try:
        limit = min(max(int(request.args.get("limit", 500)), 1), 5000)
        offset = max(int(request.args.get("offset", 0)), 0)
    except ValueError:
        return api_error(400, "bad_request", "limit and offset must be integers")
    return jsonify({"items": [dossier_json(d) for d in store().dossiers(
        request.args.get("commune", ""), limit, offset)]})


@api.route("/dossiers/<code>")
@roles(*VIEW_ROLES)
def api_dossier(code: str):
    d = store().dossier(code)
    if d is None:
        return api_error(404, "not_found", f"no dossier {code}")
    events = store().dossier_events(d["node_id"], code)
    return jsonify({**dossier_json(d), "events": [
        {"seq": e["seq"], "type": e["payload"].get("type"), "at": e["at"],
         "actor": e["payload"].get("actor")} for e in events]})


@pages.route("/")
@roles(*VIEW_ROLES)
def nodes():
    return render_template("hub/nodes.html", nodes=[node_json(n) for n in store().nodes()],
                           rejections=store().rejections(20), conflicts=store().conflicts())


@pages.route("/dossiers")
@roles(*VIEW_ROLES)
def dossiers():
    commune = request.args.get("commune", "")
    return render_template("hub/dossiers.html", commune=commune,
                           dossiers=store().dossiers(commune, 1000))


@pages.route("/dossiers/<code>")
@roles(*VIEW_ROLES)
def dossier(code: str):
    d = store().dossier(code)
    if d is None:
        abort(404)
    return render_template("hub/dossier.html", d=d,
                           events=store().dossier_events(d["node_id"], code),
                           attachments=store().dossier_attachments(code))


# -- work from the province that needs a person: flagged facts, applicant notifications ---

#: Rows per section of the province page; older ones are one "Cũ hơn" link away.
PAGE_SIZE = 50
FACT_KIND_LABELS = {"withdrawal": "Yêu cầu rút hồ sơ", "adjustment": "Yêu cầu điều chỉnh",
                    "payment": "Thanh toán trực tuyến", "identity": "Kết quả xác thực định danh",
                    "inbound": "Hồ sơ trực tuyến"}
NOTIFICATION_STATUS_LABELS = {"queued": "Đang chờ gửi", "sent": "Đã gửi", "failed": "Gửi lỗi"}


def _page_number(name: str) -> int:
    try:
        return min(max(int(request.args.get(name, 1)), 1), 100_000)
    except ValueError:
        return 1


@pages.route("/province")
@roles(*VIEW_ROLES)
def province_page():
    """Facts from the province that nothing applied, and the applicants' notifications with
    their delivery state (``?node=`` one node's; ``?status=`` one delivery state)."""
    from edge_node.domain import lifecycle
    from edge_node.domain.province import CHANNEL_LABELS

    node_id = request.args.get("node", "").strip()[:64]
    node = store().node(node_id) if node_id else None
    if node_id and node is None:
        abort(404)
    status = request.args.get("status", "")
    status = status if status in NOTIFICATION_STATUS_LABELS else ""
    fpage, npage = _page_number("fpage"), _page_number("npage")
    flags_total, flags = store().flags_page(node_id, PAGE_SIZE, (fpage - 1) * PAGE_SIZE)
    notes_total, notes = store().notifications_page(node_id, status, PAGE_SIZE,
                                                    (npage - 1) * PAGE_SIZE)
    return render_template(
        "hub/province.html", node=node, node_id=node_id, status=status, flags=flags,
        flags_total=flags_total, fpage=fpage, notes=notes, notes_total=notes_total,
        npage=npage, size=PAGE_SIZE, kind_labels=FACT_KIND_LABELS,
        status_labels=NOTIFICATION_STATUS_LABELS, channel_labels=CHANNEL_LABELS,
        event_labels={name: spec[2] for name, spec in lifecycle.ACTIONS.items()})


# -- reports: the same Biểu 06a table per commune and for the province ---------------------

def _hub_report(start: str | None, end: str | None, charts: bool = False):
    """``(report, None)`` for the period and the request's commune, or ``(None, (code,
    message, status))`` when refused."""
    from edge_node.domain.reports import PeriodError, parse_period
    from sync.hub import reports as hub_reports

    try:
        chosen = parse_period(start, end)
    except PeriodError as exc:
        return None, (exc.code, exc.message, 400)
    commune = request.args.get("commune", "").strip()
    try:
        return hub_reports.province_report(store(), chosen, now=request_now(), commune=commune,
                                           charts=charts), None
    except hub_reports.UnknownCommune:
        return None, ("unknown_commune", f"Không có nút nào của xã “{commune[:20]}”.", 404)


def _report_unit(report: dict) -> str:
    where = report["commune"]
    place = f"{where['name']} ({where['code']})" if where else "Toàn tỉnh"
    return f"{place} — {current_app.config['EDGE'].province_name}"


@api.route("/reports/period")
@roles(*VIEW_ROLES)
def api_report():
    """``GET /api/v1/reports/period?from=&to=[&commune=][&format=csv|xlsx]``."""
    from edge_node.web.reports import FORMATS, REPORT_TITLE, export_response

    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        return api_error(400, "bad_format", "Định dạng không hỗ trợ: chọn json, csv hoặc xlsx.")
    report, refused = _hub_report(request.args.get("from"), request.args.get("to"))
    if refused:
        return api_error(refused[2], refused[0], refused[1])
    prefix = f"bao-cao-06a-{report['commune']['code']}" if report["commune"] else "bao-cao-06a-tinh"
    return export_response(report, fmt, title=REPORT_TITLE, unit=_report_unit(report),
                           prefix=prefix)


@pages.route("/reports")
@roles(*VIEW_ROLES)
def report_page():
    from edge_node.domain.clock import local
    from edge_node.web.errors import page_error
    from edge_node.web.reports import render_report, report_links
    from sync.hub.reports import communes

    today = local(request_now()).date()
    report, refused = _hub_report(request.args.get("from") or today.replace(day=1).isoformat(),
                                  request.args.get("to") or today.isoformat(), charts=True)
    if refused:
        return page_error(refused[2], refused[1])
    extra = {"commune": report["commune"]["code"]} if report["commune"] else {}
    links = report_links("hub.report_page", "hubapi.api_report", report, today, **extra)
    return render_report("hub/report.html", report, links, unit=_report_unit(report),
                         communes=communes(store()))
