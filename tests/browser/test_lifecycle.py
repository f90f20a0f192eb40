"""A dossier through its life, each person in their own browser on the same node."""

from __future__ import annotations

import re

from tests.browser.conftest import receive, screenshot, user_page


def act(page, node, code: str, action: str, fields: dict | None = None) -> None:
    """Fill and send the action form of the dossier page, as its user sees it."""
    page.goto(f"{node.url}/dossiers/{code}")
    form = page.locator(f"form[action$='/actions/{action}']")
    assert form.count() == 1, f"no form for {action}: {page.locator('main').inner_text()}"
    for name, value in (fields or {}).items():
        control = form.locator(f"[name={name}]")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert not page.get_by_role("alert").count(), page.get_by_role("alert").inner_text()


def status_of(page, node, code: str) -> str:
    page.goto(f"{node.url}/dossiers/{code}")
    return page.locator("dt:text-is('Trạng thái') + dd strong").inner_text()


def test_supplement_resubmit_complete_and_return(node, new_page):
    clerk = user_page(new_page, node, "canbo1")
    officer = user_page(new_page, node, "chuyenvien")
    leader = user_page(new_page, node, "lanhdao")
    code = receive(clerk, node, "Điêu Chính Tường")
    assert status_of(clerk, node, code) == "Đã tiếp nhận"
    screenshot(clerk, "06-dossier-page")

    act(clerk, node, code, "transfer", {"to_user": "chuyenvien", "note": "Đủ hồ sơ"})
    assert status_of(officer, node, code) == "Đang xử lý"
    assert officer.locator("form[action$='/actions/handover']").count() == 1

    act(officer, node, code, "request_supplement",
        {"items": "Bản sao Giấy chứng sinh có chứng thực\nGiấy tờ tùy thân của người yêu cầu",
         "reason": "Giấy chứng sinh bị mờ, không đọc được"})
    assert "/forms/mau02" in officer.url  # the supplement request (Mẫu 02) opens to print
    assert "Bản sao Giấy chứng sinh có chứng thực" in officer.locator("article").inner_text()
    assert status_of(clerk, node, code) == "Chờ bổ sung"
    assert clerk.locator("dt:text-is('Hạn bổ sung')").count() == 1

    act(clerk, node, code, "receive_supplement", {"note": "Công dân đã nộp bản sao"})
    assert status_of(officer, node, code) == "Đang xử lý"

    act(officer, node, code, "handover", {"to_user": "lanhdao", "note": "Đủ điều kiện"})
    assert status_of(leader, node, code) == "Đang xử lý"
    assert "(đang xử lý)" in leader.locator("tr.current-step").inner_text()
    assert "Lãnh đạo" in leader.locator("tr.current-step").inner_text()

    act(leader, node, code, "complete", {"result": "Giấy khai sinh (bản chính)"})
    assert status_of(clerk, node, code) == "Đã có kết quả (chờ trả)"

    act(clerk, node, code, "return_result", {"channel": "counter"})
    assert "Đã thực hiện: Trả kết quả." in clerk.locator(".flash").inner_text()
    assert status_of(clerk, node, code) == "Đã trả kết quả"
    history = clerk.locator("table.list").last.locator("tbody tr td:nth-child(2)")
    assert history.all_inner_texts() == [
        "Tiếp nhận hồ sơ", "Chuyển xử lý", "Yêu cầu bổ sung hồ sơ", "Nhận hồ sơ bổ sung",
        "Chuyển bước xử lý", "Ký, phát hành kết quả", "Trả kết quả"]
    assert clerk.locator("form.action-form button", has_text="Trả kết quả").count() == 0


def test_a_second_clerk_sees_the_new_dossier(node, new_page):
    first = user_page(new_page, node, "canbo1")
    second = user_page(new_page, node, "canbo2")
    second.goto(node.url + "/queues/open")
    before = second.locator("tbody tr").count()
    code = receive(first, node, "Tòng Văn Bình")
    assert second.locator(f"a:text-is('{code}')").count() == 0
    second.reload()
    assert second.locator("tbody tr").count() == before + 1
    row = second.locator("tr", has=second.locator(f"a:text-is('{code}')"))
    assert "Tòng Văn Bình" in row.inner_text() and "Đã tiếp nhận" in row.inner_text()
    row.get_by_role("link", name=code).click()
    second.wait_for_url(re.compile(re.escape(code) + "$"))
    assert second.locator("h1").inner_text() == f"Hồ sơ {code}"
