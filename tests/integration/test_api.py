"""The JSON API contract: paths, fields and error shapes scripts rely on."""

from openapi_spec_validator import validate

from tests.conftest import add_user, api_token, valid_dossier


def test_openapi_document_is_valid_and_lists_the_contract(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    validate(spec)
    for path in ("/api/v1/session", "/api/v1/procedures", "/api/v1/dossiers",
                 "/api/v1/dossiers/{code}", "/api/v1/calendar/due", "/api/v1/calendar/days",
                 "/healthz"):
        assert path in spec["paths"]


def test_dossier_round_trip_and_listing(app, db):
    add_user(db, "canbo1", "clerk")
    add_user(db, "lanhdao", "leader")
    client = app.test_client()
    clerk = api_token(client, "canbo1")
    created = client.post("/api/v1/dossiers", json=valid_dossier(
        return_method="postal", postal_address="Bản Co Mặn, xã Mường Phăng"), headers=clerk)
    assert created.status_code == 201
    body = created.get_json()
    assert body["status"] == "DA_TIEP_NHAN" and body["dvcqg_status"] == 2
    assert body["received_at"].endswith("Z") and body["due_at"].endswith("Z")
    assert body["identity_status"] == "chua_xac_thuc"
    leader = api_token(client, "lanhdao")
    fetched = client.get(f"/api/v1/dossiers/{body['code']}", headers=leader).get_json()
    assert fetched == body
    listed = client.get("/api/v1/dossiers?status=DA_TIEP_NHAN", headers=leader).get_json()
    assert [d["code"] for d in listed["items"]] == [body["code"]]
    assert client.get("/api/v1/dossiers?status=DA_XU_LY_XONG", headers=leader).get_json()[
        "items"] == []
    missing = client.get("/api/v1/dossiers/KHONG-CO", headers=leader)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/dossiers?limit=x", headers=leader).status_code == 400


def test_healthz(app):
    body = app.test_client().get("/healthz").get_json()
    assert body["status"] == "ok" and body["db"] == "ok" and body["version"]


def test_unknown_api_path_is_json(app, db):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    resp = client.get("/api/v1/khong-co", headers=api_token(client, "canbo1"))
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
