"""Accounts: creation, login with lockout, password changes, sessions.

Every account answers for what is done with it, so logins, failures and
account changes are audited in the same transaction as the change.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils
from werkzeug.security import check_password_hash, generate_password_hash

from edge_node.domain.clock import parse_iso, to_iso
from edge_node.store import audit
from edge_node.store import users as users_store
from edge_node.store.db import write_tx

ROLES: dict[str, str] = {
    "admin": "Quản trị hệ thống",
    "clerk": "Cán bộ một cửa",
    "officer": "Chuyên viên",
    "leader": "Lãnh đạo",
}
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,31}$")
MIN_PASSWORD = 8
# A fixed hash to check against when the username does not exist, so a wrong
# username costs the same time as a wrong password (no account enumeration).
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")
# Each scrypt hash or check takes ~32 MB of memory (werkzeug's n=2**15, r=8) for ~0.1 s.
# With 8 waitress threads, eight logins at once pushed the node from ~90 MB to ~360 MB
# (bench/bench_node_scale.py); one at a time keeps it near 120 MB on the clerk's PC,
# at the price of a login waiting a fraction of a second behind another.
_SCRYPT_SLOT = threading.Lock()


def _check_password(pwhash: str, password: str) -> bool:
    with _SCRYPT_SLOT:
        return check_password_hash(pwhash, password)


class AccountError(ValueError):
    """A refused account operation; ``message`` is Vietnamese for the UI."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code


SCOPES = ("read", "write", "admin")
DEFAULT_SCOPES = ("read", "write")


@dataclass(frozen=True)
class SessionInfo:
    user: dict
    token_hash: str
    csrf: str
    kind: str
    scopes: frozenset = frozenset(DEFAULT_SCOPES)

    @property
    def token_id(self) -> str:
        return token_id(self.token_hash)


def token_id(token_hash: str) -> str:
    """The public name of a token: the start of its hash (the token itself is never kept)."""
    return token_hash[:16]


def hash_password(password: str) -> str:
    with _SCRYPT_SLOT:
        return generate_password_hash(password, method="scrypt")


def new_password() -> str:
    """A random one-time password easy to read aloud (no 0/O, 1/l)."""
    alphabet = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY3479"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def check_new_password(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"Mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự.", "weak_password")
    if len(password) > 200:
        raise AccountError("Mật khẩu quá dài (tối đa 200 ký tự).", "weak_password")
    if password.lower() == username.lower():
        raise AccountError("Mật khẩu không được trùng tên đăng nhập.", "weak_password")


def create_user(db: sqlite_utils.Database, *, username: str, role: str, now: datetime,
                actor: str, full_name: str = "", password: str | None = None,
                must_change: bool = True, ip: str = "") -> tuple[int, str]:
    """Create an account; returns ``(user_id, password)``.

    Without *password* a random one-time password is made; the user must
    change it at first login.
    """
    username = (username or "").strip().lower()
    if not USERNAME_RE.match(username):
        raise AccountError(
            "Tên đăng nhập chỉ gồm chữ thường không dấu, số, dấu chấm, gạch ngang, "
            "gạch dưới; dài 3–32 ký tự.", "bad_username")
    if role not in ROLES:
        raise AccountError("Vai trò không hợp lệ.", "bad_role")
    full_name = (full_name or "").strip()[:100]
    if password is None:
        password = new_password()
    else:
        check_new_password(password, username)
    stamp = to_iso(now)
    with write_tx(db):
        if users_store.get_by_username(db, username):
            raise AccountError(f"Tên đăng nhập “{username}” đã tồn tại.", "exists")
        user_id = users_store.insert(db, {
            "username": username, "full_name": full_name, "role": role,
            "password_hash": hash_password(password), "must_change_password": int(must_change),
            "created_at": stamp, "updated_at": stamp,
        })
        audit.append(db, at=stamp, actor=actor, action="user.create", obj=username,
                     detail={"role": role}, ip=ip)
    return user_id, password


def authenticate(db: sqlite_utils.Database, username: str, password: str, *, now: datetime,
                 max_failures: int, lockout_minutes: int, ip: str = "") -> dict:
    """Check a login; returns the user row or raises :class:`AccountError`.

    Five wrong passwords in a row lock the account for *lockout_minutes*;
    the failure count and the lock are committed even though login fails.
    """
    username = (username or "").strip().lower()
    stamp = to_iso(now)
    user = users_store.get_by_username(db, username) if username else None
    if user is None:
        _check_password(_DUMMY_HASH, password or "")
        with write_tx(db):
            audit.append(db, at=stamp, actor=username[:50] or "?", action="login.unknown_user",
                         ip=ip)
        raise AccountError("Sai tên đăng nhập hoặc mật khẩu.", "bad_credentials")
    if user["disabled"]:
        with write_tx(db):
            audit.append(db, at=stamp, actor=username, action="login.disabled", ip=ip)
        raise AccountError("Tài khoản đã bị khóa. Liên hệ quản trị hệ thống.", "disabled")
    if user["locked_until"] and parse_iso(user["locked_until"]) > now:
        until = parse_iso(user["locked_until"])
        minutes = max(1, int((until - now).total_seconds() // 60) + 1)
        with write_tx(db):
            audit.append(db, at=stamp, actor=username, action="login.while_locked", ip=ip)
        raise AccountError(
            f"Tài khoản tạm khóa do đăng nhập sai nhiều lần. Thử lại sau {minutes} phút.",
            "locked")
    if not _check_password(user["password_hash"], password or ""):
        # Count inside the write transaction: parallel guesses are serialised and each
        # one counts, so a burst cannot slip past the limit.
        with write_tx(db):
            db.conn.execute("UPDATE users SET failed_logins = failed_logins + 1, updated_at = ?"
                            " WHERE id = ?", (stamp, user["id"]))
            failures = db.conn.execute("SELECT failed_logins FROM users WHERE id = ?",
                                       (user["id"],)).fetchone()[0]
            locked = failures >= max_failures
            if locked:
                users_store.update(db, user["id"], failed_logins=0, locked_until=to_iso(
                    now + timedelta(minutes=lockout_minutes)))
            audit.append(db, at=stamp, actor=username, action="login.failed", ip=ip,
                         detail={"failures": failures})
            if locked:
                audit.append(db, at=stamp, actor=username, action="account.locked_out", ip=ip,
                             detail={"minutes": lockout_minutes})
        if locked:
            raise AccountError(
                f"Đăng nhập sai {max_failures} lần. Tài khoản bị tạm khóa {lockout_minutes} phút.",
                "locked")
        raise AccountError("Sai tên đăng nhập hoặc mật khẩu.", "bad_credentials")
    with write_tx(db):
        current = users_store.get(db, user["id"])
        if current["locked_until"] and parse_iso(current["locked_until"]) > now:
            raise AccountError("Tài khoản tạm khóa do đăng nhập sai nhiều lần. Thử lại sau.",
                               "locked")
        users_store.update(db, user["id"], failed_logins=0, locked_until=None, updated_at=stamp)
        audit.append(db, at=stamp, actor=username, action="login", ip=ip)
    return users_store.get(db, user["id"])


def change_password(db: sqlite_utils.Database, user: dict, old: str, new: str, confirm: str,
                    *, now: datetime, ip: str = "", keep_session: str | None = None) -> None:
    """Change *user*'s password after checking the current one."""
    if not _check_password(user["password_hash"], old or ""):
        raise AccountError("Mật khẩu hiện tại không đúng.", "bad_credentials")
    if new != confirm:
        raise AccountError("Hai lần nhập mật khẩu mới không khớp.", "mismatch")
    if old == new:
        raise AccountError("Mật khẩu mới phải khác mật khẩu hiện tại.", "weak_password")
    check_new_password(new, user["username"])
    stamp = to_iso(now)
    with write_tx(db):
        users_store.update(db, user["id"], password_hash=hash_password(new),
                           must_change_password=0, updated_at=stamp)
        # Whoever knew the old password is logged out everywhere else.
        db.conn.execute("DELETE FROM sessions WHERE user_id = ? AND token_hash != ?",
                        (user["id"], keep_session or ""))
        audit.append(db, at=stamp, actor=user["username"], action="password.change",
                     obj=user["username"], ip=ip)


def set_disabled(db: sqlite_utils.Database, user_id: int, disabled: bool, *, actor: dict,
                 now: datetime, ip: str = "") -> dict:
    """Lock (disable) or unlock an account; unlocking also clears a lockout."""
    target = users_store.get(db, user_id)
    if target is None:
        raise AccountError("Không tìm thấy tài khoản.", "not_found")
    if disabled and target["id"] == actor["id"]:
        raise AccountError("Không thể tự khóa tài khoản của chính mình.", "self_lock")
    if disabled and target["role"] == "admin" and users_store.count_admins(db) <= 1:
        raise AccountError("Không thể khóa quản trị viên cuối cùng.", "last_admin")
    stamp = to_iso(now)
    with write_tx(db):
        users_store.update(db, user_id, disabled=int(disabled), failed_logins=0,
                           locked_until=None, updated_at=stamp)
        if disabled:
            users_store.delete_sessions_of(db, user_id)
        audit.append(db, at=stamp, actor=actor["username"],
                     action="user.lock" if disabled else "user.unlock",
                     obj=target["username"], ip=ip)
    return users_store.get(db, user_id)


def reset_password(db: sqlite_utils.Database, user_id: int, *, actor: dict, now: datetime,
                   ip: str = "") -> str:
    """Give an account a new one-time password (to be changed at next login)."""
    target = users_store.get(db, user_id)
    if target is None:
        raise AccountError("Không tìm thấy tài khoản.", "not_found")
    password = new_password()
    stamp = to_iso(now)
    with write_tx(db):
        users_store.update(db, user_id, password_hash=hash_password(password),
                           must_change_password=1, failed_logins=0, locked_until=None,
                           updated_at=stamp)
        users_store.delete_sessions_of(db, user_id)
        audit.append(db, at=stamp, actor=actor["username"], action="user.reset_password",
                     obj=target["username"], ip=ip)
    return password


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def check_scopes(user: dict, scopes) -> tuple[str, ...]:
    """The scopes asked for a token, refused if unknown or above the account's role."""
    if scopes is None:
        return DEFAULT_SCOPES
    if not isinstance(scopes, list | tuple) or not scopes or not all(
            isinstance(s, str) and s in SCOPES for s in scopes):
        raise AccountError(f"scopes must be a non-empty list of {', '.join(SCOPES)}",
                           "bad_scopes")
    if "admin" in scopes and user["role"] != "admin":
        raise AccountError("the admin scope needs an admin account", "scope_not_allowed")
    return tuple(s for s in SCOPES if s in scopes)


def start_session(db: sqlite_utils.Database, user: dict, *, kind: str, now: datetime,
                  lifetime: timedelta, scopes: tuple[str, ...] | None = None,
                  label: str = "", ip: str = "") -> tuple[str, str]:
    """Open a server-side session; returns ``(token, csrf)``. Only a hash is stored.

    An API token (``kind="api"``) carries *scopes* and a *label* its owner
    recognises in the token list; its creation is audited (never the token).
    """
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    stamp = to_iso(now)
    token_hash = _token_hash(token)
    scope_text = " ".join(scopes or DEFAULT_SCOPES)
    # shown in token lists and the audit log: one NFC line without control characters
    label = "".join(ch for ch in " ".join(unicodedata.normalize("NFC", label or "").split())
                    if unicodedata.category(ch) not in ("Cc", "Cf"))
    with write_tx(db):
        users_store.delete_expired_sessions(db, stamp)
        users_store.insert_session(db, {
            "token_hash": token_hash, "kind": kind, "user_id": user["id"],
            "csrf": csrf, "created_at": stamp, "last_seen_at": stamp,
            "expires_at": to_iso(now + lifetime),
        })
        if kind == "api":
            db.conn.execute("UPDATE sessions SET scopes = ?, label = ? WHERE token_hash = ?",
                            (scope_text, (label or "")[:100], token_hash))
            audit.append(db, at=stamp, actor=user["username"], action="token.create",
                         obj=token_id(token_hash), ip=ip,
                         detail={"scopes": scope_text, "label": (label or "")[:100]})
    return token, csrf


def list_tokens(db: sqlite_utils.Database, *, user: dict, now: datetime,
                everyone: bool = False) -> list[dict]:
    """Live API tokens of *user* (or of every account), newest first, without secrets."""
    sql = ("SELECT s.token_hash, s.created_at, s.last_seen_at, s.expires_at, s.scopes, s.label,"
           " u.username FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.kind = 'api'"
           " AND s.expires_at > ?")
    params: list = [to_iso(now)]
    if not everyone:
        sql += " AND s.user_id = ?"
        params.append(user["id"])
    return [{"id": token_id(r["token_hash"]), "user": r["username"], "label": r["label"],
             "scopes": r["scopes"].split(), "created_at": r["created_at"],
             "expires_at": r["expires_at"]}
            for r in db.query(sql + " ORDER BY s.created_at DESC", params)]


def revoke_token(db: sqlite_utils.Database, tid: str, *, user: dict, now: datetime,
                 any_owner: bool = False, ip: str = "") -> bool:
    """Revoke the API token named *tid*; only its owner's unless *any_owner*."""
    if not isinstance(tid, str) or len(tid) != 16 or any(c not in "0123456789abcdef"
                                                          for c in tid):
        return False
    stamp = to_iso(now)
    with write_tx(db):
        rows = db.conn.execute("SELECT s.token_hash, s.user_id, u.username FROM sessions s"
                               " JOIN users u ON u.id = s.user_id WHERE s.kind = 'api'"
                               " AND substr(s.token_hash, 1, 16) = ?", (tid,)).fetchall()
        rows = [r for r in rows if any_owner or r[1] == user["id"]]
        if len(rows) != 1:
            return False
        users_store.delete_session(db, rows[0][0])
        audit.append(db, at=stamp, actor=user["username"], action="token.revoke", obj=tid,
                     ip=ip, detail={"owner": rows[0][2]})
    return True


def resolve_session(db: sqlite_utils.Database, token: str | None, *, kind: str, now: datetime,
                    idle: timedelta | None) -> SessionInfo | None:
    """Return the live session for *token*, sliding its idle expiry, or None."""
    if not token or len(token) > 200:
        return None
    token_hash = _token_hash(token)
    row = users_store.get_session(db, token_hash)
    if row is None or row["kind"] != kind or parse_iso(row["expires_at"]) <= now:
        return None
    user = users_store.get(db, row["user_id"])
    if user is None or user["disabled"]:
        return None
    if idle is not None and (now - parse_iso(row["last_seen_at"])).total_seconds() > 30:
        # Touch at most every 30 s: a page view should not always be a write.
        with write_tx(db):
            users_store.touch_session(db, token_hash, to_iso(now), to_iso(now + idle))
    scopes = frozenset((row.get("scopes") or " ".join(DEFAULT_SCOPES)).split())
    return SessionInfo(user=user, token_hash=token_hash, csrf=row["csrf"], kind=kind,
                       scopes=scopes)


def end_session(db: sqlite_utils.Database, token_hash: str, *, actor: str, now: datetime,
                ip: str = "") -> None:
    stamp = to_iso(now)
    with write_tx(db):
        users_store.delete_session(db, token_hash)
        audit.append(db, at=stamp, actor=actor, action="logout", ip=ip)
