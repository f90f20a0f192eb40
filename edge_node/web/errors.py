"""Error answers: JSON ``{error: {code, message}}`` on the API, Vietnamese pages elsewhere."""

from __future__ import annotations

import sqlite3

from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException

PAGE_MESSAGES = {
    400: "Yêu cầu không hợp lệ.",
    403: "Bạn không có quyền truy cập trang này.",
    404: "Không tìm thấy trang hoặc hồ sơ.",
    405: "Thao tác không được phép.",
    413: "Dữ liệu gửi lên quá lớn.",
    500: "Lỗi hệ thống. Hãy thử lại hoặc báo quản trị viên.",
}


RECOVERY_MESSAGE = ("Máy vừa được khôi phục từ bản sao lưu. Cần đồng bộ với hệ thống của tỉnh "
                    "một lần (kết nối mạng rồi chờ hoặc bấm Đồng bộ) trước khi ghi việc mới, "
                    "để không trùng số hồ sơ đã gửi tỉnh. Hồ sơ cũ vẫn xem được.")


def api_error(status: int, code: str, message: str, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


def page_error(status: int, message: str | None = None):
    return render_template("error.html", status=status,
                           message=message or PAGE_MESSAGES.get(status, "Có lỗi xảy ra.")), status


def register(app) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        limits = app.config.get("UPLOAD_LIMITS", {})
        if exc.code == 413 and request.endpoint in limits:
            mb = app.config["EDGE"].attachment_max_mb
            if request.path.startswith("/api/"):
                return api_error(413, "too_large", f"attachment larger than {mb} MB")
            return page_error(413, f"Tệp quá lớn: mỗi tệp đính kèm tối đa {mb} MB.")
        if request.path.startswith("/api/"):
            return api_error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"),
                             exc.description or exc.name)
        return page_error(exc.code or 500)

    @app.errorhandler(RecursionError)
    @app.errorhandler(UnicodeEncodeError)
    @app.errorhandler(OverflowError)
    def _bad_input(exc: Exception):
        # Absurd input (JSON nested 100,000 deep, lone surrogates, numbers past 2**63)
        # that slipped past a check: still the client's fault, never a 500.
        app.logger.warning("refused bad input: %s", exc.__class__.__name__)
        if request.path.startswith("/api/"):
            return api_error(400, "bad_input", "input is malformed (nesting, characters or "
                                               "numbers out of range)")
        return page_error(400, "Dữ liệu gửi lên không hợp lệ.")

    from edge_node.store.outbox import RecoveryPending

    @app.errorhandler(RecoveryPending)
    def _recovering(exc: RecoveryPending):
        # After a restore, new work could reuse numbers the province already holds.
        if request.path.startswith("/api/"):
            return api_error(503, "recovery_pending", "restored from a backup: the node must "
                             "sync with the hub once before recording new work")
        return page_error(503, RECOVERY_MESSAGE)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        app.logger.exception("unhandled error")
        if request.path.startswith("/api/"):
            return api_error(500, "internal_error", "internal error; see the node log")
        return page_error(500)

    @app.errorhandler(sqlite3.OperationalError)
    def _busy(exc: sqlite3.OperationalError):
        # Another writer held the database past the busy timeout (many nodes pushing to
        # one SQLite hub at once): nothing was written, so say "try again", not "broken".
        text = str(exc).lower()
        if "locked" not in text and "busy" not in text:
            return _crash(exc)
        app.logger.warning("database busy: %s %s", request.method, request.path)
        if request.path.startswith("/api/"):
            response, status = api_error(503, "busy", "the database is busy; retry shortly")
        else:
            response, status = page_error(503, "Máy đang bận ghi dữ liệu; vui lòng thử lại "
                                               "sau ít giây.")
        response = app.make_response((response, status))
        response.headers["Retry-After"] = "5"
        return response
