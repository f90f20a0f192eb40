"""API tokens: scopes, listing and revocation, rate limits; secrets stay out of files and logs."""

import os
import stat
import subprocess
import sys
from datetime import timedelta

from edge_node.domain.clock import now_utc
from tests.conftest import PASSWORD, add_user, csrf_from, valid_dossier
from tests.integration.test_cli import ENV, edge_node, free_port, wait_for


def _token(client, username, **extra):
    resp = client.post("/api/v1/session", json={"username": username, "password": PASSWORD,
                                                **extra})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["token"]


def _h(token):
    return {"Authorization": f"Bearer {token}"}


def test_scopes_limit_what_a_token_can_do(app, db):
    add_user(db, "canbo1", "clerk")
    add_user(db, "quantri", "admin")
    client = app.test_client()
    reader = _token(client, "canbo1", scopes=["read"], label="bảng theo dõi")
    assert client.get("/api/v1/dossiers", headers=_h(reader)).status_code == 200
    refused = client.post("/api/v1/dossiers", json=valid_dossier(), headers=_h(reader))
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "insufficient_scope"
    assert db.conn.execute("SELECT count(*) FROM dossiers").fetchone()[0] == 0
    writer = _token(client, "canbo1")  # default: read and write
    assert client.post("/api/v1/dossiers", json=valid_dossier(),
                       headers=_h(writer)).status_code == 201
    # a clerk cannot mint an admin token; unknown scopes are refused
    resp = client.post("/api/v1/session", json={"username": "canbo1", "password": PASSWORD,
                                                "scopes": ["admin"]})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "scope_not_allowed"
    resp = client.post("/api/v1/session", json={"username": "canbo1", "password": PASSWORD,
                                                "scopes": ["root"]})
    assert resp.status_code == 400
    # an admin's everyday token is not an admin token
    plain = _token(client, "quantri")
    resp = client.get("/api/v1/tokens?all=1", headers=_h(plain))
    assert resp.status_code == 403
    full = _token(client, "quantri", scopes=["read", "write", "admin"])
    everyone = client.get("/api/v1/tokens?all=1", headers=_h(full)).get_json()["items"]
    assert {t["user"] for t in everyone} == {"canbo1", "quantri"}


def test_owners_list_and_revoke_their_tokens_and_admins_any(app, db):
    add_user(db, "canbo1", "clerk")
    add_user(db, "canbo2", "clerk")
    add_user(db, "quantri", "admin")
    client = app.test_client()
    first = _token(client, "canbo1", label="máy in phiếu")
    second = _token(client, "canbo1", scopes=["read"], label="màn hình")
    listed = client.get("/api/v1/tokens", headers=_h(second)).get_json()["items"]
    assert sorted(t["label"] for t in listed) == ["màn hình", "máy in phiếu"]
    assert first not in str(listed) and second not in str(listed)  # never the secret
    current = [t for t in listed if t["current"]]
    assert [t["label"] for t in current] == ["màn hình"] and current[0]["scopes"] == ["read"]
    other = next(t["id"] for t in listed if not t["current"])
    # another clerk cannot touch it; the owner can, even with a read-only token
    intruder = _token(client, "canbo2")
    assert client.delete(f"/api/v1/tokens/{other}", headers=_h(intruder)).status_code == 404
    assert client.delete(f"/api/v1/tokens/{other}", headers=_h(second)).status_code == 204
    assert client.get("/api/v1/dossiers", headers=_h(first)).status_code == 401
    # an admin token revokes anyone's
    admin = _token(client, "quantri", scopes=["read", "write", "admin"])
    mine = current[0]["id"]
    assert client.delete(f"/api/v1/tokens/{mine}", headers=_h(admin)).status_code == 204
    assert client.get("/api/v1/dossiers", headers=_h(second)).status_code == 401
    revocations = db.conn.execute("SELECT actor, object FROM audit WHERE action ="
                                  " 'token.revoke' ORDER BY id").fetchall()
    assert revocations == [("canbo1", other), ("quantri", mine)]


def test_logins_are_rate_limited_per_address_with_retry_after(app, db):
    add_user(db, "canbo1", "clerk")
    app.config["EDGE"].values["login_rate_per_minute"] = 3
    start = now_utc()
    app.config["CLOCK"] = lambda: start
    client = app.test_client()
    for name in ("a1", "a2", "a3"):  # guesses spread over accounts: no lockout sees them
        assert client.post("/api/v1/session", json={"username": name,
                                                    "password": "x"}).status_code == 401
    refused = client.post("/api/v1/session", json={"username": "canbo1",
                                                    "password": PASSWORD})
    assert refused.status_code == 429
    body = refused.get_json()["error"]
    assert body["code"] == "rate_limited" and 1 <= body["retry_after"] <= 60
    assert refused.headers["Retry-After"] == str(body["retry_after"])
    page = client.get("/login")  # the form shows; posting it is refused too
    form = client.post("/login", data={"username": "canbo1", "password": PASSWORD,
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert form.status_code == 429 and "Thử lại sau" in form.get_data(as_text=True)
    assert "Retry-After" in form.headers
    # a sliding window: a minute later the address may try again
    app.config["CLOCK"] = lambda: start + timedelta(seconds=61)
    assert client.post("/api/v1/session", json={"username": "canbo1",
                                                "password": PASSWORD}).status_code == 201


def test_api_calls_are_rate_limited_per_token(app, db):
    add_user(db, "canbo1", "clerk")
    app.config["EDGE"].values["api_rate_per_minute"] = 5
    client = app.test_client()
    busy, calm = _token(client, "canbo1"), _token(client, "canbo1")
    for _ in range(5):
        assert client.get("/api/v1/procedures?q=khai", headers=_h(busy)).status_code == 200
    refused = client.get("/api/v1/procedures?q=khai", headers=_h(busy))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert client.get("/api/v1/procedures?q=khai", headers=_h(calm)).status_code == 200


def test_secrets_and_keys_are_readable_by_the_owner_only(cfg, initialised, app):
    if os.name != "posix":
        return
    home = cfg.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in (home / "secret_key", home / "keys" / "sign_ed25519.pem",
                 home / "keys" / "enc_x25519.pem", home / "keys" / "population.key",
                 cfg.db_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o700


def test_a_new_hub_home_keeps_its_secrets_to_its_owner(tmp_path):
    if os.name != "posix":
        return
    from tests.integration.sync_helpers import hub_cli

    home = tmp_path / "hub"
    assert hub_cli(home, "enroll-code", "--commune", "03325").returncode == 0
    from edge_node.web.app import read_secret_key
    from sync.hub.config import load_hub_config
    from sync.protocol import load_or_create_identity

    cfg = load_hub_config(home, environ={})
    read_secret_key(cfg)
    load_or_create_identity(home / "keys")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in (home / "secret_key", home / "hub.db", home / "keys" / "sign_ed25519.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_no_password_or_token_reaches_the_logs(tmp_path):
    import requests

    home, port = tmp_path / "home", free_port()
    assert edge_node(home, "init").returncode == 0
    added = edge_node(home, "user", "add", "canbo1", "--role", "clerk", "--password-stdin",
                      input=PASSWORD + "\n")
    assert added.returncode == 0
    env = {**ENV, "EDGE_NODE_LOG_LEVEL": "DEBUG"}
    proc = subprocess.Popen([sys.executable, "-m", "edge_node", "--home", str(home), "serve",
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/healthz", proc)
        web = requests.Session()
        page = web.get(base + "/login", timeout=5)
        web.post(base + "/login", timeout=5, data={
            "username": "canbo1", "password": PASSWORD, "csrf_token": csrf_from(page.text)})
        requests.post(base + "/api/v1/session", json={"username": "canbo1",
                                                      "password": "sai-" + PASSWORD}, timeout=5)
        token = requests.post(base + "/api/v1/session", timeout=5, json={
            "username": "canbo1", "password": PASSWORD}).json()["token"]
        for path in ("/api/v1/dossiers", f"/api/v1/dossiers?token={token}", "/api/v1/tokens"):
            requests.get(base + path, headers=_h(token), timeout=5)
        requests.delete(base + "/api/v1/session", headers=_h(token), timeout=5)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    logs = output + "".join(p.read_text(encoding="utf-8") for p in (home / "logs").glob("*"))
    assert "Commune edge node" in logs  # the output and log files were read
    for secret in (PASSWORD, token):
        assert secret not in logs
    import sqlite3

    con = sqlite3.connect(home / "edge-node.db")
    dump = "\n".join(con.iterdump())
    con.close()
    assert PASSWORD not in dump and token not in dump  # only hashes are stored

