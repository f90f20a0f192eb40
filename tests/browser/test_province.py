"""Online dossiers from the province in the clerk's browser: alert, "to receive", accept."""

from __future__ import annotations

from datetime import timedelta

from edge_node.config import load_config
from edge_node.domain.clock import now_utc, to_iso
from edge_node.services import province
from edge_node.store.db import open_db, write_tx
from tests.browser.conftest import screenshot, user_page
from tests.browser.test_lifecycle import act, status_of


def _arrive(home, national: str, name: str, hours_ago: float) -> None:
    """Run the node's ``dossier.inbound`` feed handler as a sync round would."""
    db = open_db(load_config(home, environ={}).db_path)
    received = now_utc() - timedelta(hours=hours_ago)
    item = {"seq": 0, "kind": "dossier.inbound", "payload": {
        "received_at": to_iso(received), "dossier": {
            "MaHoSo": national, "MaTTHC": "1.001731", "ChuHoSo": name,
            "SoGiayToChuHoSo": "011185004321", "id_type": 1, "SoDienThoai": "0987654321",
            "Email": "", "HinhThuc": 0, "submitted_at": to_iso(received),
            "MaDoiTuong": "TECH-1", "TaiLieuNop": [
                {"TenTepDinhKem": "Tờ khai đề nghị hỗ trợ chi phí mai táng (theo mẫu)"}]}}}
    try:
        with write_tx(db):
            province.feed_inbound(db, item, now_utc())
    finally:
        db.conn.close()


def test_online_dossiers_alert_the_clerk_and_are_accepted_from_the_queue(make_node, new_page):
    node = make_node()
    node.add_user("canbo1", "clerk", "Lò Thị Hoa")
    node.start()
    _arrive(node.home, "G22.99-20261203-0000101", "Quàng Thị Mai", 0.1)
    _arrive(node.home, "G22.99-20261130-0000007", "Lò Văn Muộn", 24 * 6)
    clerk = user_page(new_page, node, "canbo1")
    alert = clerk.locator(".inbound-badge").first
    assert "2 hồ sơ trực tuyến chờ tiếp nhận" in alert.inner_text()
    with clerk.expect_navigation():
        alert.click()
    assert "/queues/to_receive" in clerk.url
    rows = clerk.locator("table.list tbody tr")
    assert rows.count() == 2
    text = clerk.locator("table.list").inner_text()
    assert "DVCQG: G22.99-20261203-0000101" in text and "Trả lời trước" in text
    late = clerk.locator("tr", has_text="Lò Văn Muộn")
    assert "Quá hạn" in late.inner_text()  # the 8-working-hour answer is overdue
    screenshot(clerk, "20-online-to-receive")

    with clerk.expect_navigation():
        clerk.locator("tr", has_text="Quàng Thị Mai").locator("a").first.click()
    code = clerk.url.rsplit("/", 1)[1]
    assert "G22.99-20261203-0000101" in clerk.locator(".national-code").inner_text()
    assert "Đã xác thực định danh" in clerk.locator(".identity").inner_text()
    assert clerk.locator("dt:text-is('Hạn trả lời tiếp nhận')").count() == 1
    act(clerk, node, code, "accept")
    assert status_of(clerk, node, code) == "Đã tiếp nhận"
    assert clerk.locator("dt:text-is('Hẹn trả kết quả')").count() == 1
    notes = clerk.locator(".notifications").inner_text()
    assert "Chờ gửi (qua tỉnh)" in notes and "đã được tiếp nhận" in notes
    assert "1 hồ sơ trực tuyến chờ tiếp nhận" in clerk.locator(".inbound-badge").first.inner_text()
