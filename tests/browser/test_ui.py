"""What a clerk can get wrong at the counter, old browsers, and small screens."""

from __future__ import annotations

import re

from tests.browser.conftest import receive, screenshot, user_page
from tests.browser.test_intake import APPLICANT, db_rows


def fill_applicant(page, node, full_name: str) -> None:
    page.goto(f"{node.url}/intake?procedure_code=1.001193")
    page.locator("#full_name").fill(full_name)
    for field in ("id_number", "phone", "address"):
        page.locator(f"#{field}").fill(APPLICANT[field])


def count_named(node, name: str) -> int:
    return db_rows(node, "SELECT count(*) FROM dossiers WHERE applicant_name = ?", name)[0][0]


def test_pressing_ctrl_enter_twice_receives_one_dossier(node, new_page):
    page = user_page(new_page, node, "canbo1")
    fill_applicant(page, node, "Mè Văn Hai")
    page.keyboard.press("Control+Enter")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile(r"/slip\?print=1$"))
    page.wait_for_function("() => window.__printCalls > 0")
    assert count_named(node, "Mè Văn Hai") == 1


def test_ctrl_enter_in_the_refusal_part_does_not_accept(node, new_page):
    page = user_page(new_page, node, "canbo1")
    fill_applicant(page, node, "Lò Văn Từ Chối")
    page.locator("summary").click()
    page.locator("#reason").fill("Thủ tục không thuộc thẩm quyền của xã")
    page.keyboard.press("Control+Enter")
    page.wait_for_timeout(500)
    assert "/intake" in page.url and count_named(node, "Lò Văn Từ Chối") == 0
    page.get_by_role("button", name="Từ chối tiếp nhận (in Mẫu 03)").click()
    page.wait_for_url(re.compile(r"/forms/mau03\?print=1$"))
    assert count_named(node, "Lò Văn Từ Chối") == 1


def test_intake_works_without_javascript(node, new_page):
    page = user_page(new_page, node, "canbo1", java_script_enabled=False)
    page.goto(node.url + "/intake")
    page.locator("#q").fill("khai sinh")
    page.keyboard.press("Enter")  # implicit submission, no script needed
    page.wait_for_url(re.compile(r"\?q=khai"))
    page.get_by_role("link", name=re.compile(r"^Đăng ký khai sinh 1\.001193")).click()
    page.wait_for_url(re.compile(r"procedure_code=1\.001193"))
    page.locator("#full_name").fill("Hà Thị Không Script")
    for field in ("id_number", "phone", "address"):
        page.locator(f"#{field}").fill(APPLICANT[field])
    page.get_by_role("button", name="Tiếp nhận và in giấy hẹn").click()
    page.wait_for_url(re.compile(r"/slip\?print=1$"))
    assert "Hà Thị Không Script" in page.locator("article.a4").inner_text()


def test_the_menu_shows_where_the_clerk_is(node, new_page):
    page = user_page(new_page, node, "canbo1")
    for path, entry in (("/intake", "Tiếp nhận hồ sơ"), ("/queues/open", "Hồ sơ đang giải quyết"),
                        ("/procedures?q=ho", "Danh mục thủ tục"), ("/sync", "Đồng bộ với tỉnh")):
        page.goto(node.url + path)
        current = page.locator(".topbar nav a[aria-current=page]")
        assert current.all_inner_texts() == [entry], path


def test_pages_fit_a_phone_screen(node, new_page):
    page = user_page(new_page, node, "canbo1", viewport={"width": 390, "height": 844},
                     is_mobile=True, has_touch=True)
    code = receive(page, node, "Sầm Thị Điện Thoại")
    for path in ("/queues/open", "/intake?q=khai+sinh", "/intake?procedure_code=1.001193",
                 f"/dossiers/{code}", f"/dossiers/{code}/slip", "/sync", "/procedures?q=hoa"):
        page.goto(node.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a 390px phone"
    page.goto(node.url + "/queues/open")
    screenshot(page, "11-phone-dossier-list")
