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


CUT_RESTORE = """
import os, shutil, signal, sys
from pathlib import Path
from edge_node.config import load_config
from edge_node.services import backup
real_move, moved = shutil.move, []
def move(src, dst):  # the power goes after the current database is set aside
    moved.append(src)
    real_move(src, dst)
    if src.endswith("edge-node.db"):
        os.kill(os.getpid(), signal.SIGKILL)
shutil.move = move
backup.restore(load_config(Path(sys.argv[1])), Path(sys.argv[2]))
"""


def test_a_restore_cut_short_never_becomes_a_brand_new_node(cfg, db, tmp_path):
    import subprocess
    import sys

    from tests.integration.test_cli import ENV, edge_node

    archive = tmp_path / "node.zip"
    assert edge_node(cfg.home, "backup", "--out", str(archive)).returncode == 0
    keys = {p.name: p.read_bytes() for p in (cfg.home / "keys").iterdir()}
    cut = subprocess.run([sys.executable, "-c", CUT_RESTORE, str(cfg.home), str(archive)],
                         capture_output=True, text=True, timeout=120, env=ENV)
    assert cut.returncode == -9, cut.stderr
    assert not cfg.db_path.exists()  # the window: old database aside, backup not in place

    # was: 'edge-node up' initialised a new node here (new keys, new admin, not enrolled)
    for command, code in ((["up", "--port", "1"], 1), (["init"], 1),
                          (["serve", "--port", "1"], 7)):
        refused = edge_node(cfg.home, *command)
        assert refused.returncode == code, (command, refused.stdout, refused.stderr)
        assert "restore" in refused.stderr and "interrupted" in refused.stderr
    assert not cfg.db_path.exists()
    told = edge_node(cfg.home, "status")
    assert told.returncode == 7 and "interrupted" in told.stdout + told.stderr

    again = edge_node(cfg.home, "restore", str(archive))
    assert again.returncode == 0, again.stderr
    assert {p.name: p.read_bytes() for p in (cfg.home / "keys").iterdir()} == keys
    assert edge_node(cfg.home, "status").returncode == 3


def test_a_backup_clears_what_killed_backups_left_behind(cfg, db, tmp_path):
    import os
    import time

    from tests.integration.test_cli import edge_node

    usb = tmp_path / "usb"
    old, fresh = usb / ".backup-dead", usb / ".backup-running"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "edge-node.db").write_bytes(b"a full copy of the citizens' data")
    partial = usb / "node-1.zip.partial"
    partial.write_bytes(b"PK half an archive")
    day_ago = time.time() - 24 * 3600
    for path in (old / "edge-node.db", old, partial):
        os.utime(path, (day_ago, day_ago))
    made = edge_node(cfg.home, "backup", "--out", str(usb / "node-2.zip"))
    assert made.returncode == 0, made.stderr
    # was: every backup cut by kill -9 or a power cut left these forever (twice its size)
    assert sorted(p.name for p in usb.iterdir()) == [".backup-running", "node-2.zip"]


def test_attachment_names_and_labels_cannot_disguise_a_file(cfg, db, tmp_path):
    """Downloads are named by the stored name: a PDF called ``a.exe`` was saved as a program
    name, ``inv\\u202efdp.exe`` showed as "invexe.pdf", and NUL/escape reached the label."""
    import subprocess
    import sys
    import time

    import requests

    from tests.integration.test_cli import ENV, free_port

    password = "Passw0rd-Strong-canbo"
    added = subprocess.run([sys.executable, "-m", "edge_node", "--home", str(cfg.home), "user",
                            "add", "canbo", "--role", "clerk", "--password-stdin"],
                           input=password + "\n", capture_output=True, text=True, env=ENV)
    assert added.returncode == 0, added.stderr
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "edge_node", "--home", str(cfg.home),
                               "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=ENV)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(base + "/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        made = requests.post(base + "/api/v1/session", timeout=10, json={
            "username": "canbo", "password": password, "label": "máy\x00\x1b[2J quét\u202e"})
        assert made.status_code == 201, made.text
        auth = {"Authorization": f"Bearer {made.json()['token']}"}
        tokens = requests.get(base + "/api/v1/tokens", headers=auth, timeout=10).json()
        assert [t["label"] for t in tokens["items"]] == ["máy[2J quét"]
        procedure = requests.get(base + "/api/v1/procedures", headers=auth,
                                 timeout=10).json()["items"][0]["code"]
        dossier = requests.post(base + "/api/v1/dossiers", headers=auth, timeout=10, json={
            "procedure_code": procedure, "return_method": "counter",
            "applicant": {"full_name": "Lò Văn A", "id_number": "011185004321",
                          "phone": "0912345678", "address": "Bản A"}})
        assert dossier.status_code == 201, dossier.text
        url = f"{base}/api/v1/dossiers/{dossier.json()['code']}/attachments"
        names = {}
        for name, content in (("a.exe", b"%PDF-1.4 one"), ("inv\u202efdp.exe", b"%PDF-1.4 two"),
                              ("Giấy khai sinh.pdf", b"%PDF-1.4 three"),
                              ("ảnh.JPG", b"\xff\xd8\xff four")):
            sent = requests.post(url, headers=auth, timeout=10, data={"label": "a\x00\x1bb"},
                                 files={"file": (name, content, "application/octet-stream")})
            assert sent.status_code == 201, sent.text
            assert sent.json()["label"] == "ab"
            names[name] = sent.json()["name"]
        assert names == {"a.exe": "a.exe.pdf", "inv\u202efdp.exe": "invfdp.exe.pdf",
                         "Giấy khai sinh.pdf": "Giấy khai sinh.pdf", "ảnh.JPG": "ảnh.JPG"}
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_a_fact_naming_two_different_dossiers_is_flagged_not_applied(linked, cfg, db):
    """The hub routes a fact by MaHoSo; the node looked up dossier_code first, so a withdrawal
    for the online dossier M landed on the counter dossier C of another applicant."""
    from edge_node.store import dossiers as dossier_store
    from edge_node.store import province as province_store
    from tests.integration.province_helpers import sync

    hub, world = linked
    province = Province(hub)
    assert province.dossier(online_dossier("G22.99-BRK-0001")).status_code == 201
    counter = world.receive()["code"]
    assert sync(db, cfg, world).error is None
    before = dossier_store.get(db, counter)
    sent = province.fact({"kind": "withdrawal", "MaHoSo": "G22.99-BRK-0001",
                          "dossier_code": counter, "reason": "Tôi muốn rút hồ sơ"})
    assert sent.status_code == 201, sent.text
    assert sync(db, cfg, world).error is None
    assert dossier_store.get(db, counter)["pending_request"] == before["pending_request"]
    assert [f["code"] for f in province_store.flags(db)] == ["ambiguous_dossier"]


@pytest.mark.parametrize("since", ["0001-01-01", "0001-01-01T00:00:00+14:00",
                                   "9999-12-31T23:59:59-14:00"])
def test_a_since_at_the_edge_of_the_calendar_is_a_bad_since(tmp_path, since):
    from tests.integration.sync_helpers import hub_cli

    home = tmp_path / "hub"
    assert hub_cli(home, "migrate").returncode == 0
    done = hub_cli(home, "export-dvcqg", "--out", str(tmp_path / "x.json"), "--since", since)
    # was: an OverflowError traceback (and a bare bad_input on GET /api/v1/export/dvcqg)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "--since must be" in done.stderr
