"""The sync page as a clerk reads it: not enrolled, connected, and not connected any more."""

from __future__ import annotations

from tests.browser.conftest import screenshot, user_page
from tests.integration.sync_helpers import Hub


def test_a_node_that_is_not_enrolled_says_so(node, new_page):
    page = user_page(new_page, node, "canbo1")
    page.get_by_role("link", name="Đồng bộ với tỉnh").click()
    page.wait_for_url(node.url + "/sync")
    assert "chưa được đăng ký" in page.locator(".notice").inner_text()
    assert "vẫn được tiếp nhận" in page.locator(".notice").inner_text()
    screenshot(page, "09-sync-not-enrolled")


def test_sync_status_changes_when_the_hub_stops(make_node, new_page, tmp_path):
    hub = Hub(tmp_path / "hub").start()
    try:
        server = make_node()
        server.add_user("canbo1", "clerk")
        server.cli("enroll", "--hub", hub.url, "--code", hub.enroll_code())
        server.start()
        page = user_page(new_page, server, "canbo1")
        page.goto(server.url + "/sync")
        with page.expect_navigation():
            page.get_by_role("button", name="Đồng bộ ngay").click()
        assert page.locator(".sync-state").inner_text().strip() == "● Đã kết nối"
    finally:
        hub.stop()
    with page.expect_navigation():
        page.get_by_role("button", name="Đồng bộ ngay").click()
    state = page.locator(".sync-state").inner_text().strip()
    assert state == "○ Chưa kết nối được", state
    assert page.locator("dd.error").is_visible()  # the reason, in words
    screenshot(page, "10-sync-offline")
