"""Every path of the dossier state machine, through the service and the API."""

import json

import pytest

from edge_node.domain import lifecycle
from edge_node.domain.clock import local, parse_iso
from edge_node.services import catalog as catalog_service
from edge_node.services import processing
from edge_node.store import dossiers as dossier_store
from tests.conftest import api_token, csrf_from, login, valid_dossier
from tests.integration.lifecycle_helpers import CAL, World, vn

FIVE_DAYS = {"format": "edge-node-catalog/1", "procedures": [
    {"code": "9.200005", "name": "Thủ tục năm ngày làm việc", "fee_vnd": 50000,
     "time_limit": {"value": 5, "unit": "working_days"}, "documents": ["Tờ khai"]}]}


@pytest.fixture
def world(db):
    catalog_service.import_catalog(db, json.dumps(FIVE_DAYS).encode(),
                                   now=vn(2026, 1, 1), actor="t", source="t")
    return World(db, vn(2026, 12, 7, 8, 0))  # Monday


def accepted(world, **changes):
    return world.receive(procedure_code="9.200005", **changes)


def state(world, code):
    return dossier_store.get(world.db, code)


def test_happy_path_counter_to_returned_result(world):
    d = accepted(world)
    code = d["code"]
    assert (d["status"], d["dvcqg_status"]) == ("DA_TIEP_NHAN", 2)
    assert local(parse_iso(d["due_at"])) == vn(2026, 12, 14, 8, 0)
    assert [s["role"] for s in d["steps"]] == ["clerk", "officer", "leader", "clerk"]
    assert sum(s["minutes"] for s in d["steps"]) == 5 * 480
    assert parse_iso(d["steps"][-1]["due_at"]) == parse_iso(d["due_at"])
    world.later(hours=1)
    d = world.act(code, "transfer", "canbo", to_user="chuyenvien")
    assert (d["status"], d["dvcqg_status"], d["assignee"]) == ("DANG_XU_LY", 4, "chuyenvien")
    world.later(hours=2)
    d = world.act(code, "handover", "chuyenvien", to_user="lanhdao", note="Đủ điều kiện")
    assert d["current_step"] == 2 and d["assignee"] == "lanhdao"
    world.later(hours=1)
    d = world.act(code, "complete", "lanhdao", result="Giấy chứng nhận")
    assert (d["status"], d["dvcqg_status"]) == ("DA_XU_LY_XONG", 9)
    assert d["completed_at"] == world.now.astimezone(parse_iso(d["due_at"]).tzinfo).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    world.later(hours=1)
    d = world.act(code, "return_result", "canbo", channel="counter")
    assert (d["status"], d["dvcqg_status"]) == ("DA_TRA_KET_QUA", 10)
    assert processing.projection_matches_events(world.db, code)
    types = [e["type"] for e in dossier_store.events(world.db, code)]
    assert types == ["accept", "transfer", "handover", "complete", "return_result"]


def test_illegal_transitions_are_refused_with_the_reason_and_write_nothing(world):
    code = accepted(world)["code"]
    before = world.db.conn.execute("SELECT count(*) FROM dossier_events").fetchone()[0]
    cases = [
        ("complete", "lanhdao", 409, "Không thể"),          # not yet transferred
        ("return_result", "canbo", 409, "Không thể"),       # return without completion
        ("extend", "lanhdao", 409, "Không thể"),
        ("transfer", "chuyenvien", 403, "Vai trò"),          # officer cannot transfer
        ("handover", "canbo", 409, "Không thể"),
        ("correct", "canbo", 409, "Không thể"),
        ("fly", "canbo", 400, "không tồn tại"),
    ]
    for action, who, status, words in cases:
        with pytest.raises(lifecycle.TransitionError) as err:
            world.act(code, action, who)
        assert err.value.status == status and words in err.value.message, action
    after = world.db.conn.execute("SELECT count(*) FROM dossier_events").fetchone()[0]
    assert after == before


def test_only_the_assignee_or_the_steps_role_may_act(world):
    code = accepted(world)["code"]
    world.act(code, "transfer", "canbo", to_user="chuyenvien")
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(code, "handover", "chuyenvien2")
    assert err.value.status == 403 and "chuyenvien" in err.value.message
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(code, "complete", "lanhdao")  # the leader's step has not come yet
    assert err.value.status == 403
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(code, "handover", "chuyenvien", to_user="canbo")  # not a leader
    assert err.value.status == 400


def test_supplement_after_appraisal_restarts_the_clock(world):
    code = accepted(world)["code"]
    world.act(code, "transfer", "canbo")
    world.later(days=1)  # Tue 08:00
    d = world.act(code, "request_supplement", "chuyenvien", items=["Bản sao giấy khai sinh"],
                  reason="Thiếu giấy tờ")
    assert (d["status"], d["dvcqg_status"]) == ("CHO_BO_SUNG", 5)
    assert d["supplement_items"] == ["Bản sao giấy khai sinh"]
    with pytest.raises(lifecycle.TransitionError):  # 15 days not over
        world.act(code, "close", "canbo")
    world.later(days=2)  # Thu 08:00
    d = world.act(code, "receive_supplement", "canbo")
    # restart: 5 working days from Thu 08:00 = next Thu 08:00
    assert local(parse_iso(d["due_at"])) == vn(2026, 12, 17, 8, 0)
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(code, "request_supplement", "chuyenvien", items=["x"], reason="y")
    assert "một lần" in err.value.message
    assert processing.projection_matches_events(world.db, code)


def test_supplement_request_later_than_three_working_days_is_refused(world):
    code = accepted(world)["code"]
    world.act(code, "transfer", "canbo")
    world.later(days=4)  # Fri 08:00: 3 working days after Mon 08:00 was Thu 08:00
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(code, "request_supplement", "chuyenvien", items=["x"], reason="y")
    assert "03 ngày làm việc" in err.value.message


def test_no_supplement_for_fifteen_days_closes_the_dossier(world):
    code = accepted(world)["code"]
    world.act(code, "transfer", "canbo")
    world.act(code, "request_supplement", "chuyenvien", items=["Tờ khai"], reason="Sai mẫu")
    world.later(days=14)
    assert processing.close_expired(world.db, now=world.now, calendar=CAL) == []
    world.later(days=1, minutes=1)
    assert processing.close_expired(world.db, now=world.now, calendar=CAL) == [code]
    d = state(world, code)
    assert (d["status"], d["dvcqg_status"]) == ("DA_DONG", 8)
    with pytest.raises(lifecycle.TransitionError):
        world.act(code, "receive_supplement", "canbo")


def test_financial_obligation_and_fees(world):
    code = accepted(world)["code"]
    d = state(world, code)
    assert (d["fee_vnd"], d["payment_status"]) == (50000, "unpaid")
    for bad in (-1, 0, "năm mươi", 49000):
        with pytest.raises(lifecycle.TransitionError):
            world.act(code, "record_payment", "canbo", amount_vnd=bad, receipt_no="BL01")
    d = world.act(code, "record_payment", "canbo", amount_vnd=50000, receipt_no="BL01")
    assert (d["payment_status"], d["fee_receipt_no"], d["status"]) == ("paid", "BL01",
                                                                       "DA_TIEP_NHAN")
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(code, "record_payment", "canbo", amount_vnd=50000, receipt_no="BL02")
    assert "không còn phí" in err.value.message
    world.act(code, "transfer", "canbo")
    with pytest.raises(lifecycle.TransitionError):
        world.act(code, "request_payment", "chuyenvien", amount_vnd=-5, description="Thuế")
    d = world.act(code, "request_payment", "chuyenvien", amount_vnd=120000,
                  description="Lệ phí trước bạ")
    assert (d["status"], d["dvcqg_status"]) == ("CHO_NGHIA_VU_TAI_CHINH", 6)
    with pytest.raises(lifecycle.TransitionError):
        world.act(code, "record_payment", "canbo", amount_vnd=100000, receipt_no="BL03")
    due_before = d["due_at"]
    world.later(days=1)
    d = world.act(code, "record_payment", "canbo", amount_vnd=120000, receipt_no="BL03")
    assert d["status"] == "DANG_XU_LY" and d["obligation_paid_vnd"] == 120000
    assert d["due_at"] == due_before  # this procedure does not pause for payment


def test_withdrawal_only_before_a_decision(world):
    code = accepted(world)["code"]
    world.act(code, "transfer", "canbo")
    d = world.act(code, "withdraw", "canbo", reason="Công dân xin rút")
    assert (d["status"], d["dvcqg_status"]) == ("DA_RUT", 7)
    done = accepted(world)["code"]
    world.act(done, "transfer", "canbo")
    world.act(done, "handover", "chuyenvien")
    world.act(done, "complete", "lanhdao")
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(done, "withdraw", "canbo", reason="muộn")
    assert err.value.status == 409 and "Đã có kết quả" in err.value.message


def test_stop_and_void(world):
    code = accepted(world)["code"]
    world.act(code, "transfer", "canbo")
    with pytest.raises(lifecycle.TransitionError):
        world.act(code, "stop", "lanhdao")  # reason required
    d = world.act(code, "stop", "lanhdao", reason="Không thuộc thẩm quyền")
    assert (d["status"], d["dvcqg_status"]) == ("DUNG_XU_LY", 8)
    other = accepted(world)["code"]
    d = world.act(other, "void", "canbo", reason="Nhập nhầm thủ tục")
    assert d["status"] == "HUY_NHAP_SAI"
    with pytest.raises(lifecycle.TransitionError):
        world.act(other, "transfer", "canbo")


def test_extension_once_and_at_least_one_working_day_before_due(world):
    code = accepted(world)["code"]  # due Mon 14/12 08:00
    world.act(code, "transfer", "canbo")
    world.act(code, "handover", "chuyenvien")
    new_due = vn(2026, 12, 16, 16, 0).isoformat()
    d = world.act(code, "extend", "lanhdao", new_due_at=new_due, reason="Chờ xác minh")
    assert local(parse_iso(d["due_at"])) == vn(2026, 12, 16, 16, 0)
    assert local(parse_iso(d["original_due_at"])) == vn(2026, 12, 14, 8, 0)
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(code, "extend", "lanhdao", new_due_at=vn(2026, 12, 18).isoformat(),
                  reason="lần hai")
    assert "lần thứ hai" in err.value.message
    late = accepted(world)["code"]
    world.act(late, "transfer", "canbo")
    world.act(late, "handover", "chuyenvien")
    d = state(world, late)
    world.now = parse_iso(d["due_at"])  # on the due day itself
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(late, "extend", "lanhdao", new_due_at=vn(2026, 12, 28).isoformat(),
                  reason="muộn")
    assert "01 ngày làm việc" in err.value.message


def test_refusal_after_appraisal_is_returned_with_mau03(world, app, db):
    code = accepted(world)["code"]
    world.act(code, "transfer", "canbo")
    world.act(code, "handover", "chuyenvien")
    d = world.act(code, "reject", "lanhdao", reason="Không đủ điều kiện theo luật")
    assert (d["status"], d["dvcqg_status"], d["result_kind"]) == ("KHONG_DU_DIEU_KIEN", 9,
                                                                  "refusal")
    d = world.act(code, "return_result", "canbo")
    assert d["status"] == "DA_TRA_KET_QUA"
    client = app.test_client()
    login(client, "canbo")
    page = client.get(f"/dossiers/{code}/forms/mau03").get_data(as_text=True)
    assert "PHIẾU TỪ CHỐI GIẢI QUYẾT HỒ SƠ" in page and "Không đủ điều kiện theo luật" in page


def test_postal_return_needs_a_waybill_and_only_postal_has_one(world):
    code = accepted(world, return_method="postal", postal_address="Bản Co Mặn")["code"]
    world.act(code, "transfer", "canbo")
    world.act(code, "handover", "chuyenvien")
    world.act(code, "complete", "lanhdao")
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(code, "return_result", "canbo", channel="postal")
    assert "vận đơn" in err.value.message
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(code, "return_result", "canbo", channel="counter", waybill_no="EL123")
    assert err.value.code == "waybill_without_postal"
    with pytest.raises(lifecycle.TransitionError):
        world.act(code, "return_result", "canbo", channel="postal", waybill_no="EL1",
                  postal_fee_vnd=-1)
    d = world.act(code, "return_result", "canbo", channel="postal", waybill_no="EL123456VN",
                  postal_fee_vnd=25000)
    assert (d["waybill_no"], d["postal_fee_vnd"], d["return_channel"]) == (
        "EL123456VN", 25000, "postal")


def test_postal_return_goes_to_the_registered_address_or_one_given_then(world, db):
    code = accepted(world)["code"]  # chose the counter at intake: no postal address
    for action, who in (("transfer", "canbo"), ("handover", "chuyenvien"),
                        ("complete", "lanhdao")):
        world.act(code, action, who)
    d = world.act(code, "return_result", "canbo", channel="postal", waybill_no="EL9VN",
                  postal_address="Tổ 3, phường Mường Thanh")
    assert d["postal_address"] == "Tổ 3, phường Mường Thanh"
    assert processing.projection_matches_events(db, code)
    other = accepted(world)
    for action, who in (("transfer", "canbo"), ("handover", "chuyenvien"),
                        ("complete", "lanhdao")):
        world.act(other["code"], action, who)
    d = world.act(other["code"], "return_result", "canbo", channel="postal", waybill_no="EL8VN")
    assert d["postal_address"] == other["address"]  # falls back to the applicant's address


def test_correction_reopens_a_returned_dossier_for_three_working_days(world):
    code = accepted(world)["code"]
    for action, who in (("transfer", "canbo"), ("handover", "chuyenvien"),
                        ("complete", "lanhdao"), ("return_result", "canbo")):
        world.act(code, action, who)
    world.now = vn(2026, 12, 18, 10, 0)  # Friday
    d = world.act(code, "correct", "canbo", reason="Sai ngày sinh trên kết quả")
    assert (d["status"], d["correction_count"]) == ("DANG_XU_LY", 1)
    assert local(parse_iso(d["due_at"])) == vn(2026, 12, 23, 10, 0)
    d = world.act(code, "handover", "chuyenvien")
    d = world.act(code, "complete", "lanhdao")
    assert d["status"] == "DA_XU_LY_XONG"
    assert processing.projection_matches_events(world.db, code)


def test_step_timeliness_on_the_control_sheet(world, app):
    code = accepted(world)["code"]
    world.later(minutes=30)
    world.act(code, "transfer", "canbo")          # early for the 4 h receive step
    world.now = vn(2026, 12, 14, 9, 0)             # past the officer step's deadline
    world.act(code, "handover", "chuyenvien")
    client = app.test_client()
    login(client, "canbo")
    sheet = client.get(f"/dossiers/{code}/forms/mau06").get_data(as_text=True)
    assert "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ" in sheet
    assert "Trước hạn" in sheet and "Quá hạn" in sheet


def test_guidance_and_refusal_before_acceptance(app, db):
    World(db, vn(2026, 12, 7))
    client = app.test_client()
    headers = api_token(client, "canbo")
    resp = client.post("/api/v1/dossiers", headers=headers, json=valid_dossier(
        decision="request_supplement", items=["Giấy chứng sinh"], reason="Chưa có giấy"))
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["code"].startswith("PN-") and body["status"] == "HUONG_DAN_BO_SUNG"
    assert body["due_at"] is None and body["supplement"]["items"] == ["Giấy chứng sinh"]
    resp = client.post("/api/v1/dossiers", headers=headers, json=valid_dossier(
        decision="request_supplement", reason="Thiếu"))
    assert resp.status_code == 400 and "items" in resp.get_json()["error"]["fields"]
    refused = client.post("/api/v1/dossiers", headers=headers, json=valid_dossier(
        decision="refuse", reason="Không thuộc thẩm quyền của xã")).get_json()
    assert refused["status"] == "TU_CHOI_TIEP_NHAN" and refused["dvcqg_status"] == 3
    web = app.test_client()
    login(web, "canbo")
    m02 = web.get(f"/dossiers/{body['code']}/forms/mau02").get_data(as_text=True)
    assert "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ" in m02 and "Giấy chứng sinh" in m02
    m03 = web.get(f"/dossiers/{refused['code']}/forms/mau03").get_data(as_text=True)
    assert "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ" in m03 and "thẩm quyền của xã" in m03
    assert web.get(f"/dossiers/{body['code']}/forms/mau01").status_code == 404


def test_actions_api_statuses_and_events(app, db):
    w = World(db, vn(2026, 12, 7))
    code = w.receive()["code"]
    client = app.test_client()
    clerk, officer = api_token(client, "canbo"), api_token(client, "chuyenvien")
    url = f"/api/v1/dossiers/{code}/actions"
    assert client.post(url, json={"action": "transfer"}, headers=officer).status_code == 403
    resp = client.post(url, json={"action": "transfer", "to_user": "chuyenvien"}, headers=clerk)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "DANG_XU_LY" and body["current_step"]["role"] == "officer"
    resp = client.post(url, json={"action": "transfer"}, headers=clerk)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "illegal_transition"
    assert client.post(url, json={"action": 5}, headers=clerk).status_code == 400
    assert client.post("/api/v1/dossiers/KHONG/actions", json={"action": "transfer"},
                       headers=clerk).status_code == 404
    events = client.get(f"/api/v1/dossiers/{code}/events", headers=clerk).get_json()["items"]
    assert [e["type"] for e in events] == ["accept", "transfer"]
    assert events[1]["set"]["status"] == "DANG_XU_LY"


def test_dossier_page_offers_each_role_its_actions(app, db):
    w = World(db, vn(2026, 12, 7))
    code = w.receive()["code"]
    clerk = app.test_client()
    login(clerk, "canbo")
    page = clerk.get(f"/dossiers/{code}").get_data(as_text=True)
    assert "Chuyển xử lý" in page and "Hủy do nhập sai" in page
    assert "Ký, phát hành kết quả" not in page
    resp = clerk.post(f"/dossiers/{code}/actions/transfer", data={
        "csrf_token": csrf_from(page), "to_user": "chuyenvien"})
    assert resp.status_code == 302
    officer = app.test_client()
    login(officer, "chuyenvien")
    mine = officer.get("/queues/my_work").get_data(as_text=True)
    assert code in mine
    page = officer.get(f"/dossiers/{code}").get_data(as_text=True)
    assert "Chuyển bước xử lý" in page and "Yêu cầu bổ sung hồ sơ" in page
    # a refused action re-shows the page with the Vietnamese reason and a 4xx
    resp = officer.post(f"/dossiers/{code}/actions/request_supplement", data={
        "csrf_token": csrf_from(page), "items": "", "reason": "x"})
    assert resp.status_code == 400 and "liệt kê đầy đủ" in resp.get_data(as_text=True)


def test_housekeeping_job_closes_expired_supplements(cfg, world):
    from edge_node import jobs

    world.now = vn(2026, 11, 2, 8, 0)  # more than 15 days before "now" for the job
    code = accepted(world)["code"]
    world.act(code, "transfer", "canbo")
    world.act(code, "request_supplement", "chuyenvien", items=["Tờ khai"], reason="Sai mẫu")
    assert jobs.housekeeping(cfg) == [code]
    assert state(world, code)["status"] == "DA_DONG"


def test_admin_sets_a_process_that_new_dossiers_follow(app, db, world):
    from tests.conftest import add_user

    add_user(db, "quantri", "admin")
    admin = app.test_client()
    login(admin, "quantri")
    page = admin.get("/admin/procedures/9.200005").get_data(as_text=True)
    assert "quy trình mặc định" in page and "Chuyên viên thẩm định" in page
    token = csrf_from(page)
    bad = admin.post("/admin/procedures/9.200005", data={
        "csrf_token": token, "supplement_model": "restart",
        "steps": "Tiếp nhận | một cửa | 4\nThẩm định | chuyên viên | 20\nKý | lãnh đạo | 8\n"
                 "Trả | một cửa | 4"})
    assert bad.status_code == 400 and "phải bằng thời hạn" in bad.get_data(as_text=True)
    ok = admin.post("/admin/procedures/9.200005", data={
        "csrf_token": token, "supplement_model": "pause", "payment_pauses": "1",
        "steps": "Tiếp nhận | một cửa | 2\nThẩm định | chuyên viên | 28\nKiểm tra | lãnh đạo | 4\n"
                 "Ký | lãnh đạo | 4\nTrả | một cửa | 2"})
    assert ok.status_code == 200 and "Đã lưu quy trình" in ok.get_data(as_text=True)
    d = accepted(world)
    assert [s["minutes"] for s in d["steps"]] == [120, 1680, 240, 240, 120]
    code = d["code"]
    world.act(code, "transfer", "canbo")
    world.act(code, "handover", "chuyenvien")
    world.act(code, "handover", "lanhdao")
    # payment now pauses the clock for this procedure
    d = world.act(code, "request_payment", "lanhdao", amount_vnd=5000, description="Phí")
    due = d["due_at"]
    world.later(days=1)
    d = world.act(code, "record_payment", "canbo", amount_vnd=5000, receipt_no="BL9")
    assert parse_iso(d["due_at"]) > parse_iso(due)
    assert world.act(code, "complete", "lanhdao")["status"] == "DA_XU_LY_XONG"


def test_forms_04_05_07_carry_their_fields(world, app):
    code = accepted(world)["code"]
    world.act(code, "transfer", "canbo")
    world.act(code, "handover", "chuyenvien")
    new_due = vn(2026, 12, 16, 16, 0)
    world.act(code, "extend", "lanhdao", new_due_at=new_due.isoformat(),
              reason="Chờ xác minh nguồn gốc đất")
    withdrawn = accepted(world)["code"]
    world.act(withdrawn, "withdraw", "canbo", reason="Công dân đổi ý")
    client = app.test_client()
    login(client, "canbo")
    m04 = client.get(f"/dossiers/{code}/forms/mau04").get_data(as_text=True)
    for text in ("VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN", code, "Lò Văn Thành",
                 "Chờ xác minh nguồn gốc đất", "16 giờ 00 phút, ngày 16 tháng 12 năm 2026",
                 "08 giờ 00 phút, ngày 14 tháng 12 năm 2026"):
        assert text in m04, text
    m05 = client.get(f"/dossiers/{withdrawn}/forms/mau05").get_data(as_text=True)
    for text in ("THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ", withdrawn, "Công dân đổi ý",
                 "yêu cầu dừng giải quyết"):
        assert text in m05, text
    assert client.get(f"/dossiers/{code}/forms/mau05").status_code == 404  # nothing stopped
    m07 = client.get("/forms/mau07?from=2026-12-01&to=2026-12-31").get_data(as_text=True)
    for text in ("SỔ THEO DÕI HỒ SƠ", code, withdrawn, "Từ ngày 01/12/2026 đến ngày 31/12/2026"):
        assert text in m07, text
    assert client.get("/forms/mau07?from=2026-12-31&to=2026-01-01").status_code == 400


def test_the_dossier_list_exports_the_same_rows_as_csv_and_xlsx(world, app):
    import csv
    import io

    from openpyxl import load_workbook

    codes = [accepted(world)["code"] for _ in range(3)]
    world.act(codes[0], "transfer", "canbo")
    client = app.test_client()
    login(client, "canbo")
    page = client.get("/queues/to_transfer").get_data(as_text=True)
    assert codes[1] in page and codes[0] not in page
    resp = client.get("/queues/to_transfer?format=csv")
    assert resp.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(resp.get_data().decode("utf-8-sig"))))
    assert rows[0][0] == "Mã hồ sơ" and {r[0] for r in rows[1:]} == set(codes[1:])
    assert rows[1][7] == "Đã tiếp nhận"
    book = load_workbook(io.BytesIO(client.get("/queues/to_transfer?format=xlsx").get_data()))
    sheet = [[c.value for c in r] for r in book.active.iter_rows()]
    assert sheet[1][0] == "Mã hồ sơ" and {r[0] for r in sheet[2:]} == set(codes[1:])


def test_second_break_it_session_regressions(world, db):
    from edge_node.services import accounts
    from edge_node.store import users as users_store

    # a leader cannot reject at the officer's step (appraisal would be skipped)
    code = accepted(world)["code"]
    world.act(code, "transfer", "canbo")
    with pytest.raises(lifecycle.TransitionError) as err:
        world.act(code, "reject", "lanhdao", reason="Không đủ")
    assert err.value.code in ("not_last_step", "forbidden")
    # a dossier assigned to an officer who is then locked is not stuck
    other = accepted(world)["code"]
    world.act(other, "transfer", "canbo", to_user="chuyenvien")
    officer = users_store.get_by_username(db, "chuyenvien")
    admin = {"id": 0, "username": "quantri"}
    accounts.set_disabled(db, officer["id"], True, actor=admin, now=world.now)
    world.users = {u["username"]: u for u in users_store.list_all(db)}
    assert world.act(other, "handover", "chuyenvien2")["current_step"] == 2
    accounts.set_disabled(db, officer["id"], False, actor=admin, now=world.now)
    # after a correction: no withdrawal, and an extension moves the due time
    done = accepted(world)["code"]
    for action, who in (("transfer", "canbo"), ("handover", "chuyenvien2"),
                        ("complete", "lanhdao"), ("return_result", "canbo")):
        world.act(done, action, who)
    world.act(done, "correct", "canbo", reason="Sai tên")
    with pytest.raises(lifecycle.TransitionError):
        world.act(done, "withdraw", "canbo", reason="Xin rút")
    world.act(done, "handover", "chuyenvien2")
    new_due = world.now + __import__("datetime").timedelta(days=8)
    d = world.act(done, "extend", "lanhdao", new_due_at=new_due.replace(
        hour=9, minute=0).isoformat(), reason="Chờ xác minh")
    assert parse_iso(d["due_at"]) == new_due.replace(hour=9, minute=0)
    assert processing.projection_matches_events(db, done)
