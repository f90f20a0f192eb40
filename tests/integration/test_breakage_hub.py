"""Findings from trying to break the hub's pages on both engines (real hub processes)."""

from __future__ import annotations

import re

import pytest
import requests

from tests.integration.sync_helpers import ADMIN_PASSWORD, Hub

pytestmark = pytest.mark.usefixtures("hub_backend")


def test_a_nul_in_a_page_address_is_a_bad_request_on_both_engines(tmp_path):
    # PostgreSQL text cannot hold NUL: these were 500s there (404 or 200 on SQLite)
    hub = Hub(tmp_path / "hub").start()
    try:
        admin = requests.Session()
        token = re.search(r'name="csrf_token" value="([^"]+)"',
                          admin.get(hub.url + "/login", timeout=10).text).group(1)
        assert admin.post(hub.url + "/login", timeout=10, allow_redirects=False, data={
            "username": "tinh", "password": ADMIN_PASSWORD, "csrf_token": token}
        ).status_code == 302
        for path in ("/province?node=%00", "/province?status=sent&node=x%00",
                     "/nodes/%00", "/dossiers/x%00", "/dossiers?commune=%00"):
            resp = admin.get(hub.url + path, timeout=10)
            assert resp.status_code == 400, (path, resp.status_code)
            assert "Yêu cầu không hợp lệ." in resp.text
        assert admin.get(hub.url + "/province?node=", timeout=10).status_code == 200
    finally:
        hub.stop()
