"""Population-data access: a dated grant apart from roles, look-ups through the hub,
answers encrypted in their dossier, masking everywhere else, and the monitoring report."""

import json
import os
import sqlite3
from datetime import timedelta

import pytest

from edge_node.domain.clock import local, now_utc
from edge_node.services import population
from edge_node.services import sync as sync_service
from tests.conftest import add_user, api_token, csrf_from, login, valid_dossier
from tests.integration.sync_helpers import linked_node, node_cli

FULL_ID = "011090001234"
MASKED = "0110******34"
CITIZEN = {"full_name": "Lò Văn Thành", "id_number": FULL_ID, "birth_date": "1990-05-17",
           "gender": "Nam", "permanent_address": "Tổ 5, phường Him Lam"}


def _tomorrow() -> str:
    return (local(now_utc()).date() + timedelta(days=1)).isoformat()


def _dossier(app, db) -> str:
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    resp = client.post("/api/v1/dossiers", json=valid_dossier(),
                       headers=api_token(client, "canbo1"))
    assert resp.status_code == 201
    return resp.get_json()["code"]


def _client(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def _post(client, path, data, page):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def test_without_a_grant_every_population_path_is_403_and_numbers_are_masked(app, db):
    code = _dossier(app, db)
    add_user(db, "tracuu", "officer")
    web = _client(app, "tracuu")
    headers = api_token(app.test_client(), "tracuu")
    api = app.test_client()
    page = web.get(f"/dossiers/{code}").get_data(as_text=True)
    assert MASKED in page and FULL_ID not in page and "Tra cứu CSDL" not in page
    assert FULL_ID not in web.get(f"/dossiers/{code}/slip").get_data(as_text=True)
    assert _post(web, f"/dossiers/{code}/population", {"purpose": "xác thực người nộp"},
                 f"/dossiers/{code}").status_code == 403
    assert web.get(f"/dossiers/{code}/population/1").status_code == 403
    for method, path, body in (
            ("get", f"/api/v1/dossiers/{code}/population-lookups", None),
            ("post", f"/api/v1/dossiers/{code}/population-lookups", {"purpose": "xác thực"}),
            ("post", f"/api/v1/dossiers/{code}/population-lookups", "not an object"),
            ("get", f"/api/v1/dossiers/{code}/population-lookups/1", None)):
        resp = getattr(api, method)(path, json=body, headers=headers)
        assert resp.status_code == 403, (path, resp.get_json())
        assert resp.get_json()["error"]["code"] == "forbidden"
    detail = api.get(f"/api/v1/dossiers/{code}", headers=headers).get_json()
    assert detail["applicant"]["id_number"] == MASKED
    items = api.get("/api/v1/dossiers", headers=headers).get_json()["items"]
    assert [i["applicant"]["id_number"] for i in items] == [MASKED]
    # admin pages are for admins only; a grant is no admin right
    assert web.get("/admin/population").status_code == 403
    assert web.get("/admin/population/report.csv").status_code == 403
    # each refusal is on record under the account that tried
    denied = db.conn.execute("SELECT count(*) FROM audit WHERE action = 'population.denied'"
                             " AND actor = 'tracuu'").fetchone()[0]
    assert denied == 6  # two pages, four API calls
    assert db.conn.execute("SELECT count(*) FROM population_lookups").fetchone()[0] == 0


def test_a_grant_shows_the_full_number_on_the_dossier_only_and_expires(app, db, cfg):
    code = _dossier(app, db)
    add_user(db, "tracuu", "officer")
    granted = node_cli(cfg.home, "user", "grant-population", "tracuu", "--decision",
                       "123/QĐ-CAT", "--until", _tomorrow())
    assert granted.returncode == 0, granted.stderr
    web = _client(app, "tracuu")
    headers = api_token(app.test_client(), "tracuu")
    assert FULL_ID in web.get(f"/dossiers/{code}").get_data(as_text=True)
    api = app.test_client()
    assert api.get(f"/api/v1/dossiers/{code}", headers=headers).get_json()[
        "applicant"]["id_number"] == FULL_ID
    items = api.get("/api/v1/dossiers", headers=headers).get_json()["items"]
    assert items[0]["applicant"]["id_number"] == MASKED  # lists stay masked
    queue = web.get("/queues/open?format=csv").get_data(as_text=True)
    assert FULL_ID not in queue
    # the day after the last valid day, the same account is refused
    app.config["CLOCK"] = lambda: now_utc() + timedelta(days=2)
    web = _client(app, "tracuu")  # the old session went idle meanwhile
    assert MASKED in web.get(f"/dossiers/{code}").get_data(as_text=True)
    resp = api.get(f"/api/v1/dossiers/{code}/population-lookups", headers=headers)
    assert resp.status_code in (401, 403)  # the token may have expired too; never 200
    fresh = api_token(app.test_client(), "tracuu")
    assert api.get(f"/api/v1/dossiers/{code}/population-lookups",
                   headers=fresh).status_code == 403
    # revoked: refused at once
    app.config["CLOCK"] = now_utc
    revoked = node_cli(cfg.home, "user", "revoke-population", "tracuu", "--decision",
                       "124/QĐ-CAT")
    assert revoked.returncode == 0, revoked.stderr
    assert api.get(f"/api/v1/dossiers/{code}/population-lookups",
                   headers=api_token(app.test_client(), "tracuu")).status_code == 403


def test_grants_need_a_decision_and_a_future_date(cfg, db):
    add_user(db, "tracuu", "officer")
    no_decision = node_cli(cfg.home, "user", "grant-population", "tracuu", "--decision",
                           " ", "--until", _tomorrow())
    assert no_decision.returncode != 0 and "quyết định" in no_decision.stderr
    past = node_cli(cfg.home, "user", "grant-population", "tracuu", "--decision", "1/QĐ",
                    "--until", "2020-01-01")
    assert past.returncode != 0 and "đã qua" in past.stderr
    nobody = node_cli(cfg.home, "user", "revoke-population",
                      "tracuu", "--decision", "2/QĐ")
    assert nobody.returncode != 0
    assert db.conn.execute("SELECT count(*) FROM population_grants").fetchone()[0] == 0


def test_admin_page_grants_and_revokes_with_the_decision(app, db, admin_client):
    add_user(db, "tracuu", "officer")
    page = "/admin/population"
    resp = _post(admin_client, page, {"action": "grant", "username": "tracuu",
                                      "decision": "55/QĐ-CAT", "until": _tomorrow()}, page)
    assert resp.status_code == 200 and "Đã cấp quyền" in resp.get_data(as_text=True)
    assert population.permitted(db, {"id": 2 + 0, **_user(db, "tracuu")}, now_utc())
    resp = _post(admin_client, page, {"action": "grant", "username": "tracuu",
                                      "decision": "", "until": _tomorrow()}, page)
    assert resp.status_code == 400 and "quyết định" in resp.get_data(as_text=True)
    resp = _post(admin_client, page, {"action": "revoke", "username": "tracuu",
                                      "decision": "56/QĐ-CAT"}, page)
    assert "Đã thu hồi" in resp.get_data(as_text=True)
    assert not population.permitted(db, _user(db, "tracuu"), now_utc())
    actions = [r[0] for r in db.conn.execute(
        "SELECT action FROM audit WHERE action LIKE 'population.%' ORDER BY id")]
    assert actions == ["population.grant", "population.revoke"]


def _user(db, username):
    from edge_node.store import users

    return users.get_by_username(db, username)


@pytest.fixture
def linked(tmp_path, cfg, db):
    yield from linked_node(tmp_path, cfg, db)


def test_a_lookup_goes_through_the_hub_and_its_answer_stays_encrypted_in_the_dossier(
        linked, app, db, cfg):
    hub, _world = linked
    (hub.home / "population.json").write_text(json.dumps([CITIZEN], ensure_ascii=False),
                                              encoding="utf-8")
    code = _dossier(app, db)
    add_user(db, "tracuu", "officer")
    population.grant(db, "tracuu", decision="123/QĐ-CAT", until=_tomorrow(), actor="test",
                     now=now_utc())
    web = _client(app, "tracuu")
    resp = _post(web, f"/dossiers/{code}/population", {"purpose": "Xác thực người nộp",
                                                        "birth_date": "1990-05-17"},
                 f"/dossiers/{code}")
    assert resp.status_code == 302
    headers = api_token(app.test_client(), "tracuu")
    api = app.test_client()
    other = api.post("/api/v1/dossiers/" + code + "/population-lookups",
                     json={"purpose": "Kiểm tra lại"}, headers=headers)
    assert other.status_code == 202 and other.get_json()["status"] == "queued"
    assert other.get_json()["id_number_masked"] == MASKED
    # the province answers during the next round; the node never asked for more
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    rows = db.conn.execute("SELECT id, status, answer_ct FROM population_lookups"
                           " ORDER BY id").fetchall()
    assert [r[1] for r in rows] == ["found", "found"]
    for _, _, ciphertext in rows:  # nothing readable at rest
        assert "Thành".encode() not in ciphertext.encode() and "1990" not in ciphertext
    db.conn.execute("PRAGMA wal_checkpoint(FULL)")
    wal = cfg.db_path.with_name(cfg.db_path.name + "-wal")
    raw = cfg.db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert "Bản Phăng, xã Mường Phăng".encode() in raw  # the dossier's own address...
    assert b"Him Lam" not in raw  # ...but never the province's answer in clear
    key = cfg.home / "keys" / population.KEY_FILE
    assert os.stat(key).st_mode & 0o777 == 0o600
    page = web.get(f"/dossiers/{code}/population/{rows[0][0]}").get_data(as_text=True)
    assert "Tổ 5, phường Him Lam" in page and "1990-05-17" in page and FULL_ID in page
    detail = api.get(f"/api/v1/dossiers/{code}/population-lookups/{rows[1][0]}",
                     headers=headers).get_json()
    assert detail["answer"]["citizen"]["birth_date"] == "1990-05-17"
    assert api.get(f"/api/v1/dossiers/WRONG/population-lookups/{rows[1][0]}",
                   headers=headers).status_code == 404  # answers stay with their dossier
    actions = [r[0] for r in db.conn.execute(
        "SELECT action FROM audit WHERE action LIKE 'population.%' ORDER BY id")]
    assert actions.count("population.request") == 2
    assert actions.count("population.answer") == 2
    assert actions.count("population.view") == 2
    # the audit trail itself masks the number
    details = " ".join(r[0] for r in db.conn.execute("SELECT detail FROM audit"))
    assert FULL_ID not in details and MASKED in details
    # the province monitors: its hub holds the look-ups and what it answered
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    con = sqlite3.connect(hub.home / "hub.db")
    answered = con.execute("SELECT officer, found FROM hub_population_answers").fetchall()
    con.close()
    assert answered == [("tracuu", 1), ("tracuu", 1)]


def test_an_unknown_citizen_is_answered_not_found(linked, app, db, cfg):
    code = _dossier(app, db)
    add_user(db, "tracuu", "officer")
    population.grant(db, "tracuu", decision="123/QĐ-CAT", until=_tomorrow(), actor="test",
                     now=now_utc())
    user = _user(db, "tracuu")
    row = population.request_lookup(db, code, user=user, purpose="Xác thực người nộp",
                                    now=now_utc())
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    found = population.view_answer(db, code, row["id"], user=user, now=now_utc())
    assert found.row["status"] == "not_found" and found.answer["citizen"] is None


def test_the_monitoring_report_counts_lookups_per_account_and_month(app, db, admin_client):
    code = _dossier(app, db)
    for name in ("tracuu", "tracuu2"):
        add_user(db, name, "officer")
        population.grant(db, name, decision="9/QĐ-CAT", until=_tomorrow(), actor="test",
                         now=now_utc())
    for name, times in (("tracuu", 2), ("tracuu2", 1)):
        for _ in range(times):
            population.request_lookup(db, code, user=_user(db, name), purpose="Xác thực",
                                      now=now_utc())
    month = local(now_utc()).strftime("%Y-%m")
    page = admin_client.get("/admin/population").get_data(as_text=True)
    assert MASKED in page and FULL_ID not in page
    csv = admin_client.get("/admin/population/report.csv").get_data(as_text=True)
    lines = csv.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("Tháng,Tài khoản,Số lượt tra cứu")
    assert f"{month},tracuu,2,0,0,0,2" in lines
    assert f"{month},tracuu2,1,0,0,0,1" in lines


def test_an_answer_nobody_asked_for_is_refused_and_recorded(linked, app, db, cfg):
    """A compromised hub cannot push citizen data into a dossier that did not ask."""
    from sync.hub.store import HubStore

    hub, _world = linked
    code = _dossier(app, db)
    node_id = sync_service.enrolled(db)["node_id"]
    store = HubStore(hub.home / "hub.db")
    try:
        store.publish("population.answer", {"request_id": "khong-co", "found": True,
                                            "citizen": CITIZEN}, now_utc().isoformat(),
                      [node_id])
    finally:
        store.close()
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    assert db.conn.execute("SELECT count(*) FROM population_lookups").fetchone()[0] == 0
    refused = db.conn.execute("SELECT detail FROM audit WHERE action = 'feed.refused'"
                              ).fetchall()
    assert refused and "population.answer" in refused[-1][0]
    assert code  # the dossier is untouched by it
