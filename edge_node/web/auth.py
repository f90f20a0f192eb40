"""Login, logout, password change, and the checks every request passes.

Browser sessions live server-side (only a hash of the cookie's token is
stored) and every state-changing form carries the session's CSRF token.
API clients use ``Authorization: Bearer`` tokens and need no CSRF token,
since a browser never attaches one by itself. A token carries scopes
(``read`` for GET, ``write`` for changes, ``admin`` for admin-only views),
can be listed and revoked by its owner, and is rate-limited; logins are
rate-limited per client address.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from functools import wraps

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

from edge_node.domain.clock import to_iso
from edge_node.services import accounts
from edge_node.web.app import get_db, request_now
from edge_node.web.errors import api_error, page_error

bp = Blueprint("auth", __name__)
session_api = Blueprint("session_api", __name__, url_prefix="/api/v1")
SESSION_COOKIE = "edge_session"
LOGIN_CSRF_COOKIE = "edge_login_csrf"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
OPEN_ENDPOINTS = {"static", "health.healthz", "auth.login", "api.openapi",
                  "session_api.create_session"}
LOGIN_ENDPOINTS = {"auth.login", "session_api.create_session"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# A token may always end itself and see its own list, whatever its scopes.
SCOPE_FREE_ENDPOINTS = {"session_api.delete_session", "session_api.list_tokens",
                        "session_api.revoke_token"}
PASSWORD_ENDPOINTS = {"auth.password", "auth.logout"}
LARGE_UPLOADS = {"admin.catalog": 64 * 1024 * 1024}


def is_api() -> bool:
    return request.path.startswith("/api/")


def client_ip() -> str:
    return (request.remote_addr or "")[:45]


def _cookie_secure() -> bool:
    return request.scheme == "https"


def _load_user() -> None:
    g.user = None
    g.session = None
    g.auth = None
    db = get_db()
    now = request_now()
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        info = accounts.resolve_session(db, header[7:].strip(), kind="api", now=now, idle=None)
        g.auth = "token"
    else:
        info = accounts.resolve_session(db, request.cookies.get(SESSION_COOKIE), kind="web",
                                        now=now, idle=current_app.config["SESSION_IDLE"])
        g.auth = "cookie"
    if info:
        g.user, g.session = info.user, info


def _csrf_ok() -> bool:
    limits = {**LARGE_UPLOADS, **current_app.config.get("UPLOAD_LIMITS", {})}
    if request.endpoint in limits:
        # Reading the form parses the body, so raise the limit before that.
        request.max_content_length = limits[request.endpoint]
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if request.endpoint == "auth.login":
        expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    else:
        expected = g.session.csrf if g.session else ""
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def _limiter():
    from edge_node.web.ratelimit import SlidingWindow

    return current_app.extensions.setdefault("edge_ratelimit", SlidingWindow())


def _limit(key: tuple, option: str, default: int):
    """None if allowed, else the 429 answer (JSON on the API, a page for the login form)."""
    per_minute = getattr(current_app.config["EDGE"], option, default)
    wait = _limiter().hit(key, per_minute, 60.0, request_now().timestamp())
    if wait is None:
        return None
    if is_api():
        resp = api_error(429, "rate_limited", f"too many requests; retry after {wait} s",
                         retry_after=wait)
    else:
        resp = page_error(429, f"Quá nhiều lần đăng nhập từ máy này. Thử lại sau {wait} giây.")
    response = current_app.make_response(resp)
    response.headers["Retry-After"] = str(wait)
    return response


def _scope_refusal():
    """403 when a Bearer token lacks the scope this request needs."""
    if g.auth != "token" or g.session is None or request.endpoint in SCOPE_FREE_ENDPOINTS:
        return None
    needed = "read" if request.method in SAFE_METHODS else "write"
    if needed not in g.session.scopes:
        return api_error(403, "insufficient_scope", f"this token lacks the {needed} scope")
    return None


def register(app) -> None:
    @app.before_request
    def _guard():
        if request.endpoint in ("static", "health.healthz") or request.endpoint in app.config.get(
                "NO_SESSION_ENDPOINTS", ()):
            return None
        if request.method == "POST" and request.endpoint in LOGIN_ENDPOINTS:
            refused = _limit(("login", client_ip()), "login_rate_per_minute", 20)
            if refused is not None:
                return refused
        _load_user()
        if g.auth == "token" and g.session is not None:
            refused = _limit(("token", g.session.token_hash), "api_rate_per_minute", 600) or \
                _scope_refusal()
            if refused is not None:
                return refused
        # Browser forms always carry a CSRF token; an API call needs one only when
        # it rides on a browser's session cookie (a Bearer token is never ambient).
        needs_csrf = request.method in UNSAFE and (
            not is_api() or (g.auth == "cookie" and g.session is not None))
        if needs_csrf and not _csrf_ok():
            if is_api():
                return api_error(400, "csrf_failed", "missing or wrong CSRF token")
            return page_error(400, "Biểu mẫu đã hết hạn hoặc không hợp lệ. Hãy tải lại trang "
                                   "và thử lại.")
        if request.endpoint in OPEN_ENDPOINTS or request.endpoint in app.config.get(
                "OPEN_ENDPOINTS", ()):
            return None
        if g.user is None:
            if is_api():
                return api_error(401, "unauthorized", "log in first: POST /api/v1/session")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if g.user["must_change_password"] and request.endpoint not in PASSWORD_ENDPOINTS:
            if is_api():
                return api_error(403, "password_change_required",
                                 "change the one-time password in the web interface first")
            return redirect(url_for("auth.password"))
        return None

    @app.context_processor
    def _user():
        return {"user": g.get("user"), "csrf_token": g.session.csrf if g.get("session") else ""}


def roles(*allowed: str):
    """Allow the view only to users whose role is in *allowed*."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if g.user is None or g.user["role"] not in allowed:
                if is_api():
                    return api_error(403, "forbidden",
                                     f"this action needs role {' or '.join(allowed)}")
                return page_error(403, "Tài khoản của bạn không có quyền dùng chức năng này.")
            if allowed == ("admin",) and g.get("auth") == "token" and g.session is not None \
                    and "admin" not in g.session.scopes:
                return api_error(403, "insufficient_scope", "this token lacks the admin scope")
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorate


def _safe_next(target: str | None) -> str:
    # Only a path on this node: browsers drop tabs and newlines and read "\" as "/",
    # so "/\tevil.com" would become "//evil.com".
    if (target and target.startswith("/") and not target.startswith(("//", "/\\"))
            and all(32 < ord(c) < 127 and c != "\\" for c in target)):
        return target
    return url_for(current_app.config.get("HOME_ENDPOINT", "dossiers.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    cfg = current_app.config["EDGE"]
    error = None
    if request.method == "POST":
        try:
            user = accounts.authenticate(
                get_db(), request.form.get("username", ""), request.form.get("password", ""),
                now=request_now(), max_failures=cfg.login_max_failures,
                lockout_minutes=cfg.lockout_minutes, ip=client_ip())
        except accounts.AccountError as exc:
            error = exc.message
        else:
            token, _ = accounts.start_session(get_db(), user, kind="web", now=request_now(),
                                              lifetime=current_app.config["SESSION_IDLE"])
            resp = redirect(_safe_next(request.args.get("next")))
            resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict",
                            secure=_cookie_secure())
            resp.delete_cookie(LOGIN_CSRF_COOKIE)
            return resp
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    resp = current_app.make_response(
        (render_template("login.html", error=error, login_csrf=csrf,
                         username=request.form.get("username", "")), 401 if error else 200))
    resp.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="Strict",
                    secure=_cookie_secure())
    return resp


@bp.route("/logout", methods=["POST"])
def logout():
    if g.session:
        accounts.end_session(get_db(), g.session.token_hash, actor=g.user["username"],
                             now=request_now(), ip=client_ip())
    resp = redirect(url_for("auth.login"))
    resp.delete_cookie(SESSION_COOKIE)
    flash("Đã đăng xuất.", "info")
    return resp


@bp.route("/password", methods=["GET", "POST"])
def password():
    error = None
    if request.method == "POST":
        try:
            accounts.change_password(get_db(), g.user, request.form.get("current", ""),
                                     request.form.get("new", ""), request.form.get("confirm", ""),
                                     now=request_now(), ip=client_ip(),
                                     keep_session=g.session.token_hash)
        except accounts.AccountError as exc:
            error = exc.message
        else:
            flash("Đã đổi mật khẩu.", "success")
            return redirect(_safe_next(None))
    return render_template("password.html", error=error,
                           forced=bool(g.user["must_change_password"])), (400 if error else 200)


def api_token_lifetime() -> timedelta:
    return timedelta(hours=current_app.config["EDGE"].api_token_hours)


@session_api.route("/session", methods=["POST"])
def create_session():
    """``POST /api/v1/session`` {username, password} → 201 {token, expires_at, user}."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) or \
            not isinstance(body.get("password"), str) or \
            not isinstance(body.get("label", ""), str):
        return api_error(400, "bad_request",
                         "body must be JSON {username, password, scopes?, label?}")
    cfg = current_app.config["EDGE"]
    db = get_db()
    try:
        user = accounts.authenticate(db, body["username"], body["password"], now=request_now(),
                                     max_failures=cfg.login_max_failures,
                                     lockout_minutes=cfg.lockout_minutes, ip=client_ip())
    except accounts.AccountError as exc:
        return api_error(423 if exc.code == "locked" else 401, exc.code, exc.message)
    if user["must_change_password"]:
        return api_error(403, "password_change_required",
                         "change the one-time password in the web interface first")
    try:
        scopes = accounts.check_scopes(user, body.get("scopes"))
    except accounts.AccountError as exc:
        return api_error(403 if exc.code == "scope_not_allowed" else 400, exc.code, exc.message)
    now = request_now()
    lifetime = api_token_lifetime()
    token, _ = accounts.start_session(db, user, kind="api", now=now, lifetime=lifetime,
                                      scopes=scopes, label=body.get("label", ""),
                                      ip=client_ip())
    return jsonify({"token": token, "expires_at": to_iso(now + lifetime),
                    "scopes": list(scopes),
                    "user": {"username": user["username"], "role": user["role"]}}), 201


@session_api.route("/session", methods=["DELETE"])
def delete_session():
    """Revoke the Bearer token used for this call."""
    if g.user is None or g.session is None:
        return api_error(401, "unauthorized", "log in first: POST /api/v1/session")
    accounts.end_session(get_db(), g.session.token_hash, actor=g.user["username"],
                         now=request_now(), ip=client_ip())
    return "", 204


def _token_admin() -> bool:
    """Admin over every account's tokens: an admin account, and (by token) the admin scope."""
    return g.user["role"] == "admin" and (g.auth != "token" or "admin" in g.session.scopes)


@session_api.route("/tokens")
def list_tokens():
    """``GET /api/v1/tokens[?all=1]``: the caller's live API tokens (admins: everyone's)."""
    everyone = request.args.get("all") == "1"
    if everyone and not _token_admin():
        return api_error(403, "forbidden", "listing every account's tokens needs an admin "
                                           "account and the admin scope")
    items = accounts.list_tokens(get_db(), user=g.user, now=request_now(), everyone=everyone)
    mine = g.session.token_id if g.session is not None and g.auth == "token" else None
    return jsonify({"items": [{**t, "current": t["id"] == mine} for t in items]})


@session_api.route("/tokens/<tid>", methods=["DELETE"])
def revoke_token(tid: str):
    """``DELETE /api/v1/tokens/{id}``: revoke one of the caller's tokens (admins: any)."""
    if not accounts.revoke_token(get_db(), tid, user=g.user, now=request_now(),
                                 any_owner=_token_admin(), ip=client_ip()):
        return api_error(404, "not_found", f"no live token {tid[:20]} of yours")
    return "", 204
