"""Pure rules for work from the province: DVCQG times, inbound checks, notifications."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_node.domain import province as rules
from edge_node.domain.calendar import WorkCalendar
from edge_node.domain.clock import LOCAL_TZ, to_iso

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
CAL = WorkCalendar()


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_dvcqg_time_round_trips_in_vietnam_time(naive):
    instant = naive.replace(microsecond=0, tzinfo=UTC)
    text = rules.dvcqg_time(to_iso(instant))
    assert len(text) == 14 and text.isdigit()
    assert rules.parse_dvcqg_time(text) == instant


def test_dvcqg_time_is_local_and_refuses_other_shapes():
    assert rules.dvcqg_time("2026-07-01T01:30:00Z") == "20260701083000"
    assert rules.dvcqg_time(None) == ""
    for bad in ("2026-07-01", "202607010830", 20260701083000, "20261301083000"):
        with pytest.raises(ValueError):
            rules.parse_dvcqg_time(bad)


def test_answer_clock_is_eight_working_hours_on_the_calendar():
    # Friday 16:00 local: one hour left that day, 4.5 + 2.5 on Monday
    friday = datetime(2026, 12, 4, 16, 0, tzinfo=LOCAL_TZ)
    due = rules.answer_due(friday, CAL).astimezone(LOCAL_TZ)
    assert (due.date().isoformat(), due.hour, due.minute) == ("2026-12-07", 16, 0)


def _body(**changes):
    body = {"commune_code": "03325", "MaHoSo": "G22.99-1", "MaTTHC": "1.001731",
            "ChuHoSo": "Quàng Thị Mai", "SoGiayToChuHoSo": "011185004321",
            "NgayNopHoSo": "20261203140000", "TaiKhoanDuocXacThucVoiVNeID": 1}
    body.update(changes)
    return body


def test_parse_inbound_cleans_a_good_dossier():
    clean = rules.parse_inbound(_body(SoDienThoai="+84 987 654 321", HinhThuc="1"), now=NOW)
    assert clean["SoDienThoai"] == "0987654321" and clean["HinhThuc"] == 1
    assert clean["submitted_at"] == "2026-12-03T07:00:00Z" and clean["id_type"] == 1


def test_parse_inbound_names_every_bad_field_at_once():
    with pytest.raises(rules.InboundError) as err:
        rules.parse_inbound(_body(commune_code="3325", MaHoSo="", ChuHoSo="L0 V4n",
                                  NgayNopHoSo="20991231000000", KenhThucHien=1,
                                  TaiLieuNop=[{"x": 1}], TaiKhoanDuocXacThucVoiVNeID=True),
                            now=NOW)
    assert set(err.value.errors) == {"commune_code", "MaHoSo", "ChuHoSo", "NgayNopHoSo",
                                     "KenhThucHien", "TaiLieuNop",
                                     "TaiKhoanDuocXacThucVoiVNeID"}
    with pytest.raises(rules.InboundError):
        rules.parse_inbound("not an object", now=NOW)


def test_parse_fact_kinds():
    assert rules.parse_fact({"kind": "payment", "MaHoSo": "G22-1", "amount_vnd": 50000,
                             "transaction_id": "PAY-1"})["amount_vnd"] == 50000
    for bad in ({"kind": "payment", "MaHoSo": "G22-1", "amount_vnd": "50000",
                 "transaction_id": "PAY-1"},
                {"kind": "payment", "MaHoSo": "G22-1", "amount_vnd": True,
                 "transaction_id": "PAY-1"},
                {"kind": "identity", "dossier_code": "A-1-2", "result": "maybe"},
                {"kind": "withdrawal", "MaHoSo": "G22-1"}):
        with pytest.raises(rules.InboundError):
            rules.parse_fact(bad)


DOSSIER = {"code": "DEM.00.00.Z00-261203-0001", "national_code": None, "channel": 1,
           "procedure_name": "Chứng thực di chúc", "applicant_name": "Lò Văn Thành",
           "phone": "0912345678", "email": "", "received_at": "2026-12-03T01:00:00Z",
           "due_at": "2026-12-07T01:00:00Z", "return_method": "counter"}


def test_notifications_choose_the_channel_and_say_it_in_vietnamese():
    assert rules.notification_for(DOSSIER, "accept", {}) is None  # the applicant holds Mẫu 01
    channel, to, text = rules.notification_for(DOSSIER, "extend", {
        "reason": "cần xác minh", "previous_due_at": "2026-12-05T01:00:00Z"})
    assert (channel, to) == ("sms", "0912345678")
    assert text.startswith("Chúng tôi thành thật xin lỗi") and "08:00 ngày 07/12/2026" in text
    online = {**DOSSIER, "channel": 2, "national_code": "G22-1", "online_account": "TECH-1"}
    assert rules.notification_for(online, "accept", {})[:2] == ("portal", "TECH-1")
    assert rules.notification_for(DOSSIER, "return_result", {"channel": "counter"}) is None
    by_post = rules.notification_for(DOSSIER, "return_result", {"channel": "postal",
                                                                "waybill_no": "EV1VN"})
    assert "EV1VN" in by_post[2]
    nobody = {**DOSSIER, "phone": "", "email": ""}
    assert rules.notification_for(nobody, "complete", {}) is None
    assert rules.notification_for({**nobody, "email": "a@example.com"}, "complete",
                                  {})[0] == "email"
    assert rules.notification_for(DOSSIER, "transfer", {}) is None


def test_payment_outcomes():
    fee = {"status": "DA_TIEP_NHAN", "fee_vnd": 50000, "fee_paid_vnd": 0}
    assert rules.payment_outcome(fee, [], 50000, "T1") == "fee"
    with pytest.raises(rules.FactProblem, match="40.000 đồng"):
        rules.payment_outcome(fee, [], 40000, "T1")
    with pytest.raises(rules.FactProblem) as dup:
        rules.payment_outcome(fee, [{"payload": {"data": {"transaction_id": "T1"}}}], 50000,
                              "T1")
    assert dup.value.code == "duplicate_payment"
    owed = {"status": "CHO_NGHIA_VU_TAI_CHINH", "payment_due_vnd": 120000, "fee_vnd": 0}
    assert rules.payment_outcome(owed, [], 120000, "T2") == "obligation"
    with pytest.raises(rules.FactProblem) as none:
        rules.payment_outcome({"status": "DANG_XU_LY", "fee_vnd": 0}, [], 1000, "T3")
    assert none.value.code == "nothing_due"
