"""Population-data pages and API: look-ups on a dossier, grants and the monitoring report.

Every path here answers 403 to an account without a grant in force (and the
refusal is audited); the admin pages manage grants and show counts, never
citizen data.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from edge_node.domain.clock import local
from edge_node.domain.privacy import mask_id
from edge_node.services import exports
from edge_node.services import population as service
from edge_node.store import population as population_store
from edge_node.store import users as users_store
from edge_node.web.app import get_db, request_now
from edge_node.web.auth import client_ip, roles
from edge_node.web.errors import api_error, page_error

bp = Blueprint("population", __name__)
api = Blueprint("population_api", __name__, url_prefix="/api/v1")
ALL_ROLES = ("admin", "clerk", "officer", "leader")
REPORT_HEADERS = ["Tháng", "Tài khoản", "Số lượt tra cứu", "Có kết quả", "Không tìm thấy",
                  "Tỉnh từ chối", "Đang chờ"]


def may_see_population() -> bool:
    """Whether the signed-in user holds a grant in force (cached for the request)."""
    if "population_ok" not in g:
        g.population_ok = service.permitted(get_db(), g.get("user"), request_now())
    return g.population_ok


def shown_id(number: str | None) -> str:
    """A citizen ID number in full for a permitted user, masked for everyone else."""
    return (number or "") if may_see_population() else mask_id(number)


@bp.app_context_processor
def _inject():
    return {"shown_id": shown_id, "may_see_population": may_see_population,
            "population_rows": lambda code: population_store.lookups_of(get_db(), code),
            "population_labels": service.STATUS_LABELS}


def lookup_json(row: dict, answer: dict | None = None) -> dict:
    body = {"id": row["id"], "request_id": row["request_id"],
            "dossier_code": row["dossier_code"], "officer": row["username"],
            "purpose": row["purpose"], "service_code": row["service_code"],
            "id_number_masked": row["id_masked"], "requested_at": row["requested_at"],
            "status": row["status"], "answered_at": row["answered_at"]}
    if answer is not None:
        body["answer"] = answer
    return body


# -- dossier page --------------------------------------------------------------------------

def _page_refusal(exc: service.PopulationError, code: str):
    if exc.status == 400:
        flash(exc.message, "error")
        return redirect(url_for("dossiers.detail", code=code) + "#population")
    return page_error(exc.status, exc.message)


@bp.route("/dossiers/<code>/population", methods=["POST"])
@roles(*ALL_ROLES)
def request_lookup(code: str):
    try:
        service.request_lookup(get_db(), code, user=g.user,
                               purpose=request.form.get("purpose", ""),
                               birth_date=request.form.get("birth_date", ""),
                               now=request_now(), ip=client_ip())
    except service.PopulationError as exc:
        return _page_refusal(exc, code)
    flash("Đã gửi yêu cầu tra cứu tới tỉnh; kết quả về cùng lần đồng bộ sau.", "success")
    return redirect(url_for("dossiers.detail", code=code) + "#population")


@bp.route("/dossiers/<code>/population/<int:lookup_id>")
@roles(*ALL_ROLES)
def view_lookup(code: str, lookup_id: int):
    try:
        found = service.view_answer(get_db(), code, lookup_id, user=g.user, now=request_now(),
                                    ip=client_ip())
    except service.PopulationError as exc:
        return page_error(exc.status, exc.message)
    return render_template("population/answer.html", row=found.row, answer=found.answer,
                           labels=service.STATUS_LABELS)


# -- admin: grants and monitoring ----------------------------------------------------------

def _admin_page(message=None, error=None, status=200):
    db = get_db()
    return render_template("population/admin.html", grants=population_store.grants(db),
                           users=[u for u in users_store.list_all(db) if not u["disabled"]],
                           report=service.monthly_report(db),
                           lookups=population_store.all_lookups(db, 200),
                           labels=service.STATUS_LABELS, message=message, error=error,
                           today=local(request_now()).date().isoformat(),
                           form=request.form), status


@bp.route("/admin/population", methods=["GET", "POST"])
@roles("admin")
def admin():
    if request.method == "GET":
        return _admin_page()
    form = request.form
    try:
        if form.get("action") == "revoke":
            target = service.revoke(get_db(), form.get("username", ""),
                                    decision=form.get("decision", ""), actor=g.user["username"],
                                    now=request_now(), ip=client_ip())
            return _admin_page(message=f"Đã thu hồi quyền của “{target['username']}”.")
        target = service.grant(get_db(), form.get("username", ""),
                               decision=form.get("decision", ""), until=form.get("until", ""),
                               actor=g.user["username"], now=request_now(), ip=client_ip())
    except service.PopulationError as exc:
        return _admin_page(error=exc.message, status=exc.status)
    return _admin_page(message=f"Đã cấp quyền khai thác dữ liệu dân cư cho "
                               f"“{target['username']}”.")


@bp.route("/admin/population/report.csv")
@roles("admin")
def report_csv():
    rows = [[r["month"], r["username"], r["total"], r["found"], r["not_found"], r["refused"],
             r["queued"]] for r in service.monthly_report(get_db())]
    resp = current_app.response_class(exports.csv_bytes(REPORT_HEADERS, rows),
                                      mimetype="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = 'attachment; filename="tra-cuu-dan-cu.csv"'
    return resp


# -- API -----------------------------------------------------------------------------------

def _api_refusal(exc: service.PopulationError):
    return api_error(exc.status, exc.code, exc.message)


@api.route("/dossiers/<code>/population-lookups", methods=["GET", "POST"])
@roles(*ALL_ROLES)
def api_lookups(code: str):
    db = get_db()
    try:
        if request.method == "POST":
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or not isinstance(body.get("purpose"), str) or \
                    not isinstance(body.get("birth_date", ""), str | None):
                service.require(db, g.user, request_now(), what="request", obj=code,
                                ip=client_ip())
                return api_error(400, "bad_request",
                                 "body must be JSON {purpose, birth_date?: YYYY-MM-DD}")
            row = service.request_lookup(db, code, user=g.user, purpose=body["purpose"],
                                         birth_date=body.get("birth_date") or "",
                                         now=request_now(), ip=client_ip())
            return jsonify(lookup_json(row)), 202
        rows = service.lookups(db, code, user=g.user, now=request_now(), ip=client_ip())
    except service.PopulationError as exc:
        return _api_refusal(exc)
    return jsonify({"items": [lookup_json(r) for r in rows]})


@api.route("/dossiers/<code>/population-lookups/<int:lookup_id>")
@roles(*ALL_ROLES)
def api_lookup(code: str, lookup_id: int):
    try:
        found = service.view_answer(get_db(), code, lookup_id, user=g.user, now=request_now(),
                                    ip=client_ip())
    except service.PopulationError as exc:
        return _api_refusal(exc)
    return jsonify(lookup_json(found.row, found.answer))
