"""Accounts as a clerk and an admin meet them: login, lockout, CSRF, roles."""

from datetime import timedelta

from edge_node.domain.clock import now_utc, to_iso
from edge_node.store import audit
from edge_node.store import users as users_store
from tests.conftest import PASSWORD, add_user, api_token, csrf_from, login


def test_first_admin_must_change_one_time_password(app, initialised):
    client = app.test_client()
    resp = login(client, "admin", initialised.admin_password)
    assert resp.status_code == 302
    # every page sends the admin to the password page until it is changed
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/password")
    page = client.get("/password").get_data(as_text=True)
    assert "lần đăng nhập đầu tiên" in page
    resp = client.post("/password", data={"current": initialised.admin_password,
                                          "new": "ngan", "confirm": "ngan",
                                          "csrf_token": csrf_from(page)})
    assert resp.status_code == 400 and "ít nhất 8 ký tự" in resp.get_data(as_text=True)
    resp = client.post("/password", data={"current": initialised.admin_password,
                                          "new": "mat-khau-moi-1", "confirm": "mat-khau-moi-1",
                                          "csrf_token": csrf_from(page)})
    assert resp.status_code == 302
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_in_vietnamese(app, db):
    add_user(db, "canbo1", "clerk")
    resp = login(app.test_client(), "canbo1", "sai-mat-khau")
    assert resp.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in resp.get_data(as_text=True)


def test_five_failures_lock_the_account_for_fifteen_minutes(app, db):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    for _ in range(4):
        assert login(client, "canbo1", "sai").status_code == 401
    resp = login(client, "canbo1", "sai")
    assert "bị tạm khóa 15 phút" in resp.get_data(as_text=True)
    # even the right password is refused while locked
    resp = login(client, "canbo1", PASSWORD)
    assert resp.status_code == 401 and "tạm khóa" in resp.get_data(as_text=True)
    # after the lock expires the right password works again
    user = users_store.get_by_username(db, "canbo1")
    users_store.update(db, user["id"], locked_until=to_iso(now_utc() - timedelta(seconds=1)))
    assert login(client, "canbo1", PASSWORD).status_code == 302
    actions = [e["action"] for e in audit.recent(db, 20)]
    assert "account.locked_out" in actions and actions.count("login.failed") == 5


def test_post_without_csrf_token_is_refused_and_writes_nothing(clerk_client, db):
    resp = clerk_client.post("/intake", data={"procedure_code": "1.001193",
                                              "full_name": "Lò Văn Thành"})
    assert resp.status_code == 400
    assert "hết hạn hoặc không hợp lệ" in resp.get_data(as_text=True)
    assert db.conn.execute("SELECT count(*) FROM dossiers").fetchone()[0] == 0


def test_login_form_needs_its_csrf_cookie(app, db):
    add_user(db, "canbo1", "clerk")
    resp = app.test_client().post("/login", data={"username": "canbo1", "password": PASSWORD,
                                                  "csrf_token": "forged"})
    assert resp.status_code == 400


def test_roles_are_checked_on_pages_and_api(app, db):
    add_user(db, "chuyenvien", "officer")
    client = app.test_client()
    login(client, "chuyenvien")
    assert client.get("/intake").status_code == 403
    assert "không có quyền" in client.get("/admin/users").get_data(as_text=True)
    assert client.get("/").status_code == 200
    headers = api_token(app.test_client(), "chuyenvien")
    resp = app.test_client().post("/api/v1/dossiers", json={}, headers=headers)
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"


def test_anonymous_is_sent_to_login(app):
    client = app.test_client()
    resp = client.get("/procedures")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    resp = client.get("/api/v1/procedures")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"


def test_logout_ends_the_server_side_session(clerk_client):
    page = clerk_client.get("/").get_data(as_text=True)
    clerk_client.post("/logout", data={"csrf_token": csrf_from(page)})
    assert clerk_client.get("/").status_code == 302


def test_admin_creates_locks_and_unlocks_accounts(admin_client, app, db):
    page = admin_client.get("/admin/users").get_data(as_text=True)
    resp = admin_client.post("/admin/users", data={"username": "canbo2", "role": "clerk",
                                                   "full_name": "Quàng Thị Hoa",
                                                   "csrf_token": csrf_from(page)})
    html = resp.get_data(as_text=True)
    assert "Đã tạo tài khoản" in html
    one_time = html.split('class="password">')[1].split("<")[0]
    user = users_store.get_by_username(db, "canbo2")
    # a second, identical request is refused with a clear message
    resp = admin_client.post("/admin/users", data={"username": "canbo2", "role": "clerk",
                                                   "csrf_token": csrf_from(page)})
    assert resp.status_code == 400 and "đã tồn tại" in resp.get_data(as_text=True)
    # locking ends the user's sessions and blocks login
    other = app.test_client()
    assert login(other, "canbo2", one_time).status_code == 302
    admin_client.post(f"/admin/users/{user['id']}/lock", data={"csrf_token": csrf_from(page)})
    assert other.get("/password").status_code == 302
    assert "đã bị khóa" in login(other, "canbo2", one_time).get_data(as_text=True)
    admin_client.post(f"/admin/users/{user['id']}/unlock", data={"csrf_token": csrf_from(page)})
    assert login(other, "canbo2", one_time).status_code == 302
    actions = [e["action"] for e in audit.recent(db, 50)]
    assert {"user.create", "user.lock", "user.unlock"} <= set(actions)
    assert audit.verify_chain(db) is None


def test_admin_cannot_lock_itself(admin_client, db):
    page = admin_client.get("/admin/users").get_data(as_text=True)
    me = users_store.get_by_username(db, "quantri")
    resp = admin_client.post(f"/admin/users/{me['id']}/lock", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 400 and "chính mình" in resp.get_data(as_text=True)


def test_api_token_login_and_revocation(app, db):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    headers = api_token(client, "canbo1")
    assert client.get("/api/v1/procedures?q=khai sinh", headers=headers).status_code == 200
    assert client.delete("/api/v1/session", headers=headers).status_code == 204
    assert client.get("/api/v1/procedures", headers=headers).status_code == 401
    resp = client.post("/api/v1/session", json={"username": "canbo1", "password": "sai"})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "bad_credentials"
    resp = client.post("/api/v1/session", data="không phải json")
    assert resp.status_code == 400


def test_api_refuses_account_that_must_change_password(app, initialised):
    resp = app.test_client().post("/api/v1/session", json={
        "username": "admin", "password": initialised.admin_password})
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "password_change_required"
