"""The hub's page "Việc từ tỉnh": what the province sent that nothing applied, and every
applicant notification with its delivery state, read by a provincial administrator.

A real hub process on both engines, a real node, facts through the hub's inbound API.
"""

from __future__ import annotations

import re

import pytest
import requests

from tests.integration.province_helpers import Province, online_dossier, sync
from tests.integration.sync_helpers import hub_cli, linked_node


@pytest.fixture
def linked(hub_backend, tmp_path, cfg, db):
    yield from linked_node(tmp_path, cfg, db)


def rows(html: str, section: str) -> list[str]:
    """The body rows of one section of the page (``flags`` or ``notifications``)."""
    part = html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
    body = part.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in part else ""
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_flagged_facts_and_notifications_are_listed_newest_first_and_paged(linked, cfg, db):
    hub, world = linked
    province = Province(hub)
    for n, tthc in ((1, "1.001731"), (2, "2.001019")):  # the second one costs 50 000 đồng
        assert province.dossier(online_dossier(f"G22.99-20261203-000000{n}",
                                               MaTTHC=tthc)).status_code == 201
    assert sync(db, cfg, world).error is None
    from edge_node.store import province as province_store

    decided, paid = (province_store.by_national_code(db, f"G22.99-20261203-000000{n}")
                     for n in (1, 2))
    world.act(decided["code"], "accept", "canbo")
    world.later(minutes=10)
    for action, who in (("transfer", "canbo"), ("handover", "chuyenvien"),
                        ("complete", "lanhdao")):
        world.act(decided["code"], action, who)
    # three facts the node cannot apply, a few minutes apart
    for body in ({"kind": "payment", "MaHoSo": paid["national_code"], "amount_vnd": 40000,
                  "transaction_id": "PAY-1"},
                 {"kind": "withdrawal", "MaHoSo": decided["national_code"],
                  "reason": "Không cần nữa"},
                 {"kind": "identity", "MaHoSo": paid["national_code"], "result": "rejected",
                  "reason": "<script>alert('x')</script>"}):
        assert province.fact(body).status_code == 201
        world.later(minutes=5)
        assert sync(db, cfg, world).error is None
    assert sync(db, cfg, world).error is None  # the last flag's audit entry goes up
    # and 51 facts for dossiers no commune holds: kept at the hub, more than one page
    for n in range(51):
        assert province.fact({"kind": "payment", "MaHoSo": f"G22.99-KHONG-{n:03d}",
                              "amount_vnd": 1000, "transaction_id": f"TX-{n:03d}"}
                             ).status_code == 202

    node_page = hub.get("/nodes/03325-1")
    assert "/province?node=03325-1" in node_page.text
    mine = hub.get("/province?node=03325-1")
    assert mine.status_code == 200
    flags = rows(mine.text, "flags")
    assert len(flags) == 3 and "(3)" in mine.text  # the hub's own flags are no node's
    # newest first: identity, then the withdrawal after the decision, then the wrong amount
    assert "xác thực" in flags[0] and "không được xác thực" in flags[0]
    assert "Yêu cầu rút hồ sơ" in flags[1] and decided["code"] in flags[1]
    assert "Thanh toán trực tuyến" in flags[2] and "40.000" in flags[2]
    assert "50.000" in flags[2] and f'href="/dossiers/{paid["code"]}"' in flags[2]
    # the node's words are text, never markup; the page runs no inline script
    assert "&lt;script&gt;" in mine.text and "<script>alert" not in mine.text
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", mine.text))
    assert "script-src 'self'" in mine.headers["Content-Security-Policy"]

    notes = rows(mine.text, "notifications")
    assert len(notes) == 2 and "(2)" in mine.text
    assert "Ký, phát hành kết quả" in notes[0] and "Tiếp nhận hồ sơ" in notes[1]
    assert all("Đã gửi" in n and decided["code"] in n for n in notes)
    assert all("G22.99-20261203-0000001" in n for n in notes)
    failed = hub.get("/province?node=03325-1&status=failed")
    assert rows(failed.text, "notifications") == []
    assert "Không có thông báo nào ở trạng thái này" in failed.text

    everything = hub.get("/province")
    first = rows(everything.text, "flags")
    assert len(first) == 50 and "Mục 1–50 trên 54" in everything.text
    assert "Cổng tỉnh: không xã nào giữ hồ sơ này" in everything.text
    older = re.search(r'href="([^"]*fpage=2[^"]*)"', everything.text).group(1)
    second = hub.get(older.replace("&amp;", "&"))
    rest = rows(second.text, "flags")
    assert len(rest) == 4 and "Mục 51–54 trên 54" in second.text
    shown = " ".join(first + rest)
    assert all(f"G22.99-KHONG-{n:03d}" in shown for n in range(51))
    assert shown.count("Nút <a") == 3
    assert requests.get(hub.url + "/province", timeout=10,
                        allow_redirects=False).status_code in (302, 401)  # sign-in first
    assert hub.get("/province?node=99999-9").status_code == 404

    # a hub upgraded from before this page finds the flags already in its archive
    hub.stop()
    if hub.database_url:
        hub.sql("DROP TABLE hub_node_flags")
        hub.sql("DELETE FROM hub_schema_migrations WHERE version = 7")
        for index in ("hub_notifications_created", "hub_notifications_node"):
            hub.sql(f"DROP INDEX {index}")
    else:
        import sqlite3

        con = sqlite3.connect(hub.home / "hub.db")
        con.executescript("DROP TABLE hub_node_flags; DROP INDEX hub_notifications_created;"
                          " DROP INDEX hub_notifications_node; PRAGMA user_version = 6;")
        con.close()
    assert hub_cli(hub.home, "migrate").returncode == 0
    hub.start()
    again = hub.get("/province?node=03325-1")
    assert rows(again.text, "flags") == flags
