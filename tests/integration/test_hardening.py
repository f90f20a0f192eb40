"""Regressions from a break-it session: each of these once gave a 500 or let something by."""

import json
import threading

import pytest

from edge_node.domain.catalog_formats import CatalogError, parse_catalog
from edge_node.store import audit
from edge_node.store import users as users_store
from tests.conftest import PASSWORD, add_user, api_token, csrf_from, login, valid_dossier


@pytest.mark.parametrize("target", ["/%09/evil.com", "//evil.com", "/\\evil.com",
                                    "/%0A/x", "https://evil.example.com", "/%5Cevil.com"])
def test_login_never_redirects_off_the_node(app, db, target):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    page = client.get(f"/login?next={target}")
    resp = client.post(f"/login?next={target}", data={
        "username": "canbo1", "password": PASSWORD,
        "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location


def test_parallel_wrong_passwords_still_lock_after_five(app, db):
    add_user(db, "canbo1", "clerk")
    results = []

    def guess(password):
        client = app.test_client()
        resp = client.post("/api/v1/session", json={"username": "canbo1", "password": password})
        results.append((password, resp.status_code))

    # a burst of wrong guesses with the right password hidden among the last ones
    passwords = ["sai"] * 12 + [PASSWORD] * 3
    threads = [threading.Thread(target=guess, args=(p,)) for p in passwords]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    user = users_store.get_by_username(db, "canbo1")
    assert user["locked_until"] is not None
    assert 423 in [status for _, status in results]
    failures = [e for e in audit.recent(db, 100) if e["action"] == "login.failed"]
    assert len(failures) >= 5  # every wrong guess counted: none overwrote another
    # whatever the burst did, the right password does not get in while locked
    resp = app.test_client().post("/api/v1/session", json={"username": "canbo1",
                                                           "password": PASSWORD})
    assert resp.status_code == 423


def test_changing_the_password_ends_the_other_sessions(app, db):
    add_user(db, "canbo1", "clerk")
    other = app.test_client()
    login(other, "canbo1")
    token = api_token(app.test_client(), "canbo1")
    me = app.test_client()
    login(me, "canbo1")
    page = me.get("/password").get_data(as_text=True)
    resp = me.post("/password", data={"current": PASSWORD, "new": "mat-khau-moi-9",
                                      "confirm": "mat-khau-moi-9", "csrf_token": csrf_from(page)})
    assert resp.status_code == 302
    assert me.get("/").status_code == 200
    assert other.get("/").status_code == 302
    assert app.test_client().get("/api/v1/procedures", headers=token).status_code == 401


@pytest.mark.parametrize("raw", [
    '{"format": "edge-node-catalog/1", "procedures": [{"code": "9.1", "name": "X",'
    ' "time_limit": {"value": 1e400, "unit": "working_days"}}]}',
    '{"format": "edge-node-catalog/1", "procedures": [{"code": "9.1", "name": "X",'
    ' "fee_vnd": 1e400}]}',
    '{"format": "edge-node-catalog/1", "procedures": [{"code": "9.1", "name": "X",'
    ' "time_limit": "mot ngay"}]}',
    '{"format": "edge-node-catalog/1", "procedures": [{"code": "9.1", "name": "X",'
    ' "documents": 5}]}',
    '{"procedures": [{"ma_thu_tuc": "9.1", "ten_thu_tuc": "X", "cap_thuc_hien": [1, 2]}]}',
    '{"procedures": [{"ma_thu_tuc": "9.1", "ten_thu_tuc": "X"}], "meta": "abc"}',
    '{"format": "edge-node-catalog/1", "procedures": [{"code": "9.1", "name": "\\ud800"}]}',
    "[" * 100000,
])
def test_malformed_catalogs_are_refused_with_a_reason(raw):
    with pytest.raises(CatalogError):
        parse_catalog(raw)


def test_absurd_api_input_is_a_400_never_a_500(app, db):
    from edge_node.domain.clock import now_utc
    from edge_node.services import catalog as catalog_service

    catalog_service.import_catalog(db, json.dumps({"format": "edge-node-catalog/1", "procedures": [
        {"code": "9.000009", "name": "Thủ tục chưa có thời hạn"}]}).encode(), now=now_utc(),
        actor="t", source="t")
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    headers = {**api_token(client, "canbo1"), "Content-Type": "application/json"}
    bodies = [
        "[" * 100000,
        json.dumps(valid_dossier(return_method=[])),
        json.dumps(valid_dossier(decision={})),
        json.dumps(valid_dossier(applicant={**valid_dossier()["applicant"],
                                            "email": ["a@b.cd"]})),
        json.dumps(valid_dossier(applicant={**valid_dossier()["applicant"],
                                            "address": "Bản \u202ePhăng\u0000"})),
        json.dumps(valid_dossier(applicant={**valid_dossier()["applicant"],
                                            "phone": "09123ABCDE"})),
        json.dumps(valid_dossier(applicant={**valid_dossier()["applicant"],
                                            "id_number": "000000000"})),
        '{"procedure_code": "\\ud800"}',
        json.dumps(valid_dossier(procedure_code="9.000009",
                                 time_limit={"value": "nan", "unit": "working_days"})),
    ]
    for body in bodies:
        resp = client.post("/api/v1/dossiers", data=body, headers=headers)
        assert resp.status_code == 400, (body[:60], resp.get_data(as_text=True)[:200])
        assert resp.get_json()["error"]["code"]
    resp = client.post("/api/v1/session", data='{"username": "\\ud800", "password": "x"}',
                       headers={"Content-Type": "application/json"})
    assert resp.status_code in (400, 401)
    assert client.get("/api/v1/dossiers?offset=9223372036854775808",
                      headers=headers).status_code == 200
    resp = client.get("/api/v1/calendar/due?received_at=9999-12-31T23:59:59Z&value=3"
                      "&unit=working_days", headers=headers)
    assert resp.status_code == 400
    assert db.conn.execute("SELECT count(*) FROM dossiers").fetchone()[0] == 0


def test_a_database_held_by_another_writer_is_a_503_to_retry_not_a_crash(app, db, cfg,
                                                                        monkeypatch):
    import sqlite3

    from edge_node.store import db as db_module

    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 200)  # not 10 s in a test
    add_user(db, "canbo", "clerk")
    client = app.test_client()
    headers = api_token(client, "canbo")
    other = sqlite3.connect(cfg.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a backup, a long report, another process...
    try:
        answer = client.post("/api/v1/dossiers", json=valid_dossier(), headers=headers)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.headers["Retry-After"] == "5"
    assert answer.get_json()["error"]["code"] == "busy"
    assert db.conn.execute("SELECT count(*) FROM dossiers").fetchone()[0] == 0
    retried = client.post("/api/v1/dossiers", json=valid_dossier(), headers=headers)
    assert retried.status_code == 201
