"""Counter intake as a clerk does it: pick, fill, accept, print the slip."""

import json
import re
import unicodedata
from datetime import datetime

from edge_node.domain.calendar import WorkCalendar
from edge_node.domain.clock import LOCAL_TZ, local, parse_iso
from edge_node.domain.codes import DOSSIER_CODE_RE
from edge_node.domain.deadlines import due_at
from edge_node.services import intake
from edge_node.store import audit
from tests.conftest import add_user, api_token, csrf_from, valid_dossier

COUNTS = ("SELECT (SELECT count(*) FROM dossiers), (SELECT count(*) FROM dossier_events),"
          " (SELECT count(*) FROM outbox WHERE kind != 'audit.entry'),"
          " (SELECT count(*) FROM audit)")


def counts(db):
    return db.conn.execute(COUNTS).fetchone()


def test_clerk_receives_khai_sinh_by_typing_without_accents(clerk_client, db):
    page = clerk_client.get("/intake?q=dang ky khai sinh").get_data(as_text=True)
    first_link = re.search(r'href="(/intake\?procedure_code=[^"]+)"', page).group(1)
    assert "1.001193" in first_link
    form = clerk_client.get(first_link).get_data(as_text=True)
    assert "Đăng ký khai sinh" in form
    doc = "Tờ khai đăng ký khai sinh (theo mẫu)"
    resp = clerk_client.post("/intake", data={
        "csrf_token": csrf_from(form), "procedure_code": "1.001193",
        "full_name": unicodedata.normalize("NFD", "Lò Thị Thuỷ"), "id_number": "011190001234",
        "phone": "0912 345 678", "address": "Bản Phăng, xã Mường Phăng",
        "documents_received": [doc], "return_method": "counter"})
    assert resp.status_code == 302
    slip_url = resp.headers["Location"]
    code = slip_url.split("/dossiers/")[1].split("/")[0]
    assert DOSSIER_CODE_RE.match(code) and code.startswith("DEM.00.00.Z00-")
    slip = clerk_client.get(slip_url).get_data(as_text=True)
    dossier = intake.dossier_store.get(db, code)
    assert dossier["applicant_name"] == unicodedata.normalize("NFC", "Lò Thị Thuỷ")
    assert dossier["phone"] == "0912345678"
    for text in ("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", code, "Lò Thị Thuỷ", doc,
                 "Đăng ký khai sinh", "Trong ngày", "<svg"):
        assert text in slip
    due_local = local(parse_iso(dossier["due_at"]))
    assert f"{due_local:%H} giờ {due_local:%M} phút, ngày {due_local:%d} tháng" in slip
    # the open list shows it with its due date
    listing = clerk_client.get("/").get_data(as_text=True)
    assert code in listing and "Lò Thị Thuỷ" in listing


def test_intake_writes_dossier_event_audit_and_outbox_together(app, db):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    headers = api_token(client, "canbo1")
    before = counts(db)
    resp = client.post("/api/v1/dossiers", json=valid_dossier(), headers=headers)
    assert resp.status_code == 201
    after = counts(db)
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]
    assert audit.verify_chain(db) is None


def test_codes_follow_the_daily_sequence(app, db):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    headers = api_token(client, "canbo1")
    codes = [client.post("/api/v1/dossiers", json=valid_dossier(), headers=headers).get_json()[
        "code"] for _ in range(3)]
    seqs = [int(c.rsplit("-", 1)[1]) for c in codes]
    assert seqs == [1, 2, 3]
    today = datetime.now(LOCAL_TZ).strftime("%y%m%d")
    assert all(c.split("-")[1] == today for c in codes)


def test_due_date_comes_from_the_working_calendar(app, db):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    headers = api_token(client, "canbo1")
    body = client.post("/api/v1/dossiers", json=valid_dossier(procedure_code="1.004873"),
                       headers=headers).get_json()  # xác nhận tình trạng hôn nhân
    limit = body["time_limit"]
    expected = due_at(parse_iso(body["received_at"]), int(limit["value"]), limit["unit"],
                      WorkCalendar())
    assert parse_iso(body["due_at"]) == expected.due_at
    assert parse_iso(body["due_at"]) > parse_iso(body["received_at"])


BAD_INPUTS = [
    ({"procedure_code": "9.999999"}, "procedure_code", "unknown_procedure"),
    ({"applicant": {"full_name": "", "id_number": "011090001234", "phone": "0912345678",
                    "address": "x"}}, "full_name", "validation_error"),
    ({"applicant": {"full_name": "Lò Văn A", "id_number": "12345", "phone": "0912345678",
                    "address": "x"}}, "id_number", "validation_error"),
    ({"applicant": {"full_name": "Lò Văn A", "id_number": "011090001234", "phone": "12",
                    "address": "x"}}, "phone", "validation_error"),
    ({"applicant": {"full_name": "Lò Văn A" * 30, "id_number": "011090001234",
                    "phone": "0912345678", "address": "x"}}, "full_name", "validation_error"),
    ({"applicant": {"full_name": "Lò Văn A", "id_number": "011090001234",
                    "phone": "0912345678", "address": "x" * 301}}, "address",
     "validation_error"),
    ({"return_method": "drone"}, "return_method", "validation_error"),
    ({"return_method": "postal", "applicant": {"full_name": "Lò Văn A",
                                               "id_number": "011090001234",
                                               "phone": "0912345678", "address": ""}},
     "postal_address", "validation_error"),
    ({"documents_received": ["Giấy không có trong danh mục"]}, "documents_received",
     "validation_error"),
    ({"documents_received": "không phải danh sách"}, "documents_received", "validation_error"),
    ({"applicant": "chuỗi"}, "full_name", "validation_error"),
]


def test_bad_input_gets_a_4xx_with_the_field_and_writes_nothing(app, db):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    headers = api_token(client, "canbo1")
    before = counts(db)
    for change, field, code in BAD_INPUTS:
        resp = client.post("/api/v1/dossiers", json=valid_dossier(**change), headers=headers)
        assert resp.status_code == 400, change
        error = resp.get_json()["error"]
        assert error["code"] == code and field in error["fields"], (change, error)
        assert error["message"]
    assert client.post("/api/v1/dossiers", data="{", headers={
        **headers, "Content-Type": "application/json"}).status_code == 400
    resp = client.post("/api/v1/dossiers", data=b"x" * (3 * 1024 * 1024), headers={
        **headers, "Content-Type": "application/json"})
    assert resp.status_code == 413 and resp.get_json()["error"]["code"]
    assert counts(db) == before


def test_form_shows_vietnamese_errors_and_keeps_what_was_typed(clerk_client, db):
    form = clerk_client.get("/intake?procedure_code=1.001193").get_data(as_text=True)
    resp = clerk_client.post("/intake", data={
        "csrf_token": csrf_from(form), "procedure_code": "1.001193", "full_name": "Lò Văn Thành",
        "id_number": "0110", "phone": "09", "address": "", "return_method": "counter"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Hồ sơ chưa được tiếp nhận" in html
    assert "12 chữ số" in html and "Số điện thoại không hợp lệ" in html
    assert "Chưa nhập địa chỉ" in html
    assert 'value="Lò Văn Thành"' in html
    assert db.conn.execute("SELECT count(*) FROM dossiers").fetchone()[0] == 0


def test_procedure_without_limit_needs_one_from_the_clerk(app, db):
    from edge_node.domain.clock import now_utc
    from edge_node.services import catalog as catalog_service

    catalog_service.import_catalog(
        db, json.dumps({"format": "edge-node-catalog/1", "procedures": [
            {"code": "9.000009", "name": "Thủ tục không thời hạn"}]}).encode(),
        now=now_utc(), actor="t", source="t")
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    headers = api_token(client, "canbo1")
    resp = client.post("/api/v1/dossiers", json=valid_dossier(procedure_code="9.000009"),
                       headers=headers)
    assert resp.status_code == 400 and "time_limit" in resp.get_json()["error"]["fields"]
    resp = client.post("/api/v1/dossiers", json=valid_dossier(
        procedure_code="9.000009", time_limit={"value": 5, "unit": "working_days"}),
        headers=headers)
    assert resp.status_code == 201
    assert resp.get_json()["time_limit"] == {"value": 5, "unit": "working_days"}
