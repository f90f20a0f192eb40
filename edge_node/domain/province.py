"""Work that comes from the province, as pure functions (no Flask, no SQL).

* :func:`parse_inbound` checks a dossier as the national portal (DVCQG) forwards
  it (interop.md §3.1 field names) and returns the node's fields for it.
* :func:`parse_fact` checks a fact about a dossier (withdrawal or content
  adjustment requested online, online payment, identity verification result).
* :func:`payment_outcome` and :func:`withdrawal_problem` say what a fact does
  to a dossier, or why a person must look at it instead.
* :func:`notification_for` turns an event the applicant should hear about
  (ND 118 art 14, 17.2c, 19.6) into channel + Vietnamese text.
* ``dvcqg_time`` / ``parse_dvcqg_time``: the portal's ``yyyyMMddHHmmss`` in
  Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from edge_node.domain import validation as v
from edge_node.domain.calendar import TZ, WorkCalendar
from edge_node.domain.clock import local, parse_iso, to_iso
from edge_node.domain.text import nfc

#: ND 118 art 17.2(c): the acceptance or supplement notice reaches the applicant
#: no later than 08 working hours after the system received the dossier.
ANSWER_WORKING_MINUTES = 8 * 60
MA_HO_SO_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_]{2,63}$")
MA_TTHC_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-]{2,63}$")
FACT_KINDS = ("withdrawal", "adjustment", "payment", "identity")
IDENTITY_RESULTS = ("verified", "rejected")
IDENTITY_STATUS = {"verified": "da_xac_thuc", "rejected": "khong_khop"}
IDENTITY_LABELS = {"chua_xac_thuc": "Định danh chưa xác thực",
                   "da_xac_thuc": "Đã xác thực định danh",
                   "khong_khop": "Xác thực định danh không khớp"}
CHANNELS = ("sms", "email", "portal")
CHANNEL_LABELS = {"sms": "Tin nhắn SMS", "email": "Thư điện tử",
                  "portal": "Tài khoản Cổng Dịch vụ công quốc gia"}
EVENT_LABELS = {"online_submission": "Nhận hồ sơ trực tuyến từ Cổng DVCQG",
                "province_withdrawal_request": "Công dân yêu cầu rút hồ sơ (trực tuyến)",
                "province_adjustment_request": "Công dân yêu cầu điều chỉnh nội dung (trực tuyến)",
                "province_payment": "Thanh toán trực tuyến",
                "province_identity": "Kết quả xác thực định danh"}
MAX_DOCS = 100
MAX_AMOUNT = 10_000_000_000


class InboundError(ValueError):
    """Refused input: ``errors`` maps DVCQG field names to reasons; ``code`` is stable."""

    def __init__(self, errors: dict[str, str], code: str = "validation_error"):
        super().__init__("; ".join(f"{k}: {m}" for k, m in errors.items()))
        self.errors = errors
        self.code = code


def dvcqg_time(iso: str | None) -> str:
    """``2026-12-07T01:30:00Z`` → ``20261207083000`` (local time), ``""`` for nothing."""
    if not iso:
        return ""
    return f"{local(parse_iso(iso)):%Y%m%d%H%M%S}"


def parse_dvcqg_time(text: object) -> datetime:
    """``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh → aware UTC datetime.

    :raises ValueError: for anything else.
    """
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{14}", text):
        raise ValueError("expected yyyyMMddHHmmss")
    naive = datetime.strptime(text, "%Y%m%d%H%M%S")
    try:
        return naive.replace(tzinfo=TZ).astimezone(UTC)
    except OverflowError:  # 00010101000000 in Vietnam is before year 1 in UTC
        raise ValueError("expected yyyyMMddHHmmss") from None


def answer_due(received: datetime, cal: WorkCalendar) -> datetime:
    """When the applicant must have the acceptance or supplement notice (art 17.2c)."""
    return cal.add_working_minutes(received, ANSWER_WORKING_MINUTES)


def _flag01(body: dict, key: str, errors: dict, *, default: int = 0) -> int:
    value = body.get(key, default)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value not in (0, 1):
        errors[key] = "must be 0 or 1"
        return default
    return value


def _short(body: dict, key: str, errors: dict, limit: int) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[key] = "must be a string"
        return ""
    try:
        text = v._text(value, key)
    except v.FieldError as exc:
        errors[key] = exc.message
        return ""
    if len(text) > limit:
        errors[key] = f"longer than {limit} characters"
    return text[:limit]


def parse_inbound(body: object, *, now: datetime) -> dict:
    """Check an online dossier forwarded by DVCQG; return its cleaned fields.

    Required: ``commune_code`` (5 digits), ``MaHoSo``, ``MaTTHC``, ``ChuHoSo``,
    ``SoGiayToChuHoSo``, ``NgayNopHoSo`` (``yyyyMMddHHmmss``, not in the future),
    ``TaiKhoanDuocXacThucVoiVNeID`` = 1 (since 2025 a citizen submits only after a
    VNeID login) and, when given, ``TrangThaiHoSo`` = 1 and ``KenhThucHien`` = 2.

    :raises InboundError: with every bad field at once.
    """
    if not isinstance(body, dict):
        raise InboundError({"body": "must be a JSON object"}, "bad_request")
    errors: dict[str, str] = {}
    out: dict = {}
    commune = body.get("commune_code")
    if not isinstance(commune, str) or not re.fullmatch(r"[0-9]{5}", commune.strip()):
        errors["commune_code"] = "must be a 5-digit 2025 commune code"
    else:
        out["commune_code"] = commune.strip()
    for key, pattern in (("MaHoSo", MA_HO_SO_RE), ("MaTTHC", MA_TTHC_RE)):
        value = body.get(key)
        if not isinstance(value, str) or not pattern.match(value.strip()):
            errors[key] = "missing or malformed (letters, digits, . - _; 3 to 64 characters)"
        else:
            out[key] = value.strip()
    try:
        out["ChuHoSo"] = v.full_name(body.get("ChuHoSo"))
    except v.FieldError as exc:
        errors["ChuHoSo"] = exc.message
    try:
        out["SoGiayToChuHoSo"], out["id_type"] = v.id_number(body.get("SoGiayToChuHoSo"))
    except v.FieldError as exc:
        errors["SoGiayToChuHoSo"] = exc.message
    out["SoDienThoai"] = ""
    if body.get("SoDienThoai") not in (None, ""):
        try:
            out["SoDienThoai"] = v.phone(body.get("SoDienThoai"))
        except v.FieldError as exc:
            errors["SoDienThoai"] = exc.message
    try:
        out["Email"] = v.email(body.get("Email"))
    except v.FieldError as exc:
        errors["Email"] = exc.message
    try:
        submitted = parse_dvcqg_time(body.get("NgayNopHoSo"))
        if (submitted - now).total_seconds() > 300:
            errors["NgayNopHoSo"] = "is in the future"
        out["submitted_at"] = to_iso(submitted)
    except ValueError:
        errors["NgayNopHoSo"] = "must be yyyyMMddHHmmss (Asia/Ho_Chi_Minh)"
    status = body.get("TrangThaiHoSo", "1")
    if str(status) != "1":
        errors["TrangThaiHoSo"] = "an inbound dossier must have DVCQG status 1 (Mới đăng ký)"
    channel = body.get("KenhThucHien", "2")
    if str(channel) != "2":
        errors["KenhThucHien"] = "an inbound dossier is an online one (KenhThucHien 2)"
    if _flag01(body, "TaiKhoanDuocXacThucVoiVNeID", errors) != 1 and \
            "TaiKhoanDuocXacThucVoiVNeID" not in errors:
        errors["TaiKhoanDuocXacThucVoiVNeID"] = "the applicant's identity must be VNeID-verified"
    out["HinhThuc"] = _flag01(body, "HinhThuc", errors)
    out["DuocThanhToanTrucTuyen"] = _flag01(body, "DuocThanhToanTrucTuyen", errors)
    out["TrichYeuHoSo"] = _short(body, "TrichYeuHoSo", errors, 1000)
    out["MaDoiTuong"] = _short(body, "MaDoiTuong", errors, 64)
    out["TenTTHC"] = _short(body, "TenTTHC", errors, 500)
    out["DiaChi"] = _short(body, "DiaChi", errors, 300)
    docs = body.get("TaiLieuNop", [])
    names: list[dict] = []
    if not isinstance(docs, list) or len(docs) > MAX_DOCS:
        errors["TaiLieuNop"] = f"must be a list of at most {MAX_DOCS} documents"
    else:
        for i, doc in enumerate(docs):
            name = doc.get("TenTepDinhKem") if isinstance(doc, dict) else None
            if not isinstance(name, str) or not nfc(name).strip() or len(name) > 500:
                errors["TaiLieuNop"] = f"document {i + 1} has no TenTepDinhKem"
                break
            # the names end up on the clerk's screen and in receipts: no control or
            # invisible characters, and the two codes are short strings (or numbers)
            doc_errors: dict[str, str] = {}
            clean = {"TenTepDinhKem": _short(doc, "TenTepDinhKem", doc_errors, 500).strip()}
            for key in ("MaThanhPhanHoSo", "TepDinhKemId"):
                value = doc.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    value = str(value)
                clean[key] = _short({key: value}, key, doc_errors, 64)
            if doc_errors:
                key, why = next(iter(doc_errors.items()))
                errors["TaiLieuNop"] = f"document {i + 1}: {key} {why}"
                break
            names.append(clean)
    out["TaiLieuNop"] = names
    if errors:
        raise InboundError(errors)
    return out


def parse_fact(body: object) -> dict:
    """Check a fact from the province about one dossier.

    ``{kind, MaHoSo | dossier_code, ...}`` where kind is ``withdrawal`` /
    ``adjustment`` (``reason``), ``payment`` (``amount_vnd`` integer đồng,
    ``transaction_id``) or ``identity`` (``result`` verified/rejected, ``reason``).

    :raises InboundError: with every bad field.
    """
    if not isinstance(body, dict):
        raise InboundError({"body": "must be a JSON object"}, "bad_request")
    errors: dict[str, str] = {}
    kind = body.get("kind")
    if kind not in FACT_KINDS:
        raise InboundError({"kind": f"must be one of {', '.join(FACT_KINDS)}"})
    out: dict = {"kind": kind}
    national, code = body.get("MaHoSo"), body.get("dossier_code")
    if national is not None:
        if not isinstance(national, str) or not MA_HO_SO_RE.match(national.strip()):
            errors["MaHoSo"] = "malformed"
        else:
            out["MaHoSo"] = national.strip()
    if code is not None:
        if not isinstance(code, str) or not MA_HO_SO_RE.match(code.strip()):
            errors["dossier_code"] = "malformed"
        else:
            out["dossier_code"] = code.strip()
    if national is None and code is None:
        errors["MaHoSo"] = "name the dossier: MaHoSo (national code) or dossier_code"
    if kind in ("withdrawal", "adjustment"):
        out["reason"] = _short(body, "reason", errors, 2000)
        if not out["reason"] and "reason" not in errors:
            errors["reason"] = "required"
    elif kind == "payment":
        amount = body.get("amount_vnd")
        if isinstance(amount, bool) or not isinstance(amount, int) or not (
                0 < amount <= MAX_AMOUNT):
            errors["amount_vnd"] = "must be a positive integer number of đồng"
        out["amount_vnd"] = amount
        txn = body.get("transaction_id")
        if not isinstance(txn, str) or not re.fullmatch(r"[0-9A-Za-z.\-_:]{3,64}", txn.strip()):
            errors["transaction_id"] = "required (letters, digits, . - _ :; 3 to 64 characters)"
        else:
            out["transaction_id"] = txn.strip()
    else:
        if body.get("result") not in IDENTITY_RESULTS:
            errors["result"] = "must be verified or rejected"
        out["result"] = body.get("result")
        out["reason"] = _short(body, "reason", errors, 500)
    if errors:
        raise InboundError(errors)
    return out


class FactProblem(ValueError):
    """The fact cannot be applied by itself: a person must look at it (Vietnamese reason)."""

    def __init__(self, reason: str, code: str):
        super().__init__(reason)
        self.reason = reason
        self.code = code


def _vnd(n: int) -> str:
    return f"{n:,}".replace(",", ".") + " đồng"


def withdrawal_problem(dossier: dict, history: list[dict]) -> FactProblem | None:
    """Why an online withdrawal request cannot go to the clerk as such (ND 118 art 21)."""
    from edge_node.domain.lifecycle import DECIDED, OPEN_STATES

    decided = dossier["status"] in DECIDED or any(
        e.get("type") in ("complete", "reject") for e in history)
    if decided:
        return FactProblem("Công dân yêu cầu rút hồ sơ sau khi đã có kết quả hoặc quyết định "
                           "giải quyết: không áp dụng, cần người xem xét.", "withdrawal_after_"
                           "decision")
    if dossier["status"] not in OPEN_STATES:
        return FactProblem("Công dân yêu cầu rút hồ sơ nhưng hồ sơ đã kết thúc "
                           f"(trạng thái {dossier['status']}): không áp dụng.", "dossier_closed")
    return None


def payment_outcome(dossier: dict, history: list[dict], amount: int, txn: str) -> str:
    """What an online payment settles: ``"obligation"`` or ``"fee"``.

    :raises FactProblem: a payment already recorded, or an amount that matches
        nothing the applicant owes (the reason says what was expected).
    """
    for event in history:
        if (event.get("payload", {}).get("data", {}) or {}).get("transaction_id") == txn:
            raise FactProblem(f"Giao dịch {txn} đã được ghi nhận trước đó.", "duplicate_payment")
    if dossier["status"] == "CHO_NGHIA_VU_TAI_CHINH" and dossier.get("payment_due_vnd"):
        if amount == dossier["payment_due_vnd"]:
            return "obligation"
        raise FactProblem(f"Số tiền thanh toán trực tuyến {_vnd(amount)} khác số phải nộp "
                          f"{_vnd(dossier['payment_due_vnd'])}.", "wrong_amount")
    outstanding = (dossier.get("fee_vnd") or 0) - (dossier.get("fee_paid_vnd") or 0)
    if outstanding <= 0:
        raise FactProblem(f"Nhận thanh toán trực tuyến {_vnd(amount)} nhưng hồ sơ không còn "
                          "khoản phải nộp.", "nothing_due")
    if amount != outstanding:
        raise FactProblem(f"Số tiền thanh toán trực tuyến {_vnd(amount)} khác phí, lệ phí "
                          f"còn phải nộp {_vnd(outstanding)}.", "wrong_amount")
    return "fee"


# -- notifications (ND 118 art 14, 17.2c, 19.5, 19.6, 22) ---------------------------------

TEMPLATES = {
    "accept": "Hồ sơ {national} ({procedure}) của Ông/Bà {name} đã được tiếp nhận lúc {at}. "
              "Hẹn trả kết quả: {due}. Mã hồ sơ: {code}.",
    "request_supplement": "Hồ sơ {national} ({procedure}) cần bổ sung, hoàn thiện: {items}. "
                          "Lý do: {reason}. Đề nghị Ông/Bà bổ sung một lần, đầy đủ.",
    "extend": "Chúng tôi thành thật xin lỗi Ông/Bà {name}: hồ sơ {national} ({procedure}) chưa "
              "giải quyết kịp hạn {previous} vì {reason}. Thời hạn mới: {due}.",
    "complete": "Hồ sơ {national} ({procedure}) đã có kết quả. Ông/Bà nhận kết quả theo "
                "hình thức đã đăng ký ({method}).",
    "reject": "Hồ sơ {national} ({procedure}) đã có kết quả: không đủ điều kiện giải quyết "
              "({reason}). Ông/Bà nhận văn bản trả lời theo hình thức đã đăng ký.",
    "refuse": "Hồ sơ {national} ({procedure}) không được tiếp nhận. Lý do: {reason}.",
    "return_result": "Kết quả hồ sơ {national} ({procedure}) đã được gửi qua bưu chính, "
                     "số vận đơn {waybill}.",
}
NOTIFY_EVENTS = tuple(TEMPLATES)
METHOD_WORDS = {"counter": "tại Bộ phận Một cửa", "postal": "qua bưu chính",
                "online": "trực tuyến trên Cổng Dịch vụ công quốc gia"}


def _vn_time(iso: str | None) -> str:
    return f"{local(parse_iso(iso)):%H:%M ngày %d/%m/%Y}" if iso else ""


def notification_for(dossier: dict, event_type: str, data: dict) -> tuple[str, str, str] | None:
    """``(channel, recipient, text)`` for an event the applicant should hear about, or None.

    Online dossiers are answered through the applicant's national-portal account;
    others by SMS, else e-mail. A counter acceptance needs none (the applicant holds
    the receipt), nor a result handed over at the counter.
    """
    if event_type not in TEMPLATES:
        return None
    online = dossier.get("channel") == 2
    if event_type in ("accept", "refuse") and not online:
        return None  # at the counter the applicant holds Mẫu 01 / Mẫu 03
    if event_type == "return_result" and data.get("channel") != "postal":
        return None
    if online:
        channel, recipient = "portal", dossier.get("online_account") or dossier.get(
            "national_code") or dossier["code"]
    elif dossier.get("phone"):
        channel, recipient = "sms", dossier["phone"]
    elif dossier.get("email"):
        channel, recipient = "email", dossier["email"]
    else:
        return None
    text = TEMPLATES[event_type].format(
        national=dossier.get("national_code") or dossier["code"], code=dossier["code"],
        procedure=dossier.get("procedure_name", ""), name=dossier.get("applicant_name", ""),
        at=_vn_time(dossier.get("received_at")), due=_vn_time(dossier.get("due_at")),
        items="; ".join(data.get("items") or []), reason=data.get("reason") or data.get(
            "note") or "", previous=_vn_time(data.get("previous_due_at")),
        method=METHOD_WORDS.get(dossier.get("return_method", ""), ""),
        waybill=data.get("waybill_no", ""))
    return channel, recipient, nfc(text)
