"""Catalog: seed, search with and without diacritics (Đ too), imports."""

import json
import subprocess
import sys

from edge_node.domain.clock import now_utc
from edge_node.services import catalog as catalog_service
from edge_node.store import catalog as catalog_store
from tests.conftest import REFERENCE, add_user, api_token, csrf_from


def names(rows):
    return [r["name"] for r in rows]


def test_seed_catalog_has_the_commonest_commune_procedures(db):
    assert catalog_store.count(db) >= 30
    fields = {r["field"] for r in catalog_store.list_page(db, 500)}
    assert {"Hộ tịch", "Chứng thực"} <= fields


def test_search_without_diacritics_finds_d_with_stroke(db):
    assert names(catalog_service.search(db, "dang ky khai sinh"))[0] == "Đăng ký khai sinh"
    assert names(catalog_service.search(db, "Đăng ký khai sinh"))[0] == "Đăng ký khai sinh"
    assert names(catalog_service.search(db, "DANG KY KHAI SINH"))[0] == "Đăng ký khai sinh"
    assert "Đăng ký khai sinh" in names(catalog_service.search(db, "khai sinh"))
    assert catalog_service.search(db, "1.001193")[0]["code"] == "1.001193"
    assert catalog_service.search(db, "zzzz khong co") == []


def test_accent_exact_matches_rank_first(db):
    at = now_utc()
    raw = json.dumps({"format": "edge-node-catalog/1", "procedures": [
        {"code": "9.000001", "name": "Thủ tục đường giao thông nông thôn"},
        {"code": "9.000002", "name": "Thủ tục dương lịch tham khảo"},
    ]})
    catalog_service.import_catalog(db, raw.encode(), now=at, actor="t", source="t")
    assert [r["code"] for r in catalog_service.search(db, "dương")][:1] == ["9.000002"]
    assert [r["code"] for r in catalog_service.search(db, "đường")][:1] == ["9.000001"]
    both = {r["code"] for r in catalog_service.search(db, "duong")}
    assert {"9.000001", "9.000002"} <= both


def test_import_reference_catalog_then_reimport_bumps_version(db):
    raw = (REFERENCE / "tthc_catalog.json").read_bytes()
    first = catalog_service.import_catalog(db, raw, now=now_utc(), actor="t", source="ref")
    assert first["procedures"] == 573
    total = catalog_store.count(db)
    assert total >= 573
    second = catalog_service.import_catalog(db, raw, now=now_utc(), actor="t", source="ref")
    assert second["version"] == first["version"] + 1
    assert catalog_store.count(db) == total  # upsert by code, no duplicates
    # search still folds Đ across the full catalog
    assert any("khai sinh" in n for n in names(catalog_service.search(db, "dang ky khai sinh")))


def test_failed_import_leaves_old_catalog_intact(db):
    before = catalog_store.count(db)
    version = catalog_store.current_version(db)
    bad = json.dumps({"format": "edge-node-catalog/1", "procedures": [
        {"code": "1.001193", "name": "Tên mới"}, {"name": "thiếu mã"}]}).encode()
    try:
        catalog_service.import_catalog(db, bad, now=now_utc(), actor="t", source="bad")
    except ValueError:
        pass
    else:
        raise AssertionError("a catalog without codes must be refused")
    assert catalog_store.count(db) == before
    assert catalog_store.current_version(db) == version
    assert catalog_store.get(db, "1.001193")["name"] == "Đăng ký khai sinh"


def test_cli_import_and_its_error_message(cfg, initialised, tmp_path):
    cmd = [sys.executable, "-m", "edge_node", "--home", str(cfg.home), "catalog", "import"]
    ok = subprocess.run(cmd + [str(REFERENCE / "tthc_catalog.json")], capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "Imported 573 procedures" in ok.stdout
    junk = tmp_path / "junk.json"
    junk.write_text("{not json", encoding="utf-8")
    bad = subprocess.run(cmd + [str(junk)], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    assert "not valid JSON" in bad.stderr and "old catalog is unchanged" in bad.stderr


def test_search_page_and_api(app, db):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    headers = api_token(client, "canbo1")
    items = client.get("/api/v1/procedures?q=dang ky khai sinh", headers=headers).get_json()[
        "items"]
    first = items[0]
    assert first["name"] == "Đăng ký khai sinh"
    assert first["time_limit"] == {"value": 1, "unit": "same_day"}
    assert first["fee_vnd"] == 0 and first["documents"]
    assert set(first) == {"code", "name", "field", "time_limit", "fee_vnd", "documents"}


def test_admin_uploads_a_catalog_in_the_browser(app, db):
    add_user(db, "quantri", "admin")
    client = app.test_client()
    from tests.conftest import login

    login(client, "quantri")
    page = client.get("/admin/catalog").get_data(as_text=True)
    import io

    # A slice of the reference file keeps the upload in memory (the test client
    # leaves spooled temporary files of large bodies open).
    full = json.loads((REFERENCE / "tthc_catalog.json").read_bytes())
    part = json.dumps({"procedures": full["procedures"][:5]}).encode()
    resp = client.post("/admin/catalog", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page), "file": (io.BytesIO(part), "tthc.json")})
    assert resp.status_code == 200
    assert "Đã nhập 5 thủ tục" in resp.get_data(as_text=True)
    resp = client.post("/admin/catalog", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(page), "file": (io.BytesIO(b"rubbish"), "x.json")})
    assert resp.status_code == 400
    assert "Danh mục cũ giữ nguyên" in resp.get_data(as_text=True)
