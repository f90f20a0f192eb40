"""Reports through the real services, the page, the API, CSV, XLSX, and the hub's view.

Dossiers are received and processed by the real intake and processing services at chosen
instants in March 2026 (times are local; 2026-03-02 is a Monday, no holiday that month).
Expected figures are worked out by hand in ``EXPECTED`` below.
"""

import csv
import io
import json
import re
import subprocess
import sys

import openpyxl
import pytest

from edge_node.domain.clock import now_utc
from edge_node.services import catalog as catalog_service
from edge_node.services import reports as report_service
from edge_node.services import sync as sync_service
from tests.conftest import login
from tests.integration.lifecycle_helpers import World, vn
from tests.integration.sync_helpers import ENV, Hub

CATALOG = {"format": "edge-node-catalog/1", "procedures": [
    {"code": "9.300005", "name": "Thủ tục năm ngày (báo cáo)", "field": "Lĩnh vực thử A",
     "time_limit": {"value": 5, "unit": "working_days"}, "documents": ["Tờ khai"]},
    {"code": "9.300001", "name": "Thủ tục một ngày (báo cáo)", "field": "Lĩnh vực thử B",
     "time_limit": {"value": 1, "unit": "working_days"}, "documents": ["Tờ khai"]},
]}
FIVE, ONE = "9.300005", "9.300001"
MARCH = "from=2026-03-01&to=2026-03-31"
REPORT_NOW = vn(2026, 5, 15, 9, 0)  # the app's clock: March is over


def counts(received, done, in_progress, ended) -> dict:
    keys = {"received": ("total", "online", "direct", "carried_over"),
            "done": ("total", "early", "on_time", "late"),
            "in_progress": ("total", "within_time", "overdue"),
            "ended_without_result": ("total", "withdrawn", "stopped", "closed")}
    values = {"received": received, "done": done, "in_progress": in_progress,
              "ended_without_result": ended}
    return {g: dict(zip(k, values[g], strict=True)) for g, k in keys.items()}


# d1 carried over, early; d2 on time (same date as due, later hour); d3 late; d4 waiting for
# a supplement (paused: within time); d5 withdrawn; d6 extended, then on time; d7 open, due
# 01/04; d8 open, due 27/03 (overdue); d9 voided; d10 refused at the counter; d11 stopped;
# d12 received and done on the last afternoon (early).
FIELD_A = counts((7, 0, 6, 1), (3, 1, 2, 0), (2, 2, 0), (2, 1, 1, 0))
FIELD_B = counts((3, 0, 3, 0), (2, 1, 0, 1), (1, 0, 1), (0, 0, 0, 0))
EXPECTED = counts((10, 0, 9, 1), (5, 2, 2, 1), (3, 2, 1), (2, 1, 1, 0))
# working minutes from receipt to result: d1 1500, d2 2760, d6 4440 (5-day procedure);
# d3 1020, d12 30 (1-day procedure)
AVG_FIVE = round((1500 + 2760 + 4440) / 3 / 480, 2)
AVG_ONE = round((1020 + 30) / 2 / 480, 2)
AVG_ALL = round((1500 + 2760 + 4440 + 1020 + 30) / 5 / 480, 2)


def build_march(db) -> tuple[World, dict]:
    """Receive and process the twelve dossiers, in time order, through the services."""
    catalog_service.import_catalog(db, json.dumps(CATALOG).encode(), now=vn(2026, 1, 5),
                                   actor="t", source="t")
    w = World(db, vn(2026, 2, 26, 9, 0))
    d: dict[str, str] = {}

    def at(mo, day, h, mi=0):
        w.now = vn(2026, mo, day, h, mi)

    def receive(name, proc, **extra):
        d[name] = w.receive(procedure_code=proc, **extra)["code"]

    def act(name, action, who, **params):
        return w.act(d[name], action, who, **params)

    at(2, 26, 9)
    receive("d1", FIVE)
    at(2, 26, 9, 30)
    act("d1", "transfer", "canbo")
    at(2, 26, 10)
    act("d1", "handover", "chuyenvien")
    at(3, 2, 8)
    receive("d2", FIVE)
    at(3, 2, 8, 30)
    act("d2", "transfer", "canbo")
    at(3, 2, 9)
    act("d2", "handover", "chuyenvien")
    at(3, 3, 9)
    receive("d3", ONE)
    at(3, 3, 9, 30)
    act("d3", "transfer", "canbo")
    at(3, 3, 9, 45)
    act("d3", "handover", "chuyenvien")
    at(3, 3, 10)
    act("d1", "complete", "lanhdao")  # due Thu 05/03 09:00: early
    at(3, 4, 9)
    receive("d4", FIVE)
    at(3, 4, 9, 30)
    act("d4", "transfer", "canbo")
    at(3, 4, 14)
    act("d4", "request_supplement", "chuyenvien", items=["Bản sao giấy tờ"], reason="Thiếu")
    at(3, 5, 9)
    receive("d5", FIVE)
    at(3, 5, 9, 30)
    act("d5", "transfer", "canbo")
    at(3, 5, 10)
    act("d3", "complete", "lanhdao")  # due Wed 04/03 09:00: late
    at(3, 9, 8)
    receive("d6", FIVE)
    at(3, 9, 8, 30)
    act("d6", "transfer", "canbo")
    at(3, 9, 9)
    act("d6", "handover", "chuyenvien")
    at(3, 9, 16)
    act("d2", "complete", "lanhdao")  # due Mon 09/03 08:00, done that date: on time
    at(3, 10, 9)
    act("d5", "withdraw", "canbo", reason="Công dân xin rút")
    at(3, 12, 9)
    extended = act("d6", "extend", "lanhdao", new_due_at=vn(2026, 3, 20, 16).isoformat(),
                   reason="Cần xác minh thêm")
    assert extended["due_at"] == "2026-03-20T09:00:00Z"
    at(3, 17, 9)
    refused = w.receive(procedure_code=FIVE, decision="refuse", reason="Không thuộc thẩm quyền")
    d["d10"] = refused["code"]
    at(3, 20, 10)
    act("d6", "complete", "lanhdao")  # due Fri 20/03 16:00 after the extension: on time
    at(3, 23, 9)
    receive("d11", FIVE)
    at(3, 23, 9, 30)
    act("d11", "transfer", "canbo")
    at(3, 25, 9)
    receive("d7", FIVE)
    at(3, 25, 9, 30)
    act("d7", "transfer", "canbo")
    at(3, 25, 10)
    act("d11", "stop", "lanhdao", reason="Không thuộc thẩm quyền")
    at(3, 26, 9)
    receive("d8", ONE)
    at(3, 26, 9, 30)
    act("d8", "transfer", "canbo")
    at(3, 30, 9)
    receive("d9", FIVE)
    at(3, 30, 9, 10)
    act("d9", "void", "canbo", reason="Nhập nhầm thủ tục")
    at(3, 31, 16)
    receive("d12", ONE)
    at(3, 31, 16, 5)
    act("d12", "transfer", "canbo")
    at(3, 31, 16, 10)
    act("d12", "handover", "chuyenvien")
    at(3, 31, 16, 30)
    act("d12", "complete", "lanhdao")  # due Wed 01/04 16:00: early
    return w, d


@pytest.fixture
def march(app, db):
    world, codes = build_march(db)
    app.config["CLOCK"] = lambda: REPORT_NOW
    return world, codes


def client_as(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def table_of(report: dict) -> dict:
    return {g: report[g] for g in ("received", "done", "in_progress", "ended_without_result")}


def test_the_json_report_has_the_hand_computed_figures(app, march):
    body = client_as(app, "lanhdao").get(f"/api/v1/reports/period?{MARCH}").get_json()
    assert list(body) == ["period", "received", "done", "in_progress", "ended_without_result",
                          "by_field", "by_procedure", "indicators"]
    assert body["period"] == {"from": "2026-03-01", "to": "2026-03-31",
                              "as_of": "2026-03-31T17:00:00Z", "final": True}
    assert table_of(body) == EXPECTED
    assert [(r["field"], table_of(r)) for r in body["by_field"]] == [
        ("Lĩnh vực thử A", FIELD_A), ("Lĩnh vực thử B", FIELD_B)]
    assert [(r["procedure_code"], r["procedure_name"], table_of(r))
            for r in body["by_procedure"]] == [
        (ONE, "Thủ tục một ngày (báo cáo)", FIELD_B), (FIVE, "Thủ tục năm ngày (báo cáo)",
                                                       FIELD_A)]
    ind = body["indicators"]
    assert (ind["on_time_rate"]["numerator"], ind["on_time_rate"]["denominator"]) == (4, 5)
    assert ind["on_time_rate"]["value"] == 0.8
    assert (ind["online_share"]["value"], ind["online_share"]["denominator"]) == (0.0, 9)
    avg = ind["avg_processing_working_days"]
    assert (avg["value"], avg["count"]) == (AVG_ALL, 5)
    assert [(r["procedure_code"], r["count"], r["value"]) for r in avg["by_procedure"]] == [
        (ONE, 2, AVG_ONE), (FIVE, 3, AVG_FIVE)]
    # not enrolled: nothing acknowledged by the province yet
    assert (ind["synced_to_province"]["numerator"],
            ind["synced_to_province"]["denominator"]) == (0, 10)
    for key in ("digitised_at_intake", "electronic_result", "paid_online"):
        assert ind[key]["value"] is None and ind[key]["note"]


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM, for Excel
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _expected_rows(body: dict) -> list[list]:
    return report_service.table_rows(body)


def test_csv_and_xlsx_carry_the_same_figures_as_the_json(app, march):
    client = client_as(app, "lanhdao")
    body = client.get(f"/api/v1/reports/period?{MARCH}").get_json()
    expected = _expected_rows(body)
    assert expected[0][4:] == [EXPECTED[g][c] for g, c in
                               [(g, c) for g in EXPECTED for c in EXPECTED[g]]]

    resp = client.get(f"/api/v1/reports/period?{MARCH}&format=csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert 'filename="bao-cao-06a_2026-03-01_2026-03-31.csv"' in resp.headers[
        "Content-Disposition"]
    rows = _csv_rows(resp.data)
    assert rows[0] == list(report_service.FLAT_HEADERS)
    assert "Số hồ sơ đã giải quyết - Trước hạn" in rows[0]
    assert [r[:4] + [int(v) for v in r[4:]] for r in rows[1:]] == [
        [str(v) for v in e[:4]] + e[4:] for e in expected]

    resp = client.get(f"/api/v1/reports/period?{MARCH}&format=xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(resp.data))
    sheet = book["Biểu 06a"]
    found = [list(r) for r in sheet.iter_rows(values_only=True)
             if r[0] in ("Tổng cộng", "Lĩnh vực", "Thủ tục")]
    assert [[("" if v is None else v) for v in r] for r in found] == expected
    indicators = {r[0]: r[1] for r in book["Chỉ số 766"].iter_rows(min_row=2, values_only=True)}
    assert indicators["Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn (%)"] == 80.0
    assert indicators["Thời gian giải quyết trung bình (ngày làm việc)"] == AVG_ALL
    avg = list(book["Thời gian giải quyết"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[2], r[3]) for r in avg] == [(ONE, 2, AVG_ONE), (FIVE, 3, AVG_FIVE)]


def test_the_page_shows_the_same_table_and_three_charts_to_every_role(app, db, march):
    from tests.conftest import add_user

    add_user(db, "quantri", "admin")
    expected = None
    for who in ("lanhdao", "chuyenvien", "canbo", "quantri"):
        resp = client_as(app, who).get(f"/reports?{MARCH}")
        assert resp.status_code == 200, who
        html = resp.get_data(as_text=True)
        assert "Báo cáo tình hình giải quyết thủ tục hành chính" in html
        assert html.count("<svg class=\"chart\"") == 3
        assert "<script>" not in html and "cdn" not in html.lower()
        assert 'href="/reports"' in html  # the menu link
        body = re.search(r'<table class="list report-table">.*?</table>', html, re.S).group(0)
        cells = [[re.sub(r"<[^>]+>", "", c).strip()
                  for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
                 for row in re.findall(r'<tr class="scope-.*?</tr>', body, re.S)]
        expected = expected or [[str(v) for v in r] for r in _expected_rows(
            client_as(app, "lanhdao").get(f"/api/v1/reports/period?{MARCH}").get_json())]
        assert cells == expected
    # the overdue chart names the 1-day procedure (d3 late, d8 overdue)
    assert "Thủ tục một ngày (báo cáo)" in html and "Tỷ lệ hồ sơ nộp trực tuyến" in html


def test_a_past_period_gives_the_same_numbers_after_later_events(app, march):
    world, d = march
    client = client_as(app, "lanhdao")
    before = client.get(f"/api/v1/reports/period?{MARCH}").get_json()
    world.now = vn(2026, 4, 1, 9)
    world.act(d["d4"], "receive_supplement", "canbo")
    world.act(d["d7"], "handover", "chuyenvien")
    world.now = vn(2026, 4, 1, 10)
    world.act(d["d7"], "complete", "lanhdao")
    world.act(d["d4"], "withdraw", "canbo", reason="Không bổ sung được")
    world.now = vn(2026, 4, 2, 9)
    world.act(d["d8"], "handover", "chuyenvien")
    world.act(d["d8"], "complete", "lanhdao")
    world.act(d["d2"], "return_result", "canbo", channel="counter")
    world.receive(procedure_code=FIVE)
    assert client.get(f"/api/v1/reports/period?{MARCH}").get_json() == before
    april = client.get("/api/v1/reports/period?from=2026-04-01&to=2026-04-30").get_json()
    assert april["received"] == {"total": 4, "online": 0, "direct": 1, "carried_over": 3}
    assert april["done"] == {"total": 2, "early": 0, "on_time": 1, "late": 1}  # d7, d8
    assert april["ended_without_result"]["withdrawn"] == 1  # d4


def test_bad_input_is_refused(app, march):
    client = client_as(app, "canbo")
    cases = [
        ("from=2026-02-30&to=2026-03-31", "bad_date"),
        ("from=31/03/2026&to=2026-03-31", "bad_date"),
        ("from=2026-04-01&to=2026-03-31", "bad_period"),
        ("from=2020-01-01&to=2026-03-31", "period_too_long"),
        ("to=2026-03-31", "missing_date"),
        (f"{MARCH}&format=pdf", "bad_format"),
    ]
    for query, code in cases:
        resp = client.get(f"/api/v1/reports/period?{query}")
        assert resp.status_code == 400, query
        body = resp.get_json()
        assert body["error"]["code"] == code and body["error"]["message"], query
    page = client.get("/reports?from=2026-04-01&to=2026-03-31")
    assert page.status_code == 400
    assert "Ngày bắt đầu phải trước" in page.get_data(as_text=True)
    assert app.test_client().get(f"/api/v1/reports/period?{MARCH}").status_code == 401


def test_the_default_page_is_this_month(app, march):
    resp = client_as(app, "lanhdao").get("/reports")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'value="2026-05-01"' in html and 'value="2026-05-15"' in html
    assert "kỳ chưa kết thúc" in html


# ------------------------------------------------------------------------- hub agreement


def node_cli(home, *args):
    return subprocess.run([sys.executable, "-m", "edge_node", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120, env=ENV)


@pytest.fixture
def hub(tmp_path):
    h = Hub(tmp_path / "hub")
    yield h
    h.stop()


@pytest.mark.usefixtures("hub_backend")
def test_the_hub_and_the_node_agree_for_the_same_commune(hub, cfg, app, march):
    world, _ = march
    hub.start()
    enrolled = node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                        hub.enroll_code("03325", agency="000.25.33.H18"))
    assert enrolled.returncode == 0, enrolled.stderr
    client = client_as(app, "lanhdao")
    before_sync = client.get(f"/api/v1/reports/period?{MARCH}").get_json()
    assert before_sync["indicators"]["synced_to_province"]["numerator"] == 0
    outcome = sync_service.sync_once(world.db, cfg, now_fn=now_utc)
    assert outcome.error is None
    node = client.get(f"/api/v1/reports/period?{MARCH}").get_json()
    synced = node["indicators"].pop("synced_to_province")
    assert (synced["numerator"], synced["denominator"], synced["value"]) == (10, 10, 1.0)

    resp = hub.get(f"/api/v1/reports/period?{MARCH}&commune=03325")
    assert resp.status_code == 200, resp.text
    commune = resp.json()
    assert commune.pop("commune") == {"code": "03325", "name": "Xã Mường Phăng"}
    assert commune["indicators"].pop("synced_to_province")["value"] is None
    assert commune == node

    csv_node = client.get(f"/api/v1/reports/period?{MARCH}&format=csv").data
    csv_hub = hub.get(f"/api/v1/reports/period?{MARCH}&commune=03325&format=csv").content
    assert csv_hub == csv_node

    province = hub.get(f"/api/v1/reports/period?{MARCH}").json()
    assert province["commune"] is None
    assert table_of(province) == EXPECTED
    assert [(c["commune_code"], c["commune_name"], table_of(c))
            for c in province["by_commune"]] == [("03325", "Xã Mường Phăng", EXPECTED)]
    page = hub.get(f"/reports?{MARCH}")
    assert page.status_code == 200 and page.text.count('<svg class="chart"') == 3
    assert "toàn tỉnh" in page.text and "Xã Mường Phăng" in page.text
    one = hub.get(f"/reports?{MARCH}&commune=03325")
    assert one.status_code == 200 and "Báo cáo tình hình giải quyết TTHC — Xã Mường Phăng" in (
        one.text)
    assert hub.get(f"/api/v1/reports/period?{MARCH}&commune=99999").status_code == 404
    bad = hub.get("/api/v1/reports/period?from=2026-03-31&to=2026-03-01")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_period"
