"""Clerk pages: open dossiers, counter intake, dossier page, printable slip."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta

import qrcode
import qrcode.image.svg
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from edge_node.domain import lifecycle
from edge_node.domain import province as province_rules
from edge_node.domain.attachments import AttachmentError
from edge_node.domain.clock import LOCAL_TZ, parse_iso, to_iso
from edge_node.domain.deadlines import UNITS, due_state
from edge_node.domain.validation import RETURN_METHODS
from edge_node.services import attachments as attachment_service
from edge_node.services import catalog as catalog_service
from edge_node.services import exports, intake, processing
from edge_node.services import province as province_service
from edge_node.services import sync as sync_service
from edge_node.services.calendar import load_calendar
from edge_node.store import attachments as attachment_store
from edge_node.store import catalog as catalog_store
from edge_node.store import dossiers as dossier_store
from edge_node.store import users as users_store
from edge_node.web.app import get_db, request_now
from edge_node.web.auth import client_ip, roles
from edge_node.web.errors import page_error
from edge_node.web.filters import vn_short

bp = Blueprint("dossiers", __name__)
ALL_ROLES = ("admin", "clerk", "officer", "leader")
INTAKE_ROLES = ("clerk",)
ATTACH_ROLES = ("clerk", "officer")


def receive_dossier(payload: dict, user: dict) -> dict:
    """Shared by the intake form and the API: validate, number, store."""
    cfg = current_app.config["EDGE"]
    db = get_db()
    return intake.receive(db, payload, user=user, now=request_now(),
                          agency_id=sync_service.agency_id(db, cfg),
                          calendar=load_calendar(db, cfg.working_hours), ip=client_ip())


def run_action(code: str, action: str, params: dict, user: dict) -> dict:
    """Shared by the dossier page and the API."""
    cfg = current_app.config["EDGE"]
    db = get_db()
    return processing.act(db, code, action, params, user=user, now=request_now(),
                          calendar=load_calendar(db, cfg.working_hours), ip=client_ip())


QUEUE_LABELS = {
    "open": "Tất cả hồ sơ đang giải quyết",
    "to_transfer": "Chờ chuyển xử lý",
    "my_work": "Việc của tôi",
    "for_leader": "Chờ lãnh đạo ký",
    "supplement": "Chờ bổ sung",
    "payment": "Chờ nộp nghĩa vụ tài chính",
    "to_return": "Chờ trả kết quả",
    "due_soon": "Sắp đến hạn",
    "overdue": "Quá hạn",
    "to_receive": "Chờ tiếp nhận",
    "closed": "Đã kết thúc",
}
ROLE_QUEUES = {
    "clerk": ("open", "to_receive", "to_transfer", "supplement", "payment", "to_return",
              "due_soon", "overdue", "closed"),
    "officer": ("my_work", "supplement", "due_soon", "overdue", "open", "closed"),
    "leader": ("for_leader", "my_work", "due_soon", "overdue", "open", "closed"),
    "admin": ("open", "due_soon", "overdue", "closed"),
}
RUNNING = ("DA_TIEP_NHAN", "DANG_XU_LY")


def _with_due_state(rows: list[dict], cal) -> list[dict]:
    now = request_now()
    for row in rows:
        if row["status"] == "CHO_TIEP_NHAN" and row.get("national_code"):
            # the 8-working-hour answer clock of an online dossier (ND 118 art 17.2c)
            answer = province_rules.answer_due(parse_iso(row["created_at"]), cal)
            row["answer_due_at"] = to_iso(answer)
            row["due_state"] = due_state(answer, now, cal, 120)
        elif row["status"] in RUNNING and row["due_at"]:
            row["due_state"] = due_state(parse_iso(row["due_at"]), now, cal)
        elif row["status"] in lifecycle.OPEN_STATES:
            row["due_state"] = "paused" if row["status"] in (
                "CHO_BO_SUNG", "CHO_NGHIA_VU_TAI_CHINH") else "none"
        else:
            row["due_state"] = "none"
    return rows


def _local_bound(text: str, *, end: bool) -> str:
    """A YYYY-MM-DD filter date as a UTC bound of that local day."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return ""
    if end:
        day += timedelta(days=1)
    return to_iso(datetime.combine(day, time(0), tzinfo=LOCAL_TZ))


SYNC_ERRORS = sync_service.ERROR_MESSAGES


@bp.route("/sync", methods=["GET", "POST"])
@roles(*ALL_ROLES)
def sync_page():
    """Sync status for clerks: online or not, last success, events waiting, last error."""
    db = get_db()
    if request.method == "POST":
        cfg = current_app.config["EDGE"]
        report = sync_service.sync_once(db, cfg, now_fn=request_now)
        if report.error is None and request.form.get("reconcile"):
            try:
                sync_service.reconcile(db, cfg, now_fn=request_now)
            except sync_service.SyncError:
                pass  # the page shows the last error and the last comparison
        return redirect(url_for("dossiers.sync_page"))
    return render_template("sync.html", s=sync_service.status(db))


EXPORT_HEADERS = ["Mã hồ sơ", "Mã thủ tục", "Tên thủ tục", "Lĩnh vực", "Người nộp", "Địa chỉ",
                  "Điện thoại", "Trạng thái", "Mã trạng thái DVCQG", "Tiếp nhận", "Hẹn trả",
                  "Có kết quả", "Trả kết quả", "Tình trạng hạn"]
DUE_WORDS = {"overdue": "Quá hạn", "due_soon": "Sắp đến hạn", "within_time": "Trong hạn",
             "paused": "Tạm dừng", "none": ""}


# What a queue page and its CSV/XLSX export show (and _with_due_state needs).
QUEUE_COLUMNS = ("code", "national_code", "procedure_code", "procedure_name", "field",
                 "applicant_name", "address", "phone", "status", "dvcqg_status", "created_at",
                 "received_at", "due_at", "completed_at", "returned_at", "assignee")


def _export(rows: list[dict], title: str, fmt: str):
    """The list on screen, as CSV or XLSX: the same rows, filters and order."""
    table = [[d["code"], d["procedure_code"], d["procedure_name"], d["field"],
              d["applicant_name"], d["address"], d["phone"],
              lifecycle.STATES.get(d["status"], (d["status"],))[0], d["dvcqg_status"],
              vn_short(d["received_at"]), vn_short(d["due_at"]), vn_short(d["completed_at"]),
              vn_short(d["returned_at"]), DUE_WORDS.get(d.get("due_state"), "")] for d in rows]
    stamp = f"{request_now().astimezone(LOCAL_TZ):%Y%m%d-%H%M}"
    if fmt == "csv":
        body, mime = exports.csv_bytes(EXPORT_HEADERS, table), "text/csv; charset=utf-8"
    else:
        body = exports.xlsx_bytes(f"{title} ({stamp})", EXPORT_HEADERS, table)
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    resp = current_app.response_class(body, mimetype=mime)
    resp.headers["Content-Disposition"] = f'attachment; filename="ho-so-{stamp}.{fmt}"'
    return resp


@bp.route("/")
@roles(*ALL_ROLES)
def index():
    return queue(ROLE_QUEUES[g.user["role"]][0])


@bp.route("/queues/<name>")
@roles(*ALL_ROLES)
def queue(name: str):
    if name not in QUEUE_LABELS:
        abort(404)
    db = get_db()
    cal = load_calendar(db, current_app.config["EDGE"].working_hours)
    args = request.args
    filters = {"procedure": args.get("procedure", "").strip()[:60],
               "field": args.get("field", "").strip()[:200],
               "received_from": _local_bound(args.get("from", ""), end=False),
               "received_to": _local_bound(args.get("to", ""), end=True)}
    base = name if name not in ("due_soon", "overdue") else "open"
    rows = _with_due_state(dossier_store.queue(db, base, me=g.user["id"], role=g.user["role"],
                                               limit=500, columns=QUEUE_COLUMNS, **filters),
                           cal)
    if name in ("due_soon", "overdue"):
        rows = [r for r in rows if r["due_state"] == name]
    if args.get("format") in ("csv", "xlsx"):
        return _export(rows, QUEUE_LABELS[name], args["format"])
    fields = dossier_store.fields_in_use(db)
    return render_template("dossiers/index.html", dossiers=rows, queue=name,
                           queues=[(q, QUEUE_LABELS[q]) for q in ROLE_QUEUES[g.user["role"]]],
                           title=QUEUE_LABELS[name], fields=fields, args=args)


@bp.route("/intake", methods=["GET", "POST"])
@roles(*INTAKE_ROLES)
def intake_form():
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
        decision = form.get("decision", "accept")
        if decision != "accept":
            payload.update({"decision": decision, "reason": form.get("reason", ""),
                            "items": form.get("items", "")})
        if procedure["time_limit_value"] is None:
            payload["time_limit"] = {"value": form.get("limit_value", ""),
                                     "unit": form.get("limit_unit", "")}
        try:
            dossier = receive_dossier(payload, g.user)
        except intake.IntakeError as exc:
            errors = exc.errors
        else:
            if dossier["status"] == "HUONG_DAN_BO_SUNG":
                return redirect(url_for("dossiers.form", code=dossier["code"], form="mau02",
                                        print=1))
            if dossier["status"] == "TU_CHOI_TIEP_NHAN":
                return redirect(url_for("dossiers.form", code=dossier["code"], form="mau03",
                                        print=1))
            return redirect(url_for("dossiers.slip", code=dossier["code"], print=1))
    return render_template("dossiers/intake.html", procedure=procedure, form=form,
                           errors=errors, return_methods=RETURN_METHODS, units=UNITS,
                           unit_labels=intake.UNIT_LABELS), (400 if errors else 200)


def _dossier_or_404(code: str) -> dict:
    dossier = dossier_store.get(get_db(), code)
    if dossier is None:
        abort(404)
    return dossier


ACTION_LABELS = {**{name: spec[2] for name, spec in lifecycle.ACTIONS.items()},
                 **province_service.EVENT_LABELS}
FORM_TITLES = {
    "mau01": "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
    "mau02": "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
    "mau03": "Phiếu từ chối tiếp nhận giải quyết hồ sơ",
    "mau04": "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết",
    "mau05": "Thông báo dừng giải quyết hồ sơ",
    "mau06": "Phiếu kiểm soát quá trình giải quyết hồ sơ",
}


def _detail(code: str, *, error: str | None = None, status: int = 200, form=None):
    db = get_db()
    dossier = _dossier_or_404(code)
    events = dossier_store.events(db, code)
    cal = load_calendar(db, current_app.config["EDGE"].working_hours)
    _with_due_state([dossier], cal)
    actions = lifecycle.available_actions(dossier, g.user)
    assignable = {}
    for user in users_store.list_all(db):
        if not user["disabled"]:
            assignable.setdefault(user["role"], []).append(user)
    steps = control_rows(dossier, events)
    forms = [f for f in FORM_TITLES if _form_available(dossier, events, f)]
    from edge_node.store import province as province_store

    return render_template("dossiers/detail.html", d=dossier, events=events, actions=actions,
                           notifications=province_store.notifications(db, code),
                           flags=province_store.flags(db, open_only=False, dossier_code=code),
                           province=province_rules,
                           action_labels=ACTION_LABELS, assignable=assignable, steps=steps,
                           return_methods=RETURN_METHODS, error=error, forms=forms,
                           form_titles=FORM_TITLES, form=form or {},
                           next_step=_next_step(dossier),
                           attachments=attachment_store.for_dossier(db, code),
                           can_attach=g.user["role"] in ATTACH_ROLES), status


def _next_step(dossier: dict) -> dict | None:
    steps = dossier.get("steps") or []
    index = (dossier.get("current_step") or 0) + 1
    return steps[index] if index < len(steps) else None


@bp.route("/dossiers/<code>")
@roles(*ALL_ROLES)
def detail(code: str):
    return _detail(code)


def _form_params(action: str, form) -> dict:
    params = {k: form.get(k) for k in ("to_user", "note", "reason", "result", "description",
                                       "receipt_no", "waybill_no", "channel",
                                       "postal_address")
              if form.get(k) not in (None, "")}
    for key in ("amount_vnd", "postal_fee_vnd"):
        raw = (form.get(key) or "").replace(".", "").replace(",", "").strip()
        if raw:
            params[key] = int(raw) if raw.lstrip("-").isdigit() else raw
    if form.get("items"):
        params["items"] = form.get("items")
    if form.get("new_due_local"):
        try:
            naive = datetime.fromisoformat(form["new_due_local"])
            params["new_due_at"] = naive.replace(tzinfo=LOCAL_TZ).isoformat()
        except ValueError:
            params["new_due_at"] = "không hợp lệ"
    return params


@bp.route("/dossiers/<code>/actions/<action>", methods=["POST"])
@roles(*ALL_ROLES)
def action(code: str, action: str):
    _dossier_or_404(code)
    try:
        dossier = run_action(code, action, _form_params(action, request.form), g.user)
    except lifecycle.TransitionError as exc:
        return _detail(code, error=exc.message, status=exc.status, form=request.form)
    flash(f"Đã thực hiện: {ACTION_LABELS.get(action, action)}.", "success")
    printable = {"request_supplement": "mau02", "extend": "mau04", "withdraw": "mau05",
                 "stop": "mau05", "reject": "mau03"}.get(action)
    if printable:
        return redirect(url_for("dossiers.form", code=dossier["code"], form=printable))
    return redirect(url_for("dossiers.detail", code=dossier["code"]))


def control_rows(dossier: dict, events: list[dict]) -> list[dict]:
    """Rows of the control sheet (Mẫu 06): each step with handover times and timeliness."""
    steps = dossier.get("steps") or []
    rows = [{**s, "index": i, "started_at": None, "finished_at": None, "by": "",
             "to": "", "result": ""} for i, s in enumerate(steps)]
    if not rows:
        return rows
    started = dossier.get("received_effective_at")
    rows[0]["started_at"] = started
    for event in events:
        data = event["payload"].get("data", {})
        if "from_step" in data and "to_step" in data:
            i, j = data["from_step"], data["to_step"]
            if 0 <= i < len(rows):
                rows[i]["finished_at"] = event["at"]
                rows[i]["by"] = event["actor"]
                rows[i]["to"] = data.get("to_user") or ""
            if 0 <= j < len(rows) and j != i:
                rows[j]["started_at"] = event["at"]
        if event["type"] == "return_result":
            rows[-1]["finished_at"] = event["at"]
            rows[-1]["by"] = event["actor"]
    for row in rows:
        if row["finished_at"] and row["due_at"]:
            finished, due = parse_iso(row["finished_at"]), parse_iso(row["due_at"])
            row["result"] = ("early" if finished < due else
                             "on_time" if finished == due else "late")
    return rows


def _form_available(dossier: dict, events: list[dict], form: str) -> bool:
    types = {e["type"] for e in events}
    accepted = bool(dossier.get("due_at")) and dossier["status"] not in (
        "HUONG_DAN_BO_SUNG", "TU_CHOI_TIEP_NHAN")
    return {
        "mau01": accepted,
        "mau02": bool(dossier.get("supplement_items")),
        "mau03": dossier["status"] == "TU_CHOI_TIEP_NHAN" or "reject" in types,
        "mau04": "extend" in types,
        "mau05": bool(types & {"withdraw", "stop"}),
        "mau06": accepted,
    }[form]


@bp.route("/dossiers/<code>/forms/<form>")
@roles(*ALL_ROLES)
def form(code: str, form: str):
    if form == "mau01":
        return slip(code)
    if form not in FORM_TITLES:
        abort(404)
    dossier = _dossier_or_404(code)
    events = dossier_store.events(get_db(), code)
    if not _form_available(dossier, events, form):
        abort(404)
    last = {e["type"]: e for e in events}
    return render_template(f"forms/{form}.html", d=dossier, events=events, last=last,
                           title=FORM_TITLES[form], steps=control_rows(dossier, events),
                           return_methods=RETURN_METHODS,
                           auto_print=request.args.get("print") == "1")


@bp.route("/forms/mau07")
@roles(*ALL_ROLES)
def log_book():
    """Sổ theo dõi hồ sơ (Mẫu 07) for a date range (default: this month)."""
    today = request_now().astimezone(LOCAL_TZ).date()
    try:
        start = date.fromisoformat(request.args.get("from") or today.replace(day=1).isoformat())
        end = date.fromisoformat(request.args.get("to") or today.isoformat())
    except ValueError:
        return page_error(400, "Ngày không hợp lệ (định dạng năm-tháng-ngày).")
    if end < start or (end - start).days > 366:
        return page_error(400, "Khoảng thời gian không hợp lệ (tối đa một năm).")
    rows = dossier_store.received_between(get_db(), _local_bound(start.isoformat(), end=False),
                                          _local_bound(end.isoformat(), end=True))
    return render_template("forms/mau07.html", rows=rows, start=start, end=end)


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
    if not _form_available(dossier, [], "mau01"):
        abort(404)  # no receipt for a dossier that was not accepted
    db = get_db()
    procedure = catalog_store.get(db, dossier["procedure_code"]) or {}
    clerk = users_store.get(db, dossier["received_by"]) if dossier["received_by"] else None
    return render_template("forms/mau01.html", d=dossier, procedure=procedure,
                           qr=qr_svg(dossier["code"]), return_methods=RETURN_METHODS,
                           receiver=(clerk["full_name"] or clerk["username"]) if clerk else "",
                           auto_print=request.args.get("print") == "1")


# -- scanned documents ------------------------------------------------------------------------


def attach_file(code: str, upload, label: str | None, user: dict) -> dict:
    """Shared by the dossier page and the API."""
    if upload is None or not upload.filename and not upload.content_length:
        raise AttachmentError("no_file", "Hãy chọn tệp cần đính kèm (PDF, JPEG hoặc PNG).")
    return attachment_service.attach(get_db(), current_app.config["EDGE"], code,
                                     upload.stream, filename=upload.filename, label=label,
                                     user=user, now=request_now(), ip=client_ip())


def send_attachment(code: str, sha256: str):
    """The stored bytes of one of *code*'s attachments, or None."""
    from flask import send_file

    if len(sha256) != 64:
        return None
    row = attachment_store.by_hash(get_db(), code, sha256)
    if row is None:
        return None
    path = attachment_service.file_path(current_app.config["EDGE"], sha256)
    if not path.exists():
        return None
    return send_file(path, mimetype=row["mime"], as_attachment=True,
                     download_name=row["original_name"], max_age=0)


@bp.route("/dossiers/<code>/attachments", methods=["POST"])
@roles(*ATTACH_ROLES)
def attach(code: str):
    _dossier_or_404(code)
    try:
        row = attach_file(code, request.files.get("file"), request.form.get("label"), g.user)
    except AttachmentError as exc:
        return _detail(code, error=exc.message, status=exc.status, form=request.form)
    flash(f"Đã đính kèm: {row['original_name']}.", "success")
    return redirect(url_for("dossiers.detail", code=code) + "#tai-lieu")


@bp.route("/dossiers/<code>/attachments/<sha256>")
@roles(*ALL_ROLES)
def attachment_file(code: str, sha256: str):
    resp = send_attachment(code, sha256)
    if resp is None:
        abort(404)
    return resp


@bp.route("/dossiers/<code>/attachments/<attachment_id>/remove", methods=["POST"])
@roles(*ATTACH_ROLES)
def remove_attachment(code: str, attachment_id: str):
    _dossier_or_404(code)
    try:
        row = attachment_service.remove(get_db(), code, attachment_id, user=g.user,
                                        now=request_now(), reason=request.form.get("reason", ""),
                                        ip=client_ip())
    except AttachmentError as exc:
        return _detail(code, error=exc.message, status=exc.status)
    flash(f"Đã gỡ tệp đính kèm: {row['original_name']}.", "success")
    return redirect(url_for("dossiers.detail", code=code) + "#tai-lieu")


@bp.route("/province", methods=["GET"])
@roles("clerk", "admin", "leader")
def province_flags():
    """Work from the province a person must look at: citizens' requests and flagged facts."""
    from edge_node.store import province as province_store

    db = get_db()
    requests_ = [dossier_store.decode(r) for r in db.query(
        "SELECT * FROM dossiers WHERE pending_request != '' ORDER BY updated_at")]
    return render_template("dossiers/province.html", requests=requests_,
                           flags=province_store.flags(db, open_only=True))


@bp.route("/province/flags/<int:flag_id>/resolve", methods=["POST"])
@roles("clerk", "admin")
def resolve_flag(flag_id: int):
    if province_service.resolve_flag(get_db(), flag_id, user=g.user, now=request_now(),
                                     ip=client_ip()):
        flash("Đã đánh dấu là đã xử lý.", "success")
    return redirect(url_for("dossiers.province_flags"))
