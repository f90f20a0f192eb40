"""Headers, cookies and the tamper-evident audit chain."""

import sqlite3

import pytest

from tests.conftest import add_user, login
from tests.integration.test_cli import edge_node


def test_pages_carry_security_headers_and_strict_cookies(app, db):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    page = client.get("/login")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    resp = login(client, "canbo1")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    html = client.get("/").get_data(as_text=True)
    assert "<script>" not in html and "onclick=" not in html  # no inline script


@pytest.mark.parametrize("tamper", [
    "UPDATE audit SET actor = 'ke-gian' WHERE id = 2",
    "DELETE FROM audit WHERE id = 2",
    "UPDATE audit SET id = -id WHERE id IN (2, 3); UPDATE audit SET id = 3 WHERE id = -2;"
    " UPDATE audit SET id = 2 WHERE id = -3",
])
def test_audit_verify_finds_edits_deletions_and_swaps(cfg, db, tamper):
    for name in ("canbo1", "canbo2", "canbo3"):
        add_user(db, name, "clerk")  # each account change is an audit entry
    ok = edge_node(cfg.home, "audit", "verify")
    assert ok.returncode == 0 and "intact" in ok.stdout
    con = sqlite3.connect(cfg.db_path)
    con.executescript(tamper)
    con.close()
    bad = edge_node(cfg.home, "audit", "verify")
    assert bad.returncode != 0 and "broken at entry" in bad.stderr
