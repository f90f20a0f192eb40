"""Work from the province with a real hub process and a real node database.

An online dossier injected at the hub appears on the node, is processed while
the hub is down, and its statuses and the applicant's notifications reach the
hub and the DVCQG export after reconnect. Facts from the province, identity
checks and every bad input of the issue are here too.
"""

from __future__ import annotations

import csv
import json

import pytest
import requests

from edge_node.domain import province as rules
from edge_node.domain.calendar import TZ as CAL_TZ
from edge_node.domain.clock import parse_iso
from edge_node.services import sync as sync_service
from edge_node.store import dossiers as dossier_store
from edge_node.store import province as province_store
from tests.conftest import REFERENCE
from tests.integration.lifecycle_helpers import CAL
from tests.integration.province_helpers import Province, online_dossier, sync
from tests.integration.sync_helpers import hub_cli, linked_node

DENIED_ID = "011090009999"


@pytest.fixture
def linked(tmp_path, cfg, db):
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "config.toml").write_text(f'identity_deny = "{DENIED_ID}"\n')
    yield from linked_node(tmp_path, cfg, db)


def _reference_fields() -> tuple[set[str], set[str]]:
    with open(REFERENCE / "dvcqg_dossier_payload_fields.csv", encoding="utf-8") as fh:
        names = [row["field"] for row in csv.DictReader(fh)]
    dossier = {n.removesuffix("[]") for n in names if not n.startswith("QuaTrinhXuLy.")}
    progress = {n.split(".", 1)[1] for n in names if n.startswith("QuaTrinhXuLy.")}
    return dossier, progress


def _reference_codes() -> set[str]:
    with open(REFERENCE / "dvcqg_trang_thai_ho_so.csv", encoding="utf-8") as fh:
        return {row["code"] for row in csv.DictReader(fh)}


def test_online_dossier_from_hub_to_node_offline_processing_and_back(linked, cfg, db,
                                                                     tmp_path):
    hub, world = linked
    province = Province(hub)
    resp = province.dossier(online_dossier())
    assert resp.status_code == 201, resp.text
    assert resp.json()["node_id"] == "03325-1"
    assert sync(db, cfg, world).error is None
    local = province_store.by_national_code(db, "G22.99-20261203-0000001")
    assert local["status"] == "CHO_TIEP_NHAN" and local["dvcqg_status"] == 1
    assert local["channel"] == 2 and local["identity_status"] == "da_xac_thuc"
    assert local["code"] != local["national_code"] and local["received_at"] is None
    assert local["documents_received"] == ["Tờ khai đề nghị hỗ trợ chi phí mai táng"]
    # the 8-working-hour answer clock runs from the hub's receipt on the node's calendar
    answer = rules.answer_due(parse_iso(local["created_at"]), CAL)
    assert CAL.working_minutes_between(parse_iso(local["created_at"]), answer) == 480
    assert [d["code"] for d in dossier_store.queue(db, "to_receive")] == [local["code"]]
    code = local["code"]

    # a counter dossier received while the link is down, and one whose ID the province denies
    hub.stop()
    counter = world.receive()
    denied = world.receive(applicant={"full_name": "Lò Văn Sai", "id_number": DENIED_ID,
                                      "phone": "0912345678", "address": "Bản Phăng, xã MP"})
    assert counter["identity_status"] == "chua_xac_thuc"
    world.later(minutes=30)
    world.act(code, "accept", "canbo")
    world.act(code, "transfer", "canbo")
    world.later(hours=1)
    world.act(code, "request_supplement", "chuyenvien", items=["Bản sao giấy báo tử"],
              reason="Thiếu giấy báo tử")
    world.later(hours=2)
    world.act(code, "receive_supplement", "canbo")
    world.later(hours=3)
    world.act(code, "handover", "chuyenvien")
    world.act(code, "complete", "lanhdao", result="Quyết định hỗ trợ")
    world.later(hours=1)
    done = world.act(code, "return_result", "canbo", channel="postal", waybill_no="EV123VN",
                     postal_fee_vnd=25000)
    assert done["status"] == "DA_TRA_KET_QUA"
    queued = province_store.notifications(db, code)
    assert [n["event_type"] for n in queued] == ["accept", "request_supplement", "complete",
                                                 "return_result"]
    assert {n["channel"] for n in queued} == {"portal"} and all(
        n["status"] == "queued" for n in queued)
    assert "Bản sao giấy báo tử" in queued[1]["text"] and "EV123VN" in queued[3]["text"]
    offline = sync(db, cfg, world)
    assert offline.error == "offline"

    hub.start()
    report = sync(db, cfg, world)
    # the identity answers pulled in the round are dossier events: they go back in it too
    assert report.error is None and report.stages[-2:] == ["pull", "push"]
    assert sync_service.status(db)["pending_events"] == 0
    # statuses reached the hub as an ordinary dossier.event stream
    seen = hub.get(f"/api/v1/dossiers/{code}").json()
    assert (seen["status"], seen["dvcqg_status"]) == ("DA_TRA_KET_QUA", 10)
    assert [e["type"] for e in seen["events"]] == [
        "online_submission", "accept", "transfer", "request_supplement", "receive_supplement",
        "handover", "complete", "return_result"]
    # notifications were delivered by the hub's file sender and the report came back
    delivered = hub.get(f"/api/v1/notifications?dossier={code}").json()["items"]
    assert [n["status"] for n in delivered] == ["sent"] * 4
    lines = (hub.home / "notifications" / "portal.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(x)["notification_id"] for x in lines] == [n["id"] for n in queued]
    assert all(n["status"] == "sent" for n in province_store.notifications(db, code))
    # identity of the counter dossiers answered by the hub's verifier after reconnect
    assert dossier_store.get(db, counter["code"])["identity_status"] == "da_xac_thuc"
    assert dossier_store.get(db, denied["code"])["identity_status"] == "khong_khop"
    assert [f["code"] for f in province_store.flags(db)] == ["identity_rejected"]

    out = tmp_path / "dvcqg.json"
    exported = hub_cli(hub.home, "export-dvcqg", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    body = json.loads(out.read_text("utf-8"))
    dossier_fields, progress_fields = _reference_fields()
    codes = _reference_codes()
    objects = {o["MaHoSo"]: o for o in body["DongBoHoSoMC"]["data"]}
    online = objects["G22.99-20261203-0000001"]
    assert set(online) == dossier_fields
    assert online["TrangThaiHoSo"] == "10" and online["KenhThucHien"] == "2"
    assert online["HinhThuc"] == "1" and online["MaDoiTuong"] == "TECH-88123"
    assert online["NgayTra"] and len(online["NgayTiepNhan"]) == 14
    received = parse_iso(done["received_at"]).astimezone(CAL_TZ)
    assert online["NgayTiepNhan"] == f"{received:%Y%m%d%H%M%S}"
    assert online["TaiLieuNop"][0]["TenTepDinhKem"].startswith("Tờ khai")
    assert objects[counter["code"]]["KenhThucHien"] == "1"
    assert all(o["TrangThaiHoSo"] in codes for o in objects.values())
    rows = [r for r in body["CapNhatTienDoHoSoMC"]["data"]
            if r["MaHoSo"] == "G22.99-20261203-0000001"]
    assert all(set(r) == progress_fields for r in body["CapNhatTienDoHoSoMC"]["data"])
    assert [r["TrangThai"] for r in rows] == ["1", "2", "4", "5", "4", "4", "9", "10"]
    assert all(r["TrangThai"] in codes for r in body["CapNhatTienDoHoSoMC"]["data"])
    # --since keeps only what changed from then on
    later = hub_cli(hub.home, "export-dvcqg", "--out", str(out), "--since", "2099-01-01")
    assert later.returncode == 0
    assert json.loads(out.read_text("utf-8"))["DongBoHoSoMC"]["data"] == []


def test_inbound_dossier_bad_input_is_refused_with_reasons(linked, cfg, db):
    hub, world = linked
    province = Province(hub)
    assert province.dossier(online_dossier()).status_code == 201
    dup = province.dossier(online_dossier())
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate"
    cases = {
        "unknown_commune": (online_dossier("X-1", commune_code="99999"), 422),
        "no node": (online_dossier("X-2", commune_code="03328"), 422),
        "unknown_procedure": (online_dossier("X-3", MaTTHC="9.999999"), 422),
    }
    for name, (body, status) in cases.items():
        resp = province.dossier(body)
        assert resp.status_code == status, (name, resp.text)
        assert resp.json()["error"]["fields"], name
    bad = province.dossier(online_dossier("X-4", SoGiayToChuHoSo="12345", NgayNopHoSo="2026-12",
                                          TrangThaiHoSo="4", TaiKhoanDuocXacThucVoiVNeID=0,
                                          SoDienThoai="abc"))
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {
        "SoGiayToChuHoSo", "NgayNopHoSo", "TrangThaiHoSo", "TaiKhoanDuocXacThucVoiVNeID",
        "SoDienThoai"}
    assert province.post("/api/v1/inbound/dossiers", [1, 2]).status_code == 400
    # a local variant of a procedure code is read as the catalog's procedure
    variant = province.dossier(online_dossier("X-5", MaTTHC="1.001731.000.00.00.H18"))
    assert variant.status_code == 201
    # no token, a wrong token, a leader's token: refused
    assert province.post("/api/v1/inbound/dossiers", online_dossier("X-6"),
                         headers={}).status_code == 401
    assert province.post("/api/v1/inbound/dossiers", online_dossier("X-6"), headers={
        "Authorization": "Bearer hubtok_nope"}).status_code == 401
    assert hub_cli(hub.home, "user", "add", "xem", "--role", "leader", "--password-stdin",
                   input="mat-khau-xem-12345\n").returncode == 0
    leader = requests.post(hub.url + "/api/v1/session", timeout=5,
                           json={"username": "xem", "password": "mat-khau-xem-12345"}).json()
    assert province.post("/api/v1/inbound/dossiers", online_dossier("X-6"), headers={
        "Authorization": f"Bearer {leader['token']}"}).status_code == 401
    # an admin's API session token works too
    assert province.post("/api/v1/inbound/dossiers", online_dossier("X-6"),
                         headers=hub.token()).status_code == 201
    assert sync(db, cfg, world).error is None
    assert len(dossier_store.queue(db, "to_receive")) == 3
    # the integration token is kept hashed only
    stored = hub_cli(hub.home, "token", "list").stdout
    assert "DVCQG adapter" in stored and province.headers["Authorization"][7:] not in stored
    raw = b"".join(p.read_bytes() for p in hub.home.glob("hub.db*"))
    assert raw and province.headers["Authorization"][7:].encode() not in raw


def test_facts_from_the_province_are_events_the_node_decides_on(linked, cfg, db):
    hub, world = linked
    province = Province(hub)
    for n, tthc in ((1, "1.001731"), (2, "2.001019"), (3, "1.001731")):
        assert province.dossier(online_dossier(f"G22.99-20261203-000000{n}",
                                               MaTTHC=tthc)).status_code == 201
    assert sync(db, cfg, world).error is None
    first, paid, late = (province_store.by_national_code(db, f"G22.99-20261203-000000{n}")
                         for n in (1, 2, 3))
    # the third is decided before the citizen asks to withdraw it
    for action, who, extra in (("accept", "canbo", {}), ("transfer", "canbo", {}),
                               ("handover", "chuyenvien", {}), ("complete", "lanhdao", {})):
        world.act(late["code"], action, who, **extra)
    facts = [
        ({"kind": "withdrawal", "MaHoSo": first["national_code"], "reason": "Đổi ý"}, 201),
        ({"kind": "adjustment", "MaHoSo": paid["national_code"], "reason": "Sửa SĐT"}, 201),
        ({"kind": "payment", "MaHoSo": paid["national_code"], "amount_vnd": 40000,
          "transaction_id": "PAY-1"}, 201),
        ({"kind": "payment", "MaHoSo": paid["national_code"], "amount_vnd": 50000,
          "transaction_id": "PAY-2"}, 201),
        ({"kind": "payment", "MaHoSo": paid["national_code"], "amount_vnd": 50000,
          "transaction_id": "PAY-2"}, 201),
        ({"kind": "withdrawal", "MaHoSo": late["national_code"], "reason": "Không cần nữa"},
         201),
        ({"kind": "payment", "MaHoSo": "G22.99-KHONG-CO", "amount_vnd": 1000,
          "transaction_id": "PAY-3"}, 202),
    ]
    for body, status in facts:
        resp = province.fact(body)
        assert resp.status_code == status, (body, resp.text)
    flagged = hub.get("/api/v1/inbound/facts?status=flagged").json()["items"]
    assert [f["national_code"] for f in flagged] == ["G22.99-KHONG-CO"]
    for bad in ({"kind": "payment", "MaHoSo": paid["national_code"], "amount_vnd": 1.5,
                 "transaction_id": "X"}, {"kind": "refund", "MaHoSo": "A-1"},
                {"kind": "withdrawal", "reason": "x"}):
        resp = province.fact(bad)
        assert resp.status_code == 400 and resp.json()["error"]["fields"], bad
    world.later(minutes=5)
    assert sync(db, cfg, world).error is None

    first = dossier_store.get(db, first["code"])
    assert first["pending_request"] == "withdrawal" and first["status"] == "CHO_TIEP_NHAN"
    withdrawn = world.act(first["code"], "withdraw", "canbo", reason="Theo yêu cầu trên Cổng")
    assert withdrawn["status"] == "DA_RUT" and withdrawn["pending_request"] == ""
    paid = dossier_store.get(db, paid["code"])
    assert (paid["fee_paid_vnd"], paid["payment_status"], paid["online_paid"]) == (
        50000, "paid", 1)
    assert paid["pending_request"] == "adjustment"
    resolved = world.act(paid["code"], "resolve_request", "canbo", note="Đã sửa số điện thoại")
    assert resolved["pending_request"] == ""
    late = dossier_store.get(db, late["code"])
    assert late["status"] == "DA_XU_LY_XONG" and late["pending_request"] == ""
    reasons = {f["code"]: f for f in province_store.flags(db)}
    assert set(reasons) == {"wrong_amount", "withdrawal_after_decision"}
    assert "40.000 đồng" in reasons["wrong_amount"]["reason"]
    assert "50.000 đồng" in reasons["wrong_amount"]["reason"]
    types = [e["type"] for e in dossier_store.events(db, paid["code"])]
    assert types.count("province_payment") == 2  # the wrong amount is kept, flagged
    assert "province_withdrawal_request" in [e["type"] for e in dossier_store.events(
        db, late["code"])]
    from edge_node.services.processing import projection_matches_events

    for code in (first["code"], paid["code"], late["code"]):
        assert projection_matches_events(db, code)


def test_dossier_codes_from_the_province_match_whatever_their_case(linked, cfg, db):
    hub, world = linked
    province = Province(hub)
    made = province.dossier(online_dossier(" g22.99-20261203-0000042 "))
    assert made.status_code == 201 and made.json()["MaHoSo"] == "G22.99-20261203-0000042"
    again = province.dossier(online_dossier("G22.99-20261203-0000042"))
    assert again.status_code == 409  # the same dossier, not a second one
    assert sync(db, cfg, world).error is None
    local = province_store.by_national_code(db, "G22.99-20261203-0000042")
    assert local is not None
    # was: both facts answered 202 "flagged", unknown dossier, and never reached the node
    adjusted = province.fact({"kind": "adjustment", "MaHoSo": "g22.99-20261203-0000042",
                              "reason": "Sửa số điện thoại"})
    assert adjusted.status_code == 201 and adjusted.json()["node_id"] == "03325-1"
    withdrawn = province.fact({"kind": "withdrawal", "dossier_code": local["code"].lower(),
                               "reason": "Đổi ý"})
    assert withdrawn.status_code == 201, withdrawn.text
    assert hub.get("/api/v1/inbound/facts?status=flagged").json()["items"] == []
    world.later(minutes=5)
    assert sync(db, cfg, world).error is None
    assert province_store.flags(db) == []  # the node found the dossier both times
    types = [e["type"] for e in dossier_store.events(db, local["code"])]
    assert "province_adjustment_request" in types and "province_withdrawal_request" in types


def _item(seq: int, kind: str, payload: dict) -> dict:
    return {"seq": seq, "kind": kind, "payload": payload}


def _online(national: str, tthc: str = "1.001731", at: str = "2026-12-07T00:30:00Z") -> dict:
    return {"received_at": at, "dossier": {
        "MaHoSo": national, "MaTTHC": tthc, "ChuHoSo": "Quàng Thị Mai",
        "SoGiayToChuHoSo": "011185004321", "SoDienThoai": "0987654321", "HinhThuc": 0,
        "TaiLieuNop": []}}


def test_the_node_keeps_what_it_cannot_apply_and_shows_it(db, clerk_client):
    from edge_node.domain.reports import parse_period
    from edge_node.services import reports
    from tests.integration.lifecycle_helpers import World, vn

    world = World(db, vn(2026, 12, 7, 8, 0))
    items = [_item(1, "dossier.inbound", _online("G22-A")),
             _item(2, "dossier.inbound", _online("G22-A")),  # the same item read twice
             _item(3, "dossier.inbound", _online("G22-B", tthc="9.999999")),
             _item(4, "dossier.fact", {"kind": "payment", "MaHoSo": "G22-Z",
                                       "amount_vnd": 2000, "transaction_id": "TX-9"}),
             _item(5, "notification.status", {"notification_id": "nope", "status": "sent"}),
             _item(6, "notification.status", {"notification_id": "x", "status": "lost"})]
    assert sync_service.apply_feed(db, items, lambda: world.now) == 6
    assert len(dossier_store.queue(db, "to_receive")) == 1
    flags = province_store.flags(db)
    assert sorted(f["code"] for f in flags) == ["unknown_dossier", "unknown_procedure"]
    assert all(f["payload"] for f in flags)  # the whole item is kept for the person
    refused = db.conn.execute("SELECT count(*) FROM audit WHERE action = 'feed.refused'"
                              ).fetchone()[0]
    assert refused == 1  # the unknown delivery status; the feed went on
    page = clerk_client.get("/province").get_data(as_text=True)
    assert "9.999999" in page and "G22-Z" in page
    assert "2 việc từ tỉnh cần xem" in clerk_client.get("/").get_data(as_text=True)
    form = clerk_client.get("/province").get_data(as_text=True)
    from tests.conftest import csrf_from

    done = clerk_client.post(f"/province/flags/{flags[0]['id']}/resolve",
                             data={"csrf_token": csrf_from(form)})
    assert done.status_code == 302 and len(province_store.flags(db)) == 1

    code = dossier_store.queue(db, "to_receive")[0]["code"]
    accepted = world.act(code, "accept", "canbo")
    assert accepted["steps"] and accepted["transfer_due_at"] and accepted["original_due_at"]
    told = province_store.notifications(db, code)[0]
    assert told["channel"] == "portal" and told["status"] == "queued"
    assert sync_service.apply_feed(db, [_item(7, "notification.status", {
        "notification_id": told["id"], "status": "failed", "at": "2026-12-07T02:00:00Z",
        "detail": "hộp thư đầy"})], lambda: world.now) == 1
    page = clerk_client.get(f"/dossiers/{code}").get_data(as_text=True)
    assert "Gửi không thành công" in page and "hộp thư đầy" in page
    report = reports.period_report(db, parse_period("2026-12-01", "2026-12-31"),
                                   now=world.now, cal=CAL)
    assert (report["received"]["online"], report["received"]["direct"]) == (1, 0)


def test_hub_cli_tokens_inbound_fact_and_refusals(tmp_path, cfg, db):
    from tests.integration.province_helpers import SEED
    from tests.integration.sync_helpers import Hub, node_cli

    hub = Hub(tmp_path / "hub")
    assert hub_cli(hub.home, "catalog", "import", str(SEED)).returncode == 0
    hub.start()
    try:
        assert node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                        hub.enroll_code()).returncode == 0
    finally:
        hub.stop()
    made = hub_cli(hub.home, "token", "create", "--label", "thử")
    assert made.returncode == 0 and made.stdout.startswith("hubtok_")
    assert "not shown again" in made.stderr
    prefix = hub_cli(hub.home, "token", "list").stdout.split("\t")[0]
    assert hub_cli(hub.home, "token", "revoke", prefix).returncode == 0
    assert "revoked" in hub_cli(hub.home, "token", "list").stdout
    assert hub_cli(hub.home, "token", "create", "--label", " ").returncode != 0

    body = tmp_path / "hs.json"
    body.write_text(json.dumps(online_dossier("G22-CLI-1")), encoding="utf-8")
    routed = hub_cli(hub.home, "inbound", str(body))
    assert routed.returncode == 0 and "Xã Mường Phăng" in routed.stdout
    again = hub_cli(hub.home, "inbound", str(body))
    assert again.returncode != 0 and "duplicate" in again.stderr
    body.write_text(json.dumps(online_dossier("G22-CLI-2", ChuHoSo="")), encoding="utf-8")
    bad = hub_cli(hub.home, "inbound", str(body))
    assert bad.returncode != 0 and "ChuHoSo" in bad.stderr
    fact = tmp_path / "fact.json"
    fact.write_text(json.dumps({"kind": "payment", "MaHoSo": "G22-KHONG", "amount_vnd": 500,
                                "transaction_id": "TX-CLI"}), encoding="utf-8")
    kept = hub_cli(hub.home, "fact", str(fact))
    assert kept.returncode == 0 and "Kept for a person" in kept.stdout
    assert "Sent 0, failed 0" in hub_cli(hub.home, "deliver").stdout
    out = tmp_path / "x.json"
    assert hub_cli(hub.home, "export-dvcqg", "--out", str(out), "--since",
                   "hôm qua").returncode != 0
