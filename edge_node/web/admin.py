"""Admin pages: accounts (create, lock, unlock, reset), catalog import, audit log."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, current_app, g, render_template, request

from edge_node.domain import lifecycle
from edge_node.domain.catalog_formats import CatalogError
from edge_node.domain.clock import local
from edge_node.domain.deadlines import limit_minutes
from edge_node.services import accounts
from edge_node.services import calendar as calendar_service
from edge_node.services import catalog as catalog_service
from edge_node.services import process as process_service
from edge_node.store import audit
from edge_node.store import catalog as catalog_store
from edge_node.store import process as process_store
from edge_node.store import users as users_store
from edge_node.web.app import get_db, request_now
from edge_node.web.auth import client_ip, roles

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _users_page(message=None, error=None, new_password=None, status=200):
    return render_template("admin/users.html", users=users_store.list_all(get_db()),
                           roles=accounts.ROLES, message=message, error=error,
                           new_password=new_password, form=request.form), status


@bp.route("/users")
@roles("admin")
def users():
    return _users_page()


@bp.route("/users", methods=["POST"])
@roles("admin")
def create_user():
    try:
        _, password = accounts.create_user(
            get_db(), username=request.form.get("username", ""),
            role=request.form.get("role", ""), full_name=request.form.get("full_name", ""),
            now=request_now(), actor=g.user["username"], ip=client_ip())
    except accounts.AccountError as exc:
        return _users_page(error=exc.message, status=400)
    username = request.form.get("username", "").strip().lower()
    return _users_page(message=f"Đã tạo tài khoản “{username}”.",
                       new_password=(username, password))


@bp.route("/users/<int:user_id>/<action>", methods=["POST"])
@roles("admin")
def user_action(user_id: int, action: str):
    db = get_db()
    try:
        if action == "lock":
            target = accounts.set_disabled(db, user_id, True, actor=g.user, now=request_now(),
                                           ip=client_ip())
            return _users_page(message=f"Đã khóa tài khoản “{target['username']}”.")
        if action == "unlock":
            target = accounts.set_disabled(db, user_id, False, actor=g.user, now=request_now(),
                                           ip=client_ip())
            return _users_page(message=f"Đã mở khóa tài khoản “{target['username']}”.")
        if action == "reset":
            password = accounts.reset_password(db, user_id, actor=g.user, now=request_now(),
                                               ip=client_ip())
            target = users_store.get(db, user_id)
            return _users_page(message=f"Đã cấp mật khẩu mới cho “{target['username']}”.",
                               new_password=(target["username"], password))
    except accounts.AccountError as exc:
        return _users_page(error=exc.message, status=400)
    return _users_page(error="Thao tác không hợp lệ.", status=400)


@bp.route("/catalog", methods=["GET", "POST"])
@roles("admin")
def catalog():
    db = get_db()
    message = error = None
    status = 200
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error, status = "Chưa chọn tệp danh mục.", 400
        else:
            try:
                raw = upload.read()
            finally:
                upload.close()  # large uploads spool to a temporary file
            try:
                result = catalog_service.import_catalog(
                    db, raw, now=request_now(), actor=g.user["username"], source=upload.filename)
            except CatalogError as exc:
                error, status = f"Không nhập được danh mục: {exc}. Danh mục cũ giữ nguyên.", 400
            else:
                message = (f"Đã nhập {result['procedures']} thủ tục (phiên bản danh mục "
                           f"{result['version']}).")
    return render_template("admin/catalog.html", versions=catalog_store.versions(db),
                           total=catalog_store.count(db), message=message,
                           error=error), status


@bp.route("/audit")
@roles("admin")
def audit_log():
    db = get_db()
    return render_template("admin/audit.html", entries=audit.recent(db, 200),
                           broken=audit.verify_chain(db))


def _month_grids(cal, year: int) -> list[dict]:
    """Twelve month grids (weeks of Mon..Sun cells, None outside the month)."""
    months = []
    for month in range(1, 13):
        first = date(year, month, 1)
        last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
        infos = cal.days(first, last)
        cells = [None] * first.weekday() + infos
        cells += [None] * (-len(cells) % 7)
        months.append({"month": month, "weeks": [cells[i:i + 7] for i in range(0, len(cells), 7)]})
    return months


@bp.route("/calendar", methods=["GET", "POST"])
@roles("admin")
def calendar():
    db = get_db()
    cfg = current_app.config["EDGE"]
    message = error = None
    status = 200
    try:
        year = int(request.values.get("year") or local(request_now()).year)
    except ValueError:
        year = local(request_now()).year
    year = min(max(year, 2000), 2099)
    if request.method == "POST":
        action = request.form.get("action")
        try:
            day = date.fromisoformat(request.form.get("date", ""))
        except ValueError:
            error, status = "Ngày không hợp lệ (định dạng năm-tháng-ngày).", 400
        else:
            try:
                if action == "remove":
                    calendar_service.remove_override(db, day, actor=g.user["username"],
                                                     now=request_now())
                    message = f"Đã xóa điều chỉnh ngày {day:%d/%m/%Y}."
                else:
                    working = request.form.get("working") == "1"
                    calendar_service.set_override(db, day, working, request.form.get("note", ""),
                                                  actor=g.user["username"], now=request_now())
                    kind = "ngày làm việc thêm" if working else "ngày nghỉ thêm"
                    message = f"Đã ghi {kind} {day:%d/%m/%Y}."
                year = day.year
            except calendar_service.CalendarError as exc:
                error, status = exc.message, 400
    cal = calendar_service.load_calendar(db, cfg.working_hours)
    special = [d for d in cal.days(date(year, 1, 1), date(year, 12, 31))
               if d.kind not in ("workday", "weekend")]
    return render_template("admin/calendar.html", year=year, months=_month_grids(cal, year),
                           special=special, overrides=cal.overrides, message=message,
                           error=error, working_hours=cfg.working_hours,
                           form=request.form), status


@bp.route("/procedures/<code>", methods=["GET", "POST"])
@roles("admin")
def procedure_process(code: str):
    """Edit a procedure's internal process and clock settings."""
    db = get_db()
    procedure = catalog_store.get(db, code)
    if procedure is None:
        abort(404)
    message = error = None
    status = 200
    text = request.form.get("steps", "")
    if request.method == "POST":
        try:
            process_service.set_process(
                db, code, text, supplement_model=request.form.get("supplement_model", ""),
                payment_pauses=request.form.get("payment_pauses") == "1",
                actor=g.user["username"], now=request_now())
        except process_service.ProcessError as exc:
            error, status = exc.message, 400
        else:
            message = "Đã lưu quy trình nội bộ. Hồ sơ tiếp nhận từ nay dùng quy trình mới."
            procedure = catalog_store.get(db, code)
    steps = process_store.steps_of(db, code)
    custom = bool(steps)
    if not steps and procedure["time_limit_unit"] in ("working_days", "working_hours"):
        steps = lifecycle.default_steps(limit_minutes(int(procedure["time_limit_value"]),
                                                      procedure["time_limit_unit"]))
    return render_template("admin/process.html", p=procedure, custom=custom,
                           text=text if error else process_service.format_steps(steps),
                           message=message, error=error), status
