"""A clerk attaches a scanned PDF from the dossier page and sees it listed."""

from __future__ import annotations

import os
from pathlib import Path

from tests.browser.conftest import receive, screenshot, user_page


def test_clerk_attaches_a_scanned_pdf_from_the_dossier_page(node, new_page, tmp_path):
    page = user_page(new_page, node, "canbo1")
    code = receive(page, node, "Quàng Thị Đào")
    page.goto(f"{node.url}/dossiers/{code}")
    section = page.locator("#tai-lieu")
    assert "Chưa có tài liệu đính kèm" in section.inner_text()
    scan = tmp_path / "Tờ khai khai sinh.pdf"
    scan.write_bytes(b"%PDF-1.4\n" + os.urandom(40_000) + b"\n%%EOF\n")
    page.get_by_label("Tệp đã quét").set_input_files(str(scan))
    page.get_by_label("Là giấy tờ nào").fill("Tờ khai đăng ký khai sinh")
    with page.expect_navigation():
        page.get_by_role("button", name="Đính kèm", exact=True).click()
    row = section.locator("tr.attachment")
    assert row.count() == 1
    text = row.inner_text()
    assert "Tờ khai khai sinh.pdf" in text and "Tờ khai đăng ký khai sinh" in text
    assert "Chờ gửi" in text  # not enrolled: it waits for the province
    assert "Đã đính kèm" in page.locator(".flash").first.inner_text()
    screenshot(page, "14-attachment-listed")
    # the listed link gives back the very same bytes
    with page.expect_download() as info:
        row.get_by_role("link", name="Tờ khai khai sinh.pdf").click()
    assert Path(info.value.path()).read_bytes() == scan.read_bytes()

    # a file that is not a scan is refused in Vietnamese and nothing is listed
    fake = tmp_path / "giay-to.pdf"
    fake.write_bytes(b"MZ" + os.urandom(1000))
    page.get_by_label("Tệp đã quét").set_input_files(str(fake))
    with page.expect_navigation():
        page.get_by_role("button", name="Đính kèm", exact=True).click()
    assert "Chỉ nhận tệp PDF, JPEG hoặc PNG" in page.locator("[role=alert]").inner_text()
    assert page.locator("#tai-lieu tr.attachment").count() == 1
