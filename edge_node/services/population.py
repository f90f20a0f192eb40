"""Population-data access (Luật Căn cước 2023 art 10; product decision 8).

The permission is apart from roles: an admin grants it to a named account,
citing the approving decision (số quyết định) and an end date, and revokes
it the same way. A permitted officer asks for one citizen, for one dossier
and one purpose; the request waits in the outbox for the province (the node
never holds a copy of the population database), and the province's answer
is kept with that dossier only, encrypted with a key from the node home.
Every grant, request, answer, view and refusal is an audit entry, and the
audit chain travels to the province.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import sqlite_utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edge_node.domain.clock import local, to_iso
from edge_node.domain.privacy import mask_birth_date, mask_id
from edge_node.store import audit, outbox
from edge_node.store import dossiers as dossier_store
from edge_node.store import population as store
from edge_node.store import users as users_store
from edge_node.store.db import write_tx

KEY_FILE = "population.key"
LOOKUP_KIND = "population.lookup"
ANSWER_KIND = "population.answer"
STATUS_LABELS = {"queued": "Đang chờ tỉnh trả lời", "found": "Có kết quả",
                 "not_found": "Không tìm thấy", "refused": "Tỉnh từ chối"}


class PopulationError(ValueError):
    """A refused population-data operation; ``message`` is Vietnamese for the UI."""

    def __init__(self, message: str, code: str = "invalid", status: int = 400):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


@dataclass(frozen=True)
class Lookup:
    row: dict
    answer: dict | None = None


# -- the key at rest -----------------------------------------------------------------------

def home_of(db: sqlite_utils.Database) -> Path:
    """The node home: the folder of the open database file."""
    path = db.conn.execute("PRAGMA database_list").fetchone()[2]
    return Path(path).parent


def load_or_create_key(home: Path) -> bytes:
    """The AES-256 key under ``keys/``, created owner-only (0600) on first use."""
    folder = Path(home) / "keys"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != 32:
            raise ValueError(f"{path} is not a 32-byte key") from None
        return key
    key = AESGCM.generate_key(bit_length=256)
    with os.fdopen(fd, "wb") as handle:
        if hasattr(os, "fchmod"):
            os.fchmod(handle.fileno(), 0o600)
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def _seal(db, request_id: str, data: dict) -> str:
    nonce = secrets.token_bytes(12)
    body = AESGCM(load_or_create_key(home_of(db))).encrypt(
        nonce, json.dumps(data, ensure_ascii=False).encode("utf-8"), request_id.encode())
    return base64.b64encode(nonce + body).decode("ascii")


def _open(db, request_id: str, text: str) -> dict:
    raw = base64.b64decode(text)
    plain = AESGCM(load_or_create_key(home_of(db))).decrypt(raw[:12], raw[12:],
                                                           request_id.encode())
    return json.loads(plain)


# -- permission ----------------------------------------------------------------------------

def _today(now: datetime) -> str:
    return local(now).date().isoformat()


def permitted(db: sqlite_utils.Database, user: dict | None, now: datetime) -> bool:
    """True when *user* holds a grant in force today (expired or revoked: False)."""
    return bool(user) and store.active_grant(db, user["id"], _today(now)) is not None


def require(db: sqlite_utils.Database, user: dict, now: datetime, *, what: str,
            obj: str = "", ip: str = "") -> None:
    """Refuse (403, audited) unless *user* may use population data now."""
    if permitted(db, user, now):
        return
    with write_tx(db):
        audit.append(db, at=to_iso(now), actor=user["username"], action="population.denied",
                     obj=obj, detail={"what": what}, ip=ip)
    raise PopulationError("Tài khoản của bạn không được cấp quyền khai thác dữ liệu dân cư "
                          "(hoặc quyền đã hết hạn).", "forbidden", 403)


def _parse_until(text: str, now: datetime) -> str:
    try:
        until = date.fromisoformat((text or "").strip())
    except ValueError:
        raise PopulationError("Ngày hết hạn không hợp lệ (định dạng năm-tháng-ngày).",
                              "bad_until") from None
    if until.isoformat() < _today(now):
        raise PopulationError("Ngày hết hạn đã qua.", "bad_until")
    return until.isoformat()


def grant(db: sqlite_utils.Database, username: str, *, decision: str, until: str,
          actor: str, now: datetime, ip: str = "") -> dict:
    """Grant *username* access until *until* (inclusive), citing the approving decision."""
    decision = " ".join((decision or "").split())
    if not 3 <= len(decision) <= 100:
        raise PopulationError("Phải ghi số quyết định phê duyệt (3–100 ký tự).", "bad_decision")
    valid_until = _parse_until(until, now)
    target = users_store.get_by_username(db, (username or "").strip().lower())
    if target is None:
        raise PopulationError("Không tìm thấy tài khoản.", "not_found", 404)
    if target["disabled"]:
        raise PopulationError("Tài khoản đang bị khóa.", "disabled")
    stamp = to_iso(now)
    with write_tx(db):
        store.insert_grant(db, {"user_id": target["id"], "decision": decision,
                                "valid_until": valid_until, "granted_by": actor,
                                "granted_at": stamp})
        audit.append(db, at=stamp, actor=actor, action="population.grant",
                     obj=target["username"], ip=ip,
                     detail={"decision": decision, "until": valid_until})
    return target


def revoke(db: sqlite_utils.Database, username: str, *, decision: str, actor: str,
           now: datetime, ip: str = "") -> dict:
    """Revoke every open grant of *username*, citing the decision that ends it."""
    decision = " ".join((decision or "").split())
    if not 3 <= len(decision) <= 100:
        raise PopulationError("Phải ghi số quyết định thu hồi (3–100 ký tự).", "bad_decision")
    target = users_store.get_by_username(db, (username or "").strip().lower())
    if target is None:
        raise PopulationError("Không tìm thấy tài khoản.", "not_found", 404)
    stamp = to_iso(now)
    with write_tx(db):
        if not store.revoke_grants(db, target["id"], at=stamp, by=actor, decision=decision):
            raise PopulationError("Tài khoản này không có quyền nào để thu hồi.", "no_grant")
        audit.append(db, at=stamp, actor=actor, action="population.revoke",
                     obj=target["username"], ip=ip, detail={"decision": decision})
    return target


# -- look-ups ------------------------------------------------------------------------------

def request_lookup(db: sqlite_utils.Database, code: str, *, user: dict, purpose: str,
                   now: datetime, birth_date: str = "", ip: str = "") -> dict:
    """Queue one look-up of a dossier's applicant for the province; returns the row."""
    require(db, user, now, what="request", obj=code, ip=ip)
    dossier = dossier_store.get(db, code)
    if dossier is None:
        raise PopulationError("Không tìm thấy hồ sơ.", "not_found", 404)
    purpose = " ".join((purpose or "").split())
    if not 5 <= len(purpose) <= 500:
        raise PopulationError("Phải ghi mục đích tra cứu (5–500 ký tự).", "bad_purpose")
    birth = (birth_date or "").strip()
    if birth:
        try:
            birth = date.fromisoformat(birth).isoformat()
        except ValueError:
            raise PopulationError("Ngày sinh không hợp lệ (định dạng năm-tháng-ngày).",
                                  "bad_birth_date") from None
    request_id = uuid.uuid4().hex
    stamp = to_iso(now)
    row = {"request_id": request_id, "dossier_code": code, "user_id": user["id"],
           "username": user["username"], "purpose": purpose,
           "service_code": dossier["procedure_code"], "id_masked": mask_id(dossier["id_number"]),
           "requested_at": stamp}
    with write_tx(db):
        lookup_id = store.insert_lookup(db, row)
        # The query itself goes to the province (MaHoSo, MaCanBo, MaDVC, purpose).
        outbox.add(db, kind=LOOKUP_KIND, at=stamp, payload={
            "request_id": request_id, "dossier_code": code, "officer": user["username"],
            "purpose": purpose, "service_code": dossier["procedure_code"],
            "query": {"id_number": dossier["id_number"], "full_name": dossier["applicant_name"],
                      "birth_date": birth or None}})
        audit.append(db, at=stamp, actor=user["username"], action="population.request",
                     obj=code, ip=ip, detail={"request_id": request_id, "purpose": purpose,
                                              "id": row["id_masked"],
                                              "birth_date": mask_birth_date(birth)})
    return store.lookup(db, lookup_id)


def apply_answer(db: sqlite_utils.Database, item: dict, now: datetime) -> None:
    """Feed handler for ``population.answer``: keep the answer, encrypted, in its dossier."""
    payload = item["payload"]
    row = store.lookup_by_request(db, str(payload["request_id"]))
    if row is None:
        raise KeyError("no such look-up request")  # recorded as a refused feed item
    if row["status"] != "queued":
        return  # answered already
    found = bool(payload.get("found"))
    status = "found" if found else ("refused" if payload.get("refused") else "not_found")
    citizen = payload.get("citizen") if found else None
    if citizen is not None and not isinstance(citizen, dict):
        raise ValueError("citizen must be an object")
    stamp = to_iso(now)
    store.set_answer(db, row["id"], status=status, at=stamp, answer_ct=_seal(
        db, row["request_id"], {"found": found, "citizen": citizen,
                                "note": str(payload.get("note", ""))[:500]}))
    audit.append(db, at=stamp, actor="province", action="population.answer",
                 obj=row["dossier_code"], detail={"request_id": row["request_id"],
                                                  "status": status})


def lookups(db: sqlite_utils.Database, code: str, *, user: dict, now: datetime,
            ip: str = "") -> list[dict]:
    """The look-ups of one dossier (no answers), for a permitted user."""
    require(db, user, now, what="list", obj=code, ip=ip)
    if dossier_store.get(db, code) is None:
        raise PopulationError("Không tìm thấy hồ sơ.", "not_found", 404)
    return store.lookups_of(db, code)


def view_answer(db: sqlite_utils.Database, code: str, lookup_id: int, *, user: dict,
                now: datetime, ip: str = "") -> Lookup:
    """Decrypt one answer for a permitted user; the view itself is audited."""
    require(db, user, now, what="view", obj=code, ip=ip)
    row = store.lookup(db, lookup_id)
    if row is None or row["dossier_code"] != code:
        raise PopulationError("Không tìm thấy yêu cầu tra cứu của hồ sơ này.", "not_found", 404)
    answer = _open(db, row["request_id"], row["answer_ct"]) if row["answer_ct"] else None
    with write_tx(db):
        audit.append(db, at=to_iso(now), actor=user["username"], action="population.view",
                     obj=code, ip=ip, detail={"request_id": row["request_id"]})
    return Lookup(row, answer)


def monthly_report(db: sqlite_utils.Database) -> list[dict]:
    """Look-ups per account and per month (Vietnam time), newest month first."""
    from edge_node.domain.clock import parse_iso

    table: dict[tuple[str, str], dict] = {}
    for row in store.all_lookups(db):
        month = local(parse_iso(row["requested_at"])).strftime("%Y-%m")
        cell = table.setdefault((month, row["username"]), {
            "month": month, "username": row["username"], "total": 0, "found": 0,
            "not_found": 0, "queued": 0, "refused": 0})
        cell["total"] += 1
        cell[row["status"]] += 1
    by_name = sorted(table.values(), key=lambda c: c["username"])
    return sorted(by_name, key=lambda c: c["month"], reverse=True)
