"""The dossier state machine (ND 118/2025 arts 16–24), as pure functions.

:func:`decide` takes the dossier's current projection, an action and its
parameters, and either refuses with a reason (:class:`TransitionError`) or
returns a :class:`Decision`: the event to append, the projection fields it
sets, and the clock fact it adds. The projection is rebuilt by folding those
``set`` dicts in order (:func:`rebuild`), so events stay the truth.

States and transitions follow ``shared/data/reference/dossier_states.csv``
and ``dossier_transitions.csv``; every state maps to exactly one DVCQG
``TrangThaiHoSo`` (domain decision 9).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from edge_node.domain.calendar import TZ, WorkCalendar
from edge_node.domain.clock import local, parse_iso, to_iso
from edge_node.domain.deadlines import (
    ClockEvent,
    DeadlineError,
    check_extension,
    clock_state,
    due_at,
    step_deadlines,
)
from edge_node.domain.text import nfc

# state: (Vietnamese label, DVCQG TrangThaiHoSo, open for work)
STATES: dict[str, tuple[str, int, bool]] = {
    "NHAP": ("Nháp (đang nhập tại quầy)", 1, True),
    "CHO_TIEP_NHAN": ("Chờ tiếp nhận", 1, True),
    "HUONG_DAN_BO_SUNG": ("Đã hướng dẫn bổ sung (chưa tiếp nhận)", 5, False),
    "TU_CHOI_TIEP_NHAN": ("Từ chối tiếp nhận", 3, False),
    "DA_TIEP_NHAN": ("Đã tiếp nhận", 2, True),
    "DANG_XU_LY": ("Đang xử lý", 4, True),
    "CHO_BO_SUNG": ("Chờ bổ sung", 5, True),
    "CHO_NGHIA_VU_TAI_CHINH": ("Chờ thực hiện nghĩa vụ tài chính", 6, True),
    "DUNG_XU_LY": ("Dừng xử lý", 8, False),
    "DA_RUT": ("Đã rút hồ sơ (dừng theo yêu cầu)", 7, False),
    "KHONG_DU_DIEU_KIEN": ("Không đủ điều kiện giải quyết (chờ trả phiếu từ chối)", 9, True),
    "DA_XU_LY_XONG": ("Đã có kết quả (chờ trả)", 9, True),
    "DA_TRA_KET_QUA": ("Đã trả kết quả", 10, False),
    "DA_DONG": ("Đã đóng (quá hạn bổ sung)", 8, False),
    "HUY_NHAP_SAI": ("Đã hủy do nhập sai", 3, False),
}
OPEN_STATES = tuple(s for s, (_, _, is_open) in STATES.items() if is_open)
# A decision or result exists from here on: no withdrawal any more (ND 118 art 21).
DECIDED = ("KHONG_DU_DIEU_KIEN", "DA_XU_LY_XONG", "DA_TRA_KET_QUA")

PROCESSING_ROLES = ("officer", "leader")
# action: (states it may start from, roles allowed, Vietnamese name)
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "accept": (("NHAP", "CHO_TIEP_NHAN"), ("clerk",), "Tiếp nhận hồ sơ"),
    "refuse": (("NHAP", "CHO_TIEP_NHAN"), ("clerk",), "Từ chối tiếp nhận"),
    "request_supplement": (("NHAP", "CHO_TIEP_NHAN", "DANG_XU_LY"),
                           ("clerk", "officer", "leader"), "Yêu cầu bổ sung hồ sơ"),
    "transfer": (("DA_TIEP_NHAN",), ("clerk",), "Chuyển xử lý"),
    "handover": (("DANG_XU_LY",), PROCESSING_ROLES, "Chuyển bước xử lý"),
    "receive_supplement": (("CHO_BO_SUNG",), ("clerk",), "Nhận hồ sơ bổ sung"),
    "close": (("CHO_BO_SUNG",), ("clerk",), "Đóng hồ sơ quá hạn bổ sung"),
    "request_payment": (("DANG_XU_LY",), PROCESSING_ROLES, "Yêu cầu thực hiện nghĩa vụ tài chính"),
    "record_payment": (("CHO_NGHIA_VU_TAI_CHINH", "DA_TIEP_NHAN", "DANG_XU_LY", "CHO_BO_SUNG",
                        "DA_XU_LY_XONG"), ("clerk",), "Ghi nhận nộp phí, lệ phí"),
    "withdraw": (("CHO_TIEP_NHAN", "DA_TIEP_NHAN", "DANG_XU_LY", "CHO_BO_SUNG",
                  "CHO_NGHIA_VU_TAI_CHINH"), ("clerk",), "Công dân rút hồ sơ"),
    "stop": (("DANG_XU_LY",), ("leader",), "Dừng xử lý"),
    "extend": (("DANG_XU_LY",), ("leader",), "Gia hạn thời gian giải quyết"),
    "reject": (("DANG_XU_LY",), ("leader",), "Từ chối giải quyết (không đủ điều kiện)"),
    "complete": (("DANG_XU_LY",), ("leader",), "Ký, phát hành kết quả"),
    "return_result": (("DA_XU_LY_XONG", "KHONG_DU_DIEU_KIEN"), ("clerk",), "Trả kết quả"),
    "correct": (("DA_TRA_KET_QUA",), ("clerk",), "Đính chính kết quả sai sót"),
    "void": (("DA_TIEP_NHAN",), ("clerk",), "Hủy do nhập sai"),
    # A content adjustment (or a withdrawal the clerk will not apply) asked online:
    # the clerk records how it was handled, and the request leaves the dossier's notice.
    "resolve_request": (OPEN_STATES, ("clerk",), "Đã xử lý yêu cầu của công dân"),
}
SUPPLEMENT_NOTICE_WORKING_DAYS = 3  # ND 118 art 19.5
SUPPLEMENT_CLOSE_DAYS = 15  # ND 118 art 19.5 ("15 ngày")
CORRECTION_WORKING_DAYS = 3  # ND 118 art 23.1
TRANSFER_CUTOFF_HOUR = 15  # ND 118 art 18.2
MAX_TEXT = 2000
RETURN_CHANNELS = ("counter", "postal", "online")


class TransitionError(ValueError):
    """The action is refused; ``message`` is Vietnamese, ``status`` the HTTP status."""

    def __init__(self, message: str, code: str = "illegal_transition", status: int = 409):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Step:
    """One step of the internal process (quy trình nội bộ)."""

    name: str
    role: str
    minutes: int


@dataclass
class Decision:
    """What an accepted action produces."""

    type: str
    set: dict
    data: dict = field(default_factory=dict)
    clock: dict | None = None  # a ClockEvent as JSON, if the action matters to the clock


def label(state: str) -> str:
    return STATES[state][0]


def dvcqg_status(state: str) -> int:
    return STATES[state][1]


def default_steps(total_minutes: int) -> list[Step]:
    """A sensible internal process when the province gave none.

    One-stop receives and transfers (0.5 day), the officer appraises, the
    leader signs (up to 1 day), the One-stop returns; the steps sum to the
    legal limit.
    """
    total = max(int(total_minutes), 4)
    receive = min(240, total // 8)
    sign = min(480, total // 8)
    give_back = min(240, total // 16)
    appraise = total - receive - sign - give_back
    return [Step("Bộ phận Một cửa tiếp nhận, chuyển hồ sơ", "clerk", receive),
            Step("Chuyên viên thẩm định, trình ký", "officer", appraise),
            Step("Lãnh đạo ký duyệt, phát hành kết quả", "leader", sign),
            Step("Bộ phận Một cửa trả kết quả", "clerk", give_back)]


def steps_with_deadlines(steps: list[Step], start: datetime, cal: WorkCalendar) -> list[dict]:
    """Steps as stored on the dossier, each with its cumulative deadline."""
    deadlines = step_deadlines(start, [s.minutes for s in steps], cal)
    return [{"name": s.name, "role": s.role, "minutes": s.minutes, "due_at": to_iso(d)}
            for s, d in zip(steps, deadlines, strict=True)]


def transfer_due(received: datetime, cal: WorkCalendar) -> datetime:
    """When a paper dossier must reach the processing agency (ND 118 art 18.2).

    The same working day, or the start of the next working day when received
    after 15:00; "start" is read as the end of that day's first session.
    """
    local_received = received.astimezone(TZ)
    day = cal.effective_start(received).astimezone(TZ).date()
    if day == local_received.date() and local_received.hour >= TRANSFER_CUTOFF_HOUR:
        day = cal.next_working_day(day)
    if day == local_received.date():
        return cal.end_of_working_day(day)
    first = cal.sessions_on(day)[0]
    return datetime.combine(day, first.end, tzinfo=TZ).astimezone(UTC)


def _text(params: dict, key: str, *, required: bool, what: str) -> str:
    value = params.get(key)
    text = nfc(value) if isinstance(value, str) else ""
    if required and not text:
        raise TransitionError(f"Chưa nhập {what}.", "missing_" + key, 400)
    if len(text) > MAX_TEXT:
        raise TransitionError(f"{what[0].upper() + what[1:]} quá dài (tối đa {MAX_TEXT} ký tự).",
                              "too_long", 400)
    return text


def _items(params: dict) -> list[str]:
    raw = params.get("items")
    if isinstance(raw, str):
        raw = [line for line in raw.splitlines()]
    if not isinstance(raw, list):
        raw = []
    items = [nfc(x) for x in raw if isinstance(x, str) and nfc(x)]
    if not items:
        raise TransitionError("Phải liệt kê đầy đủ, một lần, các nội dung cần bổ sung.",
                              "missing_items", 400)
    if len(items) > 50 or any(len(x) > 500 for x in items):
        raise TransitionError("Danh sách nội dung bổ sung quá dài.", "too_long", 400)
    return items


def _money(params: dict, key: str, what: str, *, positive: bool) -> int:
    value = params.get(key)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise TransitionError(f"{what} phải là số nguyên (đồng).", "bad_amount", 400)
    if value < 0 or (positive and value == 0):
        raise TransitionError(f"{what} không được âm{' hoặc bằng 0' if positive else ''}.",
                              "bad_amount", 400)
    if value > 10_000_000_000:
        raise TransitionError(f"{what} quá lớn.", "bad_amount", 400)
    return value


def _limit(dossier: dict) -> tuple[int | None, str]:
    value, unit = dossier["time_limit_value"], dossier["time_limit_unit"]
    if unit == "same_day":
        return None, unit
    return int(value), unit


def _clock(dossier: dict, events: list[ClockEvent], cal: WorkCalendar, now: datetime,
           procedure: dict):
    value, unit = _limit(dossier)
    return clock_state(events, value, unit, cal, now,
                       supplement_model=procedure.get("supplement_model") or "restart",
                       payment_pauses=bool(procedure.get("payment_pauses")))


def _ce(kind: str, now: datetime, new_due: datetime | None = None) -> dict:
    out = {"kind": kind, "at": to_iso(now)}
    if new_due is not None:
        out["new_due_at"] = to_iso(new_due)
    return out


def clock_events(history: list[dict]) -> list[ClockEvent]:
    """The ClockEvents recorded in a dossier's event payloads, in order."""
    out = []
    for event in history:
        c = event.get("payload", {}).get("clock")
        if c:
            out.append(ClockEvent(c["kind"], parse_iso(c["at"]),
                                  parse_iso(c["new_due_at"]) if c.get("new_due_at") else None))
    return out


def _check_actor(dossier: dict, action: str, actor: dict, users: dict | None = None) -> None:
    if action not in ACTIONS:
        raise TransitionError(f"Thao tác không tồn tại: {action}.", "unknown_action", 400)
    from_states, roles, name = ACTIONS[action]
    state = dossier["status"]
    if state not in from_states:
        raise TransitionError(
            f"Không thể “{name}” khi hồ sơ đang ở trạng thái “{label(state)}”.")
    if action == "handover" or (action == "complete" and dossier.get("steps")):
        step = current_step(dossier)
        if step and actor["role"] != step["role"]:
            raise TransitionError(
                f"Bước hiện tại (“{step['name']}”) do vai trò khác thực hiện.", "forbidden", 403)
    if actor["role"] not in roles:
        raise TransitionError(f"Vai trò của bạn không được “{name}”.", "forbidden", 403)
    assignee = dossier.get("assignee_id")
    holder_user = (users or {}).get(dossier.get("assignee") or "")
    holder_gone = holder_user is not None and bool(holder_user.get("disabled"))
    if action in ("handover", "complete", "reject", "request_supplement",
                  "request_payment") and state == "DANG_XU_LY" and assignee not in (
                      None, actor["id"]) and not holder_gone:
        holder = dossier.get("assignee") or "người khác"
        raise TransitionError(f"Hồ sơ đang được giao cho {holder}.", "not_assignee", 403)


def current_step(dossier: dict) -> dict | None:
    steps = dossier.get("steps") or []
    index = dossier.get("current_step") or 0
    return steps[index] if 0 <= index < len(steps) else None


def _assign(params: dict, candidates: dict, role: str) -> tuple[int | None, str]:
    """Resolve ``to_user`` (a username) among *candidates* of the next step's role."""
    wanted = params.get("to_user")
    if not wanted:
        return None, ""
    user = candidates.get(str(wanted).strip().lower())
    if user is None or user["role"] != role or user.get("disabled"):
        raise TransitionError(f"Không có tài khoản “{wanted}” với vai trò phù hợp để nhận hồ sơ.",
                              "bad_assignee", 400)
    return user["id"], user["username"]


def decide(dossier: dict, history: list[dict], action: str, params: dict, *, actor: dict,
           now: datetime, cal: WorkCalendar, procedure: dict,
           users: dict | None = None) -> Decision:
    """Check *action* on *dossier* and return what it changes.

    :param history: the dossier's events so far (dicts with ``payload``).
    :param actor: the acting user (``id``, ``username``, ``role``).
    :param procedure: catalog settings (``supplement_model``, ``payment_pauses``).
    :param users: accounts by username, for handing a dossier to a named person.
    :raises TransitionError: with the reason, when the action is not allowed.
    """
    params = params if isinstance(params, dict) else {}
    _check_actor(dossier, action, actor, users)
    state = dossier["status"]
    stamp = to_iso(now)
    events = clock_events(history)
    users = users or {}

    def with_clock(kind: str, **extra) -> tuple[dict, dict]:
        clock = _ce(kind, now, extra.get("new_due"))
        if dossier.get("correction_count"):
            # after a correction the 3-working-day clock is set directly; only an
            # extension moves it
            return clock, ({"due_at": to_iso(extra["new_due"])} if extra.get("new_due") else {})
        try:
            state_ = _clock(dossier, events + [clock_events([{"payload": {"clock": clock}}])[0]],
                            cal, now, procedure)
        except DeadlineError as exc:
            raise TransitionError(f"Không tính được thời hạn: {exc}", "clock_error") from None
        return clock, {"due_at": to_iso(state_.due_at)}

    if action == "transfer":
        steps = dossier.get("steps") or []
        nxt = 1 if len(steps) > 1 else 0
        role = steps[nxt]["role"] if steps else "officer"
        assignee_id, assignee = _assign(params, users, role)
        return Decision(action, {"status": "DANG_XU_LY", "current_step": nxt,
                                 "assignee_id": assignee_id, "assignee": assignee,
                                 "transferred_at": stamp},
                        {"note": _text(params, "note", required=False, what="ghi chú"),
                         "from_step": 0, "to_step": nxt, "to_user": assignee})

    if action == "handover":
        steps = dossier.get("steps") or []
        index = dossier.get("current_step") or 0
        nxt = index + 1
        if nxt >= len(steps) - 1 or steps[nxt]["role"] not in PROCESSING_ROLES:
            raise TransitionError("Đây là bước ký duyệt cuối: hãy dùng “Ký, phát hành kết quả” "
                                  "hoặc “Từ chối giải quyết”.", "last_step")
        assignee_id, assignee = _assign(params, users, steps[nxt]["role"])
        return Decision(action, {"current_step": nxt, "assignee_id": assignee_id,
                                 "assignee": assignee},
                        {"note": _text(params, "note", required=False, what="ghi chú"),
                         "from_step": index, "to_step": nxt, "to_user": assignee})

    if action == "request_supplement":
        items = _items(params)
        reason = _text(params, "reason", required=True, what="lý do")
        if state in ("NHAP", "CHO_TIEP_NHAN"):
            # Before acceptance: guidance (Mẫu 02), no clock and no dossier code.
            return Decision(action, {"status": "HUONG_DAN_BO_SUNG", "supplement_items": items,
                                     "reason": reason, "supplement_requested_at": stamp},
                            {"items": items, "reason": reason, "form": "mau02"})
        if dossier.get("supplement_count", 0) >= 1:
            raise TransitionError("Chỉ được yêu cầu bổ sung một lần, đầy đủ (ND 118 điều 19.5).",
                                  "supplement_twice")
        received = parse_iso(dossier["received_effective_at"])
        limit = cal.add_working_minutes(received, SUPPLEMENT_NOTICE_WORKING_DAYS * 480)
        if now > limit:
            raise TransitionError(
                "Quá 03 ngày làm việc kể từ ngày tiếp nhận: không được yêu cầu bổ sung "
                "(ND 118 điều 19.5).", "supplement_too_late")
        clock, due = with_clock("supplement_requested")
        close_at = now + timedelta(days=SUPPLEMENT_CLOSE_DAYS)
        return Decision(action, {"status": "CHO_BO_SUNG", "supplement_items": items,
                                 "reason": reason, "supplement_requested_at": stamp,
                                 "supplement_close_at": to_iso(close_at),
                                 "supplement_count": dossier.get("supplement_count", 0) + 1,
                                 **due},
                        {"items": items, "reason": reason, "form": "mau02"}, clock)

    if action == "receive_supplement":
        clock, due = with_clock("supplement_received")
        return Decision(action, {"status": "DANG_XU_LY", "supplement_received_at": stamp, **due},
                        {"note": _text(params, "note", required=False, what="ghi chú")}, clock)

    if action == "close":
        close_at = parse_iso(dossier["supplement_close_at"])
        if now < close_at:
            raise TransitionError(
                f"Chưa hết hạn bổ sung (hết hạn {_vn(close_at)}).", "too_early")
        clock, due = with_clock("stopped")
        return Decision(action, {"status": "DA_DONG", "closed_at": stamp, **due},
                        {"reason": "Quá hạn bổ sung hồ sơ"}, clock)

    if action == "request_payment":
        amount = _money(params, "amount_vnd", "Số tiền", positive=True)
        what = _text(params, "description", required=True, what="nội dung nghĩa vụ tài chính")
        clock, due = with_clock("payment_requested")
        return Decision(action, {"status": "CHO_NGHIA_VU_TAI_CHINH", "payment_due_vnd": amount,
                                 "payment_requested_at": stamp, **due},
                        {"amount_vnd": amount, "description": what}, clock)

    if action == "record_payment":
        amount = _money(params, "amount_vnd", "Số tiền", positive=True)
        receipt = _text(params, "receipt_no", required=True, what="số biên lai")[:50]
        if state == "CHO_NGHIA_VU_TAI_CHINH":
            if amount != dossier.get("payment_due_vnd"):
                raise TransitionError(
                    f"Số tiền phải bằng số đã yêu cầu ({dossier.get('payment_due_vnd')} đồng).",
                    "wrong_amount", 400)
            clock, due = with_clock("payment_received")
            return Decision(action, {"status": "DANG_XU_LY", "payment_due_vnd": 0,
                                     "obligation_paid_vnd": (dossier.get("obligation_paid_vnd")
                                                             or 0) + amount,
                                     "obligation_receipt_no": receipt, **due},
                            {"amount_vnd": amount, "receipt_no": receipt, "kind": "obligation"},
                            clock)
        outstanding = (dossier.get("fee_vnd") or 0) - (dossier.get("fee_paid_vnd") or 0)
        if outstanding <= 0:
            raise TransitionError("Hồ sơ không còn phí, lệ phí phải nộp.", "nothing_due")
        if amount != outstanding:
            raise TransitionError(f"Số tiền phải bằng phí, lệ phí còn phải nộp "
                                  f"({outstanding} đồng).", "wrong_amount", 400)
        return Decision(action, {"fee_paid_vnd": (dossier.get("fee_paid_vnd") or 0) + amount,
                                 "fee_receipt_no": receipt, "payment_status": "paid"},
                        {"amount_vnd": amount, "receipt_no": receipt, "kind": "fee"})

    if action == "withdraw":
        if dossier.get("correction_count") or any(
                e.get("type") in ("complete", "reject") for e in history):
            raise TransitionError("Đã có quyết định hoặc kết quả giải quyết: không được rút hồ sơ "
                                  "(ND 118 điều 21).")
        reason = _text(params, "reason", required=True, what="lý do rút hồ sơ")
        clock, due = with_clock("withdrawn") if state != "CHO_TIEP_NHAN" else (None, {})
        return Decision(action, {"status": "DA_RUT", "withdrawn_at": stamp, "reason": reason,
                                 "pending_request": "", **due},
                        {"reason": reason, "form": "mau05"}, clock)

    if action == "stop":
        reason = _text(params, "reason", required=True, what="lý do dừng xử lý")
        clock, due = with_clock("stopped")
        return Decision(action, {"status": "DUNG_XU_LY", "stopped_at": stamp, "reason": reason,
                                 **due}, {"reason": reason, "form": "mau05"}, clock)

    if action == "extend":
        reason = _text(params, "reason", required=True, what="lý do chậm trễ")
        try:
            new_due = parse_iso(str(params.get("new_due_at", "")))
        except ValueError:
            raise TransitionError("Ngày hẹn mới không hợp lệ (cần thời điểm có múi giờ).",
                                  "bad_new_due", 400) from None
        current = parse_iso(dossier["due_at"])
        try:
            check_extension(now, current, new_due, bool(dossier.get("extension_count")), cal)
        except DeadlineError as exc:
            raise TransitionError(_extension_message(str(exc), current), "extension_refused",
                                  409) from None
        if not cal.is_working_time(new_due):
            raise TransitionError("Ngày hẹn mới phải rơi vào giờ làm việc.", "bad_new_due", 400)
        clock, due = with_clock("extended", new_due=new_due)
        return Decision(action, {"extension_count": 1, "original_due_at": dossier["due_at"],
                                 "reason": reason, **due},
                        {"reason": reason, "previous_due_at": dossier["due_at"],
                         "new_due_at": to_iso(new_due), "form": "mau04"}, clock)

    if action in ("reject", "complete"):
        steps = dossier.get("steps") or []
        if steps and (dossier.get("current_step") or 0) != len(steps) - 2:
            raise TransitionError("Chỉ ký, phát hành kết quả hoặc từ chối ở bước ký duyệt cuối "
                                  "của quy trình.", "not_last_step")
        if action == "reject":
            note = _text(params, "reason", required=True, what="lý do từ chối giải quyết")
        else:
            note = _text(params, "result", required=False, what="kết quả") or "Đã có kết quả"
        clock, due = with_clock("completed")
        steps = dossier.get("steps") or []
        nxt = len(steps) - 1 if steps else 0
        return Decision(action, {
            "status": "KHONG_DU_DIEU_KIEN" if action == "reject" else "DA_XU_LY_XONG",
            "completed_at": stamp, "result_kind": "refusal" if action == "reject" else "result",
            "result_note": note, "current_step": nxt, "assignee_id": None, "assignee": "",
            **due}, {"note": note, "from_step": dossier.get("current_step") or 0,
                     "to_step": nxt})

    if action == "return_result":
        channel = params.get("channel") or dossier["return_method"]
        if channel not in RETURN_CHANNELS:
            raise TransitionError("Hình thức trả kết quả không hợp lệ.", "bad_channel", 400)
        waybill = _text(params, "waybill_no", required=False, what="số vận đơn")[:50]
        postal_fee = params.get("postal_fee_vnd")
        if channel != "postal" and (waybill or postal_fee not in (None, "", 0)):
            raise TransitionError("Chỉ ghi số vận đơn và cước bưu chính khi trả qua bưu chính.",
                                  "waybill_without_postal", 400)
        fee = 0
        fields = {"status": "DA_TRA_KET_QUA", "returned_at": stamp, "return_channel": channel,
                  "waybill_no": waybill, "assignee_id": None, "assignee": ""}
        if channel == "postal":
            if not waybill:
                raise TransitionError("Trả qua bưu chính phải có số vận đơn.", "missing_waybill",
                                      400)
            fee = _money({"v": postal_fee or 0}, "v", "Cước bưu chính", positive=False)
            # The slip must say where the result went: the address given now, else the one
            # registered at intake, else the applicant's own.
            address = (_text(params, "postal_address", required=False, what="địa chỉ nhận")
                       or dossier.get("postal_address") or dossier.get("address") or "")
            if not address:
                raise TransitionError("Trả qua bưu chính phải có địa chỉ nhận kết quả.",
                                      "missing_postal_address", 400)
            if address != dossier.get("postal_address"):
                fields["postal_address"] = address[:300]
        fields["postal_fee_vnd"] = fee
        return Decision(action, fields,
                        {"channel": channel, "waybill_no": waybill, "postal_fee_vnd": fee,
                         "step": (len(dossier.get("steps") or []) - 1)})

    if action == "correct":
        reason = _text(params, "reason", required=True, what="nội dung sai sót")
        new_due = due_at(now, CORRECTION_WORKING_DAYS, "working_days", cal).due_at
        steps = dossier.get("steps") or []
        back = 1 if len(steps) > 2 else 0
        return Decision(action, {"status": "DANG_XU_LY", "due_at": to_iso(new_due),
                                 "correction_count": (dossier.get("correction_count") or 0) + 1,
                                 "reason": reason, "current_step": back, "completed_at": None,
                                 "returned_at": None},
                        {"reason": reason, "due_at": to_iso(new_due)})

    if action == "void":
        reason = _text(params, "reason", required=True, what="lý do hủy")
        clock, due = with_clock("stopped")
        return Decision(action, {"status": "HUY_NHAP_SAI", "reason": reason, **due},
                        {"reason": reason}, clock)

    if action == "refuse":
        reason = _text(params, "reason", required=True, what="lý do từ chối")
        return Decision(action, {"status": "TU_CHOI_TIEP_NHAN", "refused_at": stamp,
                                 "reason": reason}, {"reason": reason, "form": "mau03"})

    if action == "resolve_request":
        if not dossier.get("pending_request"):
            raise TransitionError("Hồ sơ không có yêu cầu nào của công dân đang chờ xử lý.",
                                  "no_request")
        note = _text(params, "note", required=True, what="cách đã xử lý yêu cầu")
        return Decision(action, {"pending_request": "", "pending_request_note": ""},
                        {"note": note, "request": dossier["pending_request"]})

    if action == "accept":
        # Online dossiers (CHO_TIEP_NHAN): the clock starts now (ND 118 art 17.3).
        if dossier.get("time_limit_unit") is None:
            raise TransitionError("Thủ tục chưa có thời hạn giải quyết trong danh mục.",
                                  "no_time_limit")
        value, unit = _limit(dossier)
        try:
            result = due_at(now, value, unit, cal)
        except DeadlineError as exc:
            raise TransitionError(f"Không tính được thời hạn: {exc}", "clock_error") from None
        return Decision(action, {"status": "DA_TIEP_NHAN", "received_at": stamp,
                                 "received_effective_at": to_iso(result.received_effective_at),
                                 "due_at": to_iso(result.due_at),
                                 "original_due_at": to_iso(result.due_at),
                                 "transfer_due_at": to_iso(transfer_due(now, cal))}, {},
                        _ce("received", now))

    raise TransitionError(f"Thao tác không tồn tại: {action}.", "unknown_action", 400)




def _vn(dt: datetime) -> str:
    return f"{local(dt):%H:%M ngày %d/%m/%Y}"


def _extension_message(reason: str, current: datetime) -> str:
    # check_extension's English reasons, said again in Vietnamese for the clerk.
    if "already extended" in reason:
        return "Hồ sơ đã được gia hạn một lần; không được gia hạn lần thứ hai (ND 118 điều 19.6)."
    if "must be after" in reason:
        return f"Ngày hẹn mới phải sau ngày hẹn hiện tại ({_vn(current)})."
    return ("Phải đề nghị gia hạn chậm nhất 01 ngày làm việc trước hạn trả "
            f"({_vn(current)}) (ND 118 điều 19.6).")


def rebuild(history: list[dict]) -> dict:
    """Fold the events' ``set`` dicts into the projection, from the first event."""
    row: dict = {}
    for event in history:
        row.update(event["payload"].get("set", {}))
    return row


def available_actions(dossier: dict, actor: dict) -> list[str]:
    """Actions the actor's role may try on the dossier in its current state.

    Deeper conditions (deadlines, amounts, the single extension) are checked
    by :func:`decide` when the action is taken.
    """
    out = []
    for action, (from_states, roles, _) in ACTIONS.items():
        if action in ("accept", "refuse") and dossier["status"] == "NHAP":
            continue
        if dossier["status"] not in from_states or actor["role"] not in roles:
            continue
        if action in ("handover", "complete", "reject"):
            step = current_step(dossier)
            if step and step["role"] != actor["role"]:
                continue
            steps = dossier.get("steps") or []
            index = dossier.get("current_step") or 0
            is_last = index + 1 >= len(steps) - 1
            if action == "handover" and is_last:
                continue
            if action in ("complete", "reject") and steps and not is_last:
                continue
        if action == "record_payment" and dossier["status"] != "CHO_NGHIA_VU_TAI_CHINH" and (
                (dossier.get("fee_vnd") or 0) <= (dossier.get("fee_paid_vnd") or 0)):
            continue
        if action == "extend" and dossier.get("extension_count"):
            continue
        if action == "withdraw" and dossier.get("correction_count"):
            continue
        if action == "request_supplement" and dossier.get("supplement_count"):
            continue
        if action == "resolve_request" and not dossier.get("pending_request"):
            continue
        out.append(action)
    return out
