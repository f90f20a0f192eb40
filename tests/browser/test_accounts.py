"""Logging in as a person does: the printed one-time password, the forced change, admin pages."""

from __future__ import annotations

import re

from tests.browser.conftest import login, screenshot, user_page


def test_first_login_with_the_printed_password_forces_a_new_one(node, new_page):
    page = new_page()
    page.goto(node.url + "/")
    assert "/login" in page.url
    assert page.evaluate("document.activeElement.id") == "username"
    screenshot(page, "01-login")

    page.get_by_label("Tên đăng nhập").fill("admin")
    page.get_by_label("Mật khẩu").fill(node.admin_password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/password$"))
    assert "lần đăng nhập đầu tiên" in page.locator(".notice").inner_text()
    screenshot(page, "01b-forced-password-change")
    page.goto(node.url + "/queues/open")  # nothing else opens before the change
    assert page.url.endswith("/password")

    new_password = "mat-khau-quan-tri-moi"
    page.get_by_label("Mật khẩu hiện tại").fill(node.admin_password)
    page.get_by_label("Mật khẩu mới (ít nhất 8 ký tự)").fill(new_password)
    page.get_by_label("Nhập lại mật khẩu mới").fill(new_password)
    page.get_by_role("button", name="Lưu mật khẩu").click()
    page.wait_for_url(node.url + "/")
    assert "Đã đổi mật khẩu." in page.locator(".flash").inner_text()
    assert "admin" in page.locator(".who").inner_text()

    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url(re.compile(r"/login"))
    page.get_by_label("Tên đăng nhập").fill("admin")
    page.get_by_label("Mật khẩu").fill(node.admin_password)  # the one-time password is spent
    with page.expect_navigation():
        page.get_by_role("button", name="Đăng nhập").click()
    assert "Sai tên đăng nhập hoặc mật khẩu" in page.get_by_role("alert").inner_text()
    login(page, node, "admin", new_password)
    assert not page.url.endswith("/password")


def test_admin_sees_the_working_calendar(node, new_page):
    page = user_page(new_page, node, "quantri")
    page.get_by_role("link", name="Lịch làm việc").click()
    page.wait_for_url(re.compile(r"/admin/calendar"))
    assert page.locator("h1").inner_text().startswith("Lịch làm việc năm")
    assert page.locator("table.month").count() == 12
    screenshot(page, "07-admin-calendar")
