import json

import pytest

from edge_node.domain.catalog_formats import CatalogError, parse_catalog
from tests.conftest import REFERENCE


def test_native_format_reads_limits_fees_and_documents():
    raw = json.dumps({"format": "edge-node-catalog/1", "version": "t1", "procedures": [
        {"code": "1.001193", "name": "Đăng ký khai sinh", "field": "Hộ tịch",
         "time_limit": {"value": 1, "unit": "same_day"}, "fee_vnd": 0,
         "documents": ["Tờ khai", "Tờ khai", "Giấy chứng sinh"]}]})
    fmt, label, procs = parse_catalog(raw)
    assert (fmt, label) == ("edge-node-catalog/1", "t1")
    p = procs[0]
    assert (p.time_limit_value, p.time_limit_unit, p.fee_vnd) == (1, "same_day", 0)
    assert p.documents == ["Tờ khai", "Giấy chứng sinh"]


def test_lay_thu_tuc_shape():
    answer = {"result": [{
        "MATTHC": "2.000908", "TENTTHC": "Cấp bản sao từ sổ gốc",
        "LINHVUCTHUCHIEN": [{"MALINHVUC": "G09-TP07", "TENLINHVUC": "Chứng thực"}],
        "CACHTHUCTHUCHIEN": [
            {"KENH": "2", "THOIGIAN": [{"THOIGIANGIAIQUYET": "2", "DONVITINH": "Ngày"}]},
            {"KENH": "1", "THOIGIAN": [{
                "THOIGIANGIAIQUYET": "1", "DONVITINH": "Ngày làm việc",
                "PHILEPHI": [{"SOTIEN": "2000", "MOTA": "2.000 đ/trang"}]}]},
        ],
        "THANHPHANHOSO": [{"GIAYTO": [{"MAGIAYTO": "1", "TENGIAYTO": "Giấy tờ tùy thân"}]}],
        "CANCUPHAPLY": [{"SOVANBAN": "23/2015/NĐ-CP", "TENVANBAN": "Nghị định chứng thực"}],
    }]}
    fmt, _, procs = parse_catalog(json.dumps(answer))
    p = procs[0]
    assert fmt == "dvcqg-laythutuc"
    assert (p.code, p.field) == ("2.000908", "Chứng thực")
    # the counter channel (KENH 1) is the one a commune One-stop applies
    assert (p.time_limit_value, p.time_limit_unit, p.fee_vnd) == (1, "working_days", 2000)
    assert p.documents == ["Giấy tờ tùy thân"]
    assert "23/2015/NĐ-CP" in p.legal_basis


def test_reference_catalog_parses_all_573():
    fmt, _, procs = parse_catalog((REFERENCE / "tthc_catalog.json").read_bytes())
    assert fmt == "tthc-reference"
    assert len(procs) == 573
    khai_sinh = next(p for p in procs if p.code == "1.001193")
    assert "khai sinh" in khai_sinh.name
    # a bare number without unit is read as working days and flagged
    assert khai_sinh.time_limit_unit == "working_days" and khai_sinh.time_limit_inferred


@pytest.mark.parametrize("raw,fragment", [
    (b"not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[]", "unrecognised"),
    (b'{"format": "edge-node-catalog/1", "procedures": []}', "no procedures"),
    (b'{"format": "edge-node-catalog/1", "procedures": [{"name": "X"}]}', "without a code"),
    (b'{"format": "edge-node-catalog/1", "procedures": [{"code": "1.1"}]}', "without a name"),
    (b'{"format": "edge-node-catalog/1", "procedures": [{"code": "a b", "name": "X"}]}',
     "bad procedure code"),
    (b'{"format": "edge-node-catalog/1", "procedures": [{"code": "1", "name": "X"},'
     b' {"code": "1", "name": "Y"}]}', "twice"),
    (b'{"format": "edge-node-catalog/1", "procedures": [{"code": "1", "name": "X",'
     b' "fee_vnd": -5}]}', "negative fee"),
    (b'{"procedures": [{"ten_thu_tuc": "X"}]}', "without a code"),
])
def test_bad_catalogs_are_refused(raw, fragment):
    with pytest.raises(CatalogError) as err:
        parse_catalog(raw)
    assert fragment in str(err.value)
