"""Inputs found by trying to break the hub's inbound API and the node's tools.

Each test is the reproduction of one finding, run against real processes on 127.0.0.1.
"""

from __future__ import annotations

import pytest

from tests.integration.province_helpers import Province, online_dossier
from tests.integration.sync_helpers import linked_node


@pytest.fixture
def linked(tmp_path, cfg, db):
    yield from linked_node(tmp_path, cfg, db)


@pytest.mark.parametrize(("field", "changes"), [
    # a document name with NUL and a terminal escape reached the clerk's screen as is
    ("TaiLieuNop", {"TaiLieuNop": [{"TenTepDinhKem": "Tờ khai\x00\x1b[31m"}]}),
    # a JSON object as a document code was kept as its Python repr, cut at 64
    ("TaiLieuNop", {"TaiLieuNop": [{"TenTepDinhKem": "Tờ khai",
                                    "MaThanhPhanHoSo": {"a": [1] * 100}}]}),
    # 1.0 passed for the 0/1 flag "VNeID-verified"
    ("TaiKhoanDuocXacThucVoiVNeID", {"TaiKhoanDuocXacThucVoiVNeID": 1.0}),
    # year 1 in Vietnam is before year 1 in UTC: was a bare bad_input without fields
    ("NgayNopHoSo", {"NgayNopHoSo": "00010101000000"}),
    ("NgayNopHoSo", {"NgayNopHoSo": "20261301000000"}),
])
def test_inbound_dossier_refuses_nonsense_with_the_field(linked, field, changes):
    hub, _world = linked
    province = Province(hub)
    resp = province.dossier(online_dossier("BRK-1", **changes))
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]
    assert hub.sql("SELECT count(*) FROM hub_inbound") == [(0,)]


def test_inbound_dossier_document_codes_may_be_numbers(linked):
    hub, _world = linked
    province = Province(hub)
    resp = province.dossier(online_dossier("BRK-2", TaiLieuNop=[
        {"TenTepDinhKem": "Tờ khai", "MaThanhPhanHoSo": 12, "TepDinhKemId": "f-1"}]))
    assert resp.status_code == 201, resp.text
