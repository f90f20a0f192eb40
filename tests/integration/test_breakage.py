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


def _rehash(archive, member: str, content: bytes, out) -> None:
    """Copy *archive* to *out* with *member* replaced and the manifest agreeing with it."""
    import hashlib
    import json
    import zipfile

    with zipfile.ZipFile(archive) as src:
        files = {n: src.read(n) for n in src.namelist()}
    manifest = json.loads(files["manifest.json"])
    manifest["members"][member] = {"sha256": hashlib.sha256(content).hexdigest(),
                                   "size": len(content)}
    files["manifest.json"], files[member] = json.dumps(manifest).encode(), content
    with zipfile.ZipFile(out, "w") as dst:
        for name, data in files.items():
            dst.writestr(name, data)


def test_restore_of_a_backup_whose_database_is_not_sqlite_is_refused_cleanly(cfg, db,
                                                                             tmp_path):
    from tests.integration.test_cli import edge_node

    good = tmp_path / "good.zip"
    assert edge_node(cfg.home, "backup", "--out", str(good)).returncode == 0
    bad = tmp_path / "bad.zip"
    _rehash(good, "edge-node.db", b"not a database at all " * 100, bad)
    before = cfg.db_path.read_bytes()
    done = edge_node(cfg.home, "restore", str(bad))
    # was: a sqlite3.DatabaseError traceback
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "restore refused, the home is unchanged" in done.stderr
    assert "damaged" in done.stderr
    assert cfg.db_path.read_bytes() == before
    assert not list(cfg.home.glob("pre-restore-*")) and not list(cfg.home.glob(".restore-*"))


def test_backup_on_a_full_disk_fails_with_the_message_and_keeps_no_file(cfg, db, tmp_path):
    import resource
    import subprocess
    import sys

    from tests.integration.test_cli import ENV

    out = tmp_path / "usb" / "node.zip"

    def small_files():  # the disk is "full" after 64 KiB: SQLite's VACUUM INTO fails
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    done = subprocess.run([sys.executable, "-m", "edge_node", "--home", str(cfg.home),
                           "backup", "--out", str(out)], capture_output=True, text=True,
                          timeout=120, env=ENV, preexec_fn=small_files)
    # was: a sqlite3.OperationalError traceback ("disk I/O error")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "backup failed, no file kept" in done.stderr
    assert list(out.parent.iterdir()) == []
