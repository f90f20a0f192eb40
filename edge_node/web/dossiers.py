"""Clerk pages: open dossiers, counter intake, dossier page, printable slip."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from markupsafe import Markup

from edge_node.domain.clock import parse_iso
from edge_node.domain.deadlines import UNITS, due_state
from edge_node.domain.validation import RETURN_METHODS
from edge_node.services import catalog as catalog_service
from edge_node.services import intake
from edge_node.services.calendar import load_calendar
from edge_node.store import catalog as catalog_store
from edge_node.store import dossiers as dossier_store
from edge_node.web.app import get_db, request_now
from edge_node.web.auth import client_ip, roles

bp = Blueprint("dossiers", __name__)
ALL_ROLES = ("admin", "clerk", "officer", "leader")
INTAKE_ROLES = ("clerk",)


def receive_dossier(payload: dict, user: dict) -> dict:
    """Shared by the intake form and the API: validate, number, store."""
    cfg = current_app.config["EDGE"]
    db = get_db()
    return intake.receive(db, payload, user=user, now=request_now(), agency_id=cfg.agency_id,
                          calendar=load_calendar(db, cfg.working_hours), ip=client_ip())


@bp.route("/")
@roles(*ALL_ROLES)
def index():
    db = get_db()
    rows = dossier_store.list_by_status(db, dossier_store.OPEN_STATES)
    now = request_now()
    cal = load_calendar(db, current_app.config["EDGE"].working_hours)
    for row in rows:
        row["due_state"] = due_state(parse_iso(row["due_at"]), now, cal)
    return render_template("dossiers/index.html", dossiers=rows)


@bp.route("/intake", methods=["GET", "POST"])
@roles(*INTAKE_ROLES)
def intake_form():
    from flask import g

    db = get_db()
    code = request.values.get("procedure_code", "").strip()
    procedure = catalog_store.get(db, code) if code else None
    if procedure is None:
        q = request.args.get("q", "")
        results = catalog_service.search(db, q, limit=30) if q else []
        return render_template("dossiers/pick.html", q=q, results=results)
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        payload = {
            "procedure_code": procedure["code"],
            "applicant": {k: form.get(k, "") for k in
                          ("full_name", "id_number", "phone", "address", "email")},
            "documents_received": form.getlist("documents_received"),
            "return_method": form.get("return_method", ""),
            "postal_address": form.get("postal_address", ""),
        }
        if procedure["time_limit_value"] is None:
            payload["time_limit"] = {"value": form.get("limit_value", ""),
                                     "unit": form.get("limit_unit", "")}
        try:
            dossier = receive_dossier(payload, g.user)
        except intake.IntakeError as exc:
            errors = exc.errors
        else:
            return redirect(url_for("dossiers.slip", code=dossier["code"], print=1))
    return render_template("dossiers/intake.html", procedure=procedure, form=form,
                           errors=errors, return_methods=RETURN_METHODS, units=UNITS,
                           unit_labels=intake.UNIT_LABELS), (400 if errors else 200)


def _dossier_or_404(code: str) -> dict:
    dossier = dossier_store.get(get_db(), code)
    if dossier is None:
        abort(404)
    return dossier


@bp.route("/dossiers/<code>")
@roles(*ALL_ROLES)
def detail(code: str):
    dossier = _dossier_or_404(code)
    events = dossier_store.events(get_db(), code)
    return render_template("dossiers/detail.html", d=dossier, events=events,
                           return_methods=RETURN_METHODS)


def qr_svg(text: str) -> Markup:
    """An inline SVG QR code of *text* (no image files, no network)."""
    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=6, border=1)
    buf = io.BytesIO()
    img.save(buf)
    svg = buf.getvalue().decode("utf-8")
    return Markup(svg[svg.index("<svg"):])


@bp.route("/dossiers/<code>/slip")
@roles(*ALL_ROLES)
def slip(code: str):
    dossier = _dossier_or_404(code)
    procedure = catalog_store.get(get_db(), dossier["procedure_code"]) or {}
    return render_template("forms/mau01.html", d=dossier, procedure=procedure,
                           qr=qr_svg(dossier["code"]), return_methods=RETURN_METHODS,
                           auto_print=request.args.get("print") == "1")
