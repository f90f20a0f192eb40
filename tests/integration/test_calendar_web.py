"""The deadline engine as clerks and scripts see it: slip, dossier page, API, admin calendar."""

import json
from datetime import datetime

import pytest

from edge_node.domain.clock import LOCAL_TZ, local, parse_iso
from edge_node.services import catalog as catalog_service
from tests.conftest import add_user, api_token, csrf_from, login, valid_dossier

TEST_CATALOG = {"format": "edge-node-catalog/1", "procedures": [
    {"code": "9.100001", "name": "Thủ tục một ngày làm việc",
     "time_limit": {"value": 1, "unit": "working_days"}},
    {"code": "9.100003", "name": "Thủ tục ba ngày làm việc",
     "time_limit": {"value": 3, "unit": "working_days"}},
    {"code": "9.100010", "name": "Thủ tục mười ngày",
     "time_limit": {"value": 10, "unit": "calendar_days"}},
]}


def vn(y, mo, d, h, mi):
    return datetime(y, mo, d, h, mi, tzinfo=LOCAL_TZ)


# (receipt instant, procedure, expected due in Vietnam time) — worked out by hand
CASES = [
    # Mon 09:15 + 3 working days = Thu 09:15
    (vn(2026, 12, 7, 9, 15), "9.100003", vn(2026, 12, 10, 9, 15)),
    # Fri 13/2/2026 16:59 + 1 working day: Tết 14–22/2 off → Mon 23/2 16:59
    (vn(2026, 2, 13, 16, 59), "9.100001", vn(2026, 2, 23, 16, 59)),
    # received 11:45 (lunch) starts 13:30; 3.5 h that day + 4.5 h next morning ends on the
    # 11:30 session end, which stays (the same working instant as 13:30)
    (vn(2026, 12, 8, 11, 45), "9.100001", vn(2026, 12, 9, 11, 30)),
    # received 17:30 Wed → starts Thu 07:00 → ends Thu 17:00 (session end stays)
    (vn(2026, 12, 2, 17, 30), "9.100001", vn(2026, 12, 3, 17, 0)),
    # Sunday 26/4/2026 (Giỗ Tổ on a Sunday, Mon 27/4 observed) → Tue 28/4 07:00 + 8h
    (vn(2026, 4, 26, 10, 0), "9.100001", vn(2026, 4, 28, 17, 0)),
    # Fri 21/8/2026 16:00 + 1 day: Sat 22/8 is the make-up working day → Sat 22/8 16:00
    (vn(2026, 8, 21, 16, 0), "9.100001", vn(2026, 8, 22, 16, 0)),
    # same-day procedure received after 15:00 → end of the next working day
    (vn(2026, 12, 3, 15, 30), "1.001193", vn(2026, 12, 4, 17, 0)),
    # same-day before 15:00 → end of the same day
    (vn(2026, 12, 3, 14, 0), "1.001193", vn(2026, 12, 3, 17, 0)),
    # 10 calendar days from Mon 16/11/2026 10:00 → Thu 26/11 10:00 (24/11 is a holiday,
    # but calendar days count it; only the end day must be a working day)
    (vn(2026, 11, 16, 10, 0), "9.100010", vn(2026, 11, 26, 10, 0)),
    # 10 calendar days landing on Sunday 6/12/2026 → Mon 7/12 same time
    (vn(2026, 11, 26, 9, 0), "9.100010", vn(2026, 12, 7, 9, 0)),
]


@pytest.fixture
def clerk(app, db):
    catalog_service.import_catalog(db, json.dumps(TEST_CATALOG).encode(), now=parse_iso(
        "2026-01-01T00:00:00Z"), actor="t", source="t")
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    login(client, "canbo1")
    return client


@pytest.mark.parametrize("received,code,expected", CASES)
def test_slip_dossier_page_and_api_agree(app, clerk, received, code, expected):
    app.config["CLOCK"] = lambda: received
    login(clerk, "canbo1")  # a session opened "now" for the chosen instant
    headers = api_token(app.test_client(), "canbo1")
    body = app.test_client().post("/api/v1/dossiers", json=valid_dossier(procedure_code=code),
                                  headers=headers).get_json()
    assert local(parse_iso(body["due_at"])) == expected
    words = (f"{expected:%H} giờ {expected:%M} phút, ngày {expected:%d} tháng {expected:%m} "
             f"năm {expected:%Y}")
    assert words in clerk.get(f"/dossiers/{body['code']}/slip").get_data(as_text=True)
    assert words in clerk.get(f"/dossiers/{body['code']}").get_data(as_text=True)
    api = app.test_client().get("/api/v1/calendar/due", headers=headers, query_string={
        "received_at": received.isoformat(), "value": 1 if code == "1.001193" else
        int(code[-2:]), "unit": {"1.001193": "same_day", "9.100010": "calendar_days"}.get(
            code, "working_days")}).get_json()
    assert api["due_at"] == body["due_at"]


def test_calendar_api_refuses_bad_input(app, clerk):
    headers = api_token(app.test_client(), "canbo1")
    client = app.test_client()

    def due(**params):
        return client.get("/api/v1/calendar/due", headers=headers, query_string=params)

    ok = due(received_at="2026-12-07T09:15:00+07:00", value=3, unit="working_days")
    assert ok.get_json() == {"due_at": "2026-12-10T02:15:00Z",
                             "received_effective_at": "2026-12-07T02:15:00Z"}
    for params, code in [
        ({"received_at": "2026-12-07T09:15:00", "value": 3, "unit": "working_days"},
         "bad_received_at"),
        ({"received_at": "2026-12-07T09:15:00Z", "value": 0, "unit": "working_days"},
         "bad_limit"),
        ({"received_at": "2026-12-07T09:15:00Z", "value": -2, "unit": "working_days"},
         "bad_limit"),
        ({"received_at": "2026-12-07T09:15:00Z", "value": 3, "unit": "fortnights"},
         "bad_limit"),
        ({"received_at": "2026-12-07T09:15:00Z", "value": "ba", "unit": "working_days"},
         "bad_value"),
    ]:
        resp = due(**params)
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == code, params
    days = client.get("/api/v1/calendar/days?from=2020-01-01&to=2026-01-01", headers=headers)
    assert days.status_code == 400 and days.get_json()["error"]["code"] == "bad_range"
    assert client.get("/api/v1/calendar/days?from=x&to=y", headers=headers).status_code == 400


def test_calendar_days_explains_2026_swap_and_holidays(app, clerk):
    headers = api_token(app.test_client(), "canbo1")
    days = {d["date"]: d for d in app.test_client().get(
        "/api/v1/calendar/days?from=2026-08-21&to=2026-09-03", headers=headers).get_json()[
        "days"]}
    assert days["2026-08-22"]["working"] and days["2026-08-22"]["kind"] == "makeup_workday"
    assert not days["2026-08-31"]["working"] and days["2026-08-31"]["kind"] == "swap_off"
    assert not days["2026-09-01"]["working"] and not days["2026-09-02"]["working"]
    assert days["2026-09-03"]["working"] and days["2026-08-29"]["kind"] == "weekend"
    assert days["2026-09-02"]["reason"]  # a Vietnamese holiday name


def test_admin_calendar_shows_2026_and_overrides_move_due_dates(app, db, clerk):
    add_user(db, "quantri", "admin")
    admin = app.test_client()
    login(admin, "quantri")
    page = admin.get("/admin/calendar?year=2026").get_data(as_text=True)
    for text in ("Lịch làm việc năm 2026", "Tháng 12", "17/02/2026", "27/04/2026",
                 "22/08/2026", "31/08/2026", "24/11/2026"):
        assert text in page
    token = csrf_from(page)
    # Friday 4/12/2026 made a day off by the province
    resp = admin.post("/admin/calendar", data={"csrf_token": token, "action": "add",
                                               "date": "2026-12-04", "working": "0",
                                               "note": "QĐ 99/QĐ-UBND tỉnh"})
    assert resp.status_code == 200 and "Đã ghi ngày nghỉ thêm 04/12/2026" in resp.get_data(
        as_text=True)
    app.config["CLOCK"] = lambda: vn(2026, 12, 3, 9, 0)
    login(admin, "quantri")
    login(clerk, "canbo1")
    headers = api_token(app.test_client(), "canbo1")
    body = app.test_client().post("/api/v1/dossiers", json=valid_dossier(
        procedure_code="9.100001"), headers=headers).get_json()
    assert local(parse_iso(body["due_at"])) == vn(2026, 12, 7, 9, 0)  # skips Fri, Sat, Sun
    # an override that changes nothing is refused in Vietnamese, nothing stored
    resp = admin.post("/admin/calendar", data={"csrf_token": token, "action": "add",
                                               "date": "2026-12-06", "working": "0",
                                               "note": "thử"})
    assert resp.status_code == 400 and "đã là ngày nghỉ" in resp.get_data(as_text=True)
    resp = admin.post("/admin/calendar", data={"csrf_token": token, "action": "add",
                                               "date": "2026-12-04", "working": "0",
                                               "note": "lần hai"})
    assert resp.status_code == 400 and "đã có điều chỉnh" in resp.get_data(as_text=True)
    assert db.conn.execute("SELECT count(*) FROM calendar_overrides").fetchone()[0] == 1
    admin.post("/admin/calendar", data={"csrf_token": token, "action": "remove",
                                        "date": "2026-12-04"})
    assert db.conn.execute("SELECT count(*) FROM calendar_overrides").fetchone()[0] == 0
    # a clerk may not edit the calendar
    assert clerk.post("/admin/calendar", data={"csrf_token": csrf_from(clerk.get("/").get_data(
        as_text=True)), "date": "2026-12-04", "working": "0", "note": "x"}).status_code == 403
