"""Backups, restore and upgrades as IT staff run them: real homes, real processes."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import requests

from edge_node.config import load_config
from edge_node.domain.clock import now_utc, to_iso
from edge_node.services import backup as backup_service
from edge_node.services.node import init_home
from edge_node.store import settings
from edge_node.store.db import open_db, write_tx
from edge_node.store.migrations import MIGRATIONS
from tests.integration.lifecycle_helpers import World, vn
from tests.integration.test_cli import ENV, edge_node, free_port, wait_for

TABLES = ("dossiers", "dossier_events", "outbox", "audit", "users", "settings",
          "code_sequences", "procedures")

CURRENT = MIGRATIONS[-1][0]  # the schema this version of the node writes


def dump(path) -> dict:
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    finally:
        con.close()


def only_backup(folder):
    files = sorted(folder.glob("*.zip"))
    assert len(files) == 1, files
    return files[0]


def test_backup_then_lose_the_home_then_restore_gives_the_same_data(cfg, db, tmp_path):
    world = World(db, vn(2026, 12, 7, 8, 0))
    codes = [world.receive()["code"] for _ in range(3)]
    world.act(codes[0], "transfer", "canbo")
    (cfg.home / "attachments" / "ab").mkdir(parents=True)
    (cfg.home / "attachments" / "ab" / "scan.pdf").write_bytes(b"%PDF-1.4 giay to")
    before = dump(cfg.db_path)
    keys = {p.name: p.read_bytes() for p in (cfg.home / "keys").iterdir()}
    out = tmp_path / "usb" / "node.zip"

    made = edge_node(cfg.home, "backup", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert "verified" in made.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # private keys inside
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert manifest["schema_version"] == CURRENT and manifest["agency_id"] == "DEM.00.00.Z00"
    assert {"edge-node.db", "config.toml", "secret_key", "keys/sign_ed25519.pem",
            "attachments/ab/scan.pdf"} <= set(manifest["members"])
    assert all(len(m["sha256"]) == 64 for m in manifest["members"].values())

    db.conn.close()
    shutil.rmtree(cfg.home)  # the disk died
    restored = edge_node(cfg.home, "restore", str(out))
    assert restored.returncode == 0, restored.stderr
    con = sqlite3.connect(cfg.db_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    after = dump(cfg.db_path)
    restored_settings = dict(after.pop("settings"))
    before_settings = dict(before.pop("settings"))
    restore_entry = after["audit"].pop()
    assert restore_entry[3] == "backup.restored"  # the restore itself is audited
    assert after["outbox"].pop()[2] == "audit.entry"  # ...and its entry goes to the province
    assert after == before
    assert restored_settings["backup.restored_at"]
    assert {k: v for k, v in restored_settings.items() if not k.startswith("backup.")} == \
        {k: v for k, v in before_settings.items() if not k.startswith("backup.")}
    assert {p.name: p.read_bytes() for p in (cfg.home / "keys").iterdir()} == keys
    assert (cfg.home / "attachments" / "ab" / "scan.pdf").read_bytes() == b"%PDF-1.4 giay to"
    # the node opens and its audit chain still verifies
    assert edge_node(cfg.home, "audit", "verify").returncode == 0


def test_a_damaged_archive_is_refused_and_the_home_left_alone(cfg, db, tmp_path):
    World(db, vn(2026, 12, 7, 8, 0)).receive()
    good = backup_service.create_backup(cfg, tmp_path / "good.zip").path
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "secret_key":
                data = b"x" + data[1:]
            dst.writestr(item, data)
    before = dump(cfg.db_path)
    result = edge_node(cfg.home, "restore", str(bad))
    assert result.returncode == 1
    assert "secret_key does not match its sha256" in result.stderr
    assert dump(cfg.db_path) == before
    assert not list(cfg.home.glob("pre-restore-*"))
    # a backup that cannot be written leaves nothing behind and exits non-zero
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    failed = edge_node(cfg.home, "backup", "--out", str(blocked / "x.zip"))
    assert failed.returncode == 1 and "backup failed" in failed.stderr
    assert not list(tmp_path.rglob("*.partial"))


def _pretend_enrolled(home, node_id, agency):
    db = open_db(home / "edge-node.db")
    try:
        with write_tx(db):
            settings.put(db, "sync.node_id", node_id)
            settings.put(db, "sync.agency_id", agency)
    finally:
        db.conn.close()


def test_restoring_another_nodes_backup_needs_force(tmp_path):
    homes = {}
    for name, node_id, agency in (("a", "03325-1", "000.25.33.H18"),
                                  ("b", "03326-1", "000.26.33.H18")):
        cfg = load_config(tmp_path / name, environ={})
        init_home(cfg)
        _pretend_enrolled(cfg.home, node_id, agency)
        homes[name] = cfg
    archive = backup_service.create_backup(homes["a"], tmp_path / "a.zip").path
    before = dump(homes["b"].db_path)
    refused = edge_node(homes["b"].home, "restore", str(archive))
    assert refused.returncode == 1
    assert "belongs to node 03325-1" in refused.stderr and "--force" in refused.stderr
    assert dump(homes["b"].db_path) == before
    forced = edge_node(homes["b"].home, "restore", str(archive), "--force")
    assert forced.returncode == 0, forced.stderr
    db = open_db(homes["b"].db_path)
    try:
        assert settings.get(db, "sync.node_id") == "03325-1"
        assert settings.get(db, "sync.recover")  # an enrolled node asks the hub first
    finally:
        db.conn.close()
    aside = list(homes["b"].home.glob("pre-restore-*"))
    assert len(aside) == 1 and (aside[0] / "edge-node.db").exists()
    assert (aside[0] / "keys" / "sign_ed25519.pem").exists()


# The disk fails once the backup's database is in place: SQLite's answer to an I/O error.
FAILING_DISK_RESTORE = """
import sqlite3, sys
from edge_node import cli
from edge_node.services import backup
def failing_disk(*args, **kwargs):
    raise sqlite3.OperationalError("disk I/O error")
backup._mark_restored = failing_disk
sys.argv = ["edge-node", "--home", sys.argv[1], "restore", sys.argv[2]]
cli.main()
"""


def test_a_restore_failing_after_the_swap_says_so_and_a_rerun_finishes_it(cfg, db, tmp_path):
    World(db, vn(2026, 12, 7, 8, 0)).receive()
    archive = backup_service.create_backup(cfg, tmp_path / "node.zip").path
    keys = {p.name: p.read_bytes() for p in (cfg.home / "keys").iterdir()}
    failed = subprocess.run([sys.executable, "-c", FAILING_DISK_RESTORE, str(cfg.home),
                             str(archive)], capture_output=True, text=True, timeout=120, env=ENV)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr
    # was: "restore refused, the home is unchanged" although the database had been swapped
    assert "unchanged" not in failed.stderr and "restore incomplete" in failed.stderr
    assert "begun to replace the home's database" in failed.stderr
    assert f"edge-node restore {archive}' again" in failed.stderr
    aside = list(cfg.home.glob("pre-restore-*"))
    assert len(aside) == 1 and str(aside[0]) in failed.stderr
    assert (aside[0] / "edge-node.db").exists()  # the home's own database is kept aside
    assert (cfg.home / "restore-in-progress.json").exists()
    for command in (["up", "--port", "1"], ["init"]):
        refused = edge_node(cfg.home, *command)
        assert refused.returncode == 1 and "interrupted" in refused.stderr, refused.stderr

    again = edge_node(cfg.home, "restore", str(archive))
    assert again.returncode == 0, again.stderr
    # the home's own files are where the first attempt put them, and the rerun says so
    assert f"The previous files are in {aside[0]}." in again.stdout
    assert "What the interrupted restore had left in the home is in" in again.stdout
    assert not (cfg.home / "restore-in-progress.json").exists()
    assert {p.name: p.read_bytes() for p in (cfg.home / "keys").iterdir()} == keys
    assert edge_node(cfg.home, "status").returncode == 3


@pytest.fixture
def serving(tmp_path):
    home, port = tmp_path / "home", free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_node", "--home", str(home), "up", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", proc)
        yield home, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_backup_while_serving_and_restore_refused_while_serving(serving, tmp_path):
    home, port = serving
    db = open_db(home / "edge-node.db")
    try:
        world = World(db, vn(2026, 12, 7, 8, 0))
        for _ in range(5):
            world.receive()
        made = edge_node(home, "backup", "--out", str(tmp_path / "live.zip"))
        assert made.returncode == 0, made.stderr
        world.receive()  # clerks keep working during and after
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert health["status"] == "ok" and health["integrity"] == "ok"
        assert 0 <= health["last_backup_age_seconds"] < 120
        assert health["disk_free_bytes"] > 0
        assert health["sync_backlog"] == db.conn.execute(
            "SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0] >= 6
        manifest = backup_service.verify_archive(tmp_path / "live.zip", tmp_path / "check")
        con = sqlite3.connect(tmp_path / "check" / "edge-node.db")
        assert con.execute("SELECT count(*) FROM dossiers").fetchone()[0] == 5
        con.close()
        assert manifest["schema_version"] == CURRENT
        before = dump(home / "edge-node.db")
        refused = edge_node(home, "restore", str(tmp_path / "live.zip"))
        assert refused.returncode == 5 and "already serving" in refused.stderr  # 5: locked
        assert dump(home / "edge-node.db") == before
    finally:
        db.conn.close()


# -- upgrades: a failing migration is injected into a child process only ------------------------

INJECT = """
import sys
import edge_node.store.migrations as m
m.MIGRATIONS.append((1000, ["CREATE TABLE upgraded (x INTEGER)",
                            "INSERT INTO upgraded VALUES (1)"]))
if sys.argv[1] == "fail":
    m.MIGRATIONS.append((1001, ["ALTER TABLE dossiers ADD COLUMN extra TEXT",
                                "INSERT INTO no_such_table VALUES (1)"]))
sys.argv = ["edge-node", *sys.argv[2:]]
from edge_node.cli import main
main()
"""


def upgrade(mode, home, *args, **kwargs):
    return subprocess.run([sys.executable, "-c", INJECT, mode, "--home", str(home), *args],
                          capture_output=True, text=True, timeout=60, env=ENV, **kwargs)


def test_a_failed_migration_puts_the_old_database_back(cfg, db):
    World(db, vn(2026, 12, 7, 8, 0)).receive()
    db.conn.close()
    before = dump(cfg.db_path)
    result = upgrade("fail", cfg.home, "migrate")
    assert result.returncode == 1
    assert "migration failed" in result.stderr and "previous version keeps working" in \
        result.stderr
    con = sqlite3.connect(cfg.db_path)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == CURRENT
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'upgraded'").fetchone()
    finally:
        con.close()
    after = dump(cfg.db_path)
    before.pop("settings"), after.pop("settings")
    assert after == before
    assert len(list((cfg.home / "backups").glob("edge-node-pre-migrate-*.zip"))) == 1
    # the old version still opens and works
    assert edge_node(cfg.home, "audit", "verify").returncode == 0
    assert edge_node(cfg.home, "migrate").stdout.startswith("The database is up to date")


def test_migrate_and_serve_back_up_before_a_pending_migration(cfg, initialised, tmp_path):
    done = upgrade("ok", cfg.home, "migrate")
    assert done.returncode == 0, done.stderr
    assert "Applied migrations 1000" in done.stdout
    pre = list((cfg.home / "backups").glob("edge-node-pre-migrate-*.zip"))
    assert len(pre) == 1 and backup_service.read_manifest(pre[0])["schema_version"] == CURRENT
    # a new version started with 'up' takes the same path
    other = load_config(tmp_path / "other", environ={})
    init_home(other)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", INJECT, "ok", "--home", str(other.home),
                             "up", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz", proc).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
    assert len(list((other.home / "backups").glob("edge-node-pre-migrate-*.zip"))) == 1
    con = sqlite3.connect(other.db_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1000
    con.close()


# -- the daily backup and its rotation ------------------------------------------------------


def test_rotation_keeps_seven_days_and_four_weeks(tmp_path):
    start = datetime(2026, 10, 1, 5, 0, tzinfo=UTC)
    for day in range(60):
        for hour in (0, 6):  # two a day: only the newest of a day is kept
            at = start + timedelta(days=day, hours=hour)
            (tmp_path / f"edge-node-auto-{at:%Y%m%dT%H%M%SZ}.zip").write_bytes(b"z")
    (tmp_path / "edge-node-20261001T000000Z.zip").write_bytes(b"by hand")
    backup_service.rotate(tmp_path)
    kept = sorted(p.name for p in tmp_path.glob("edge-node-auto-*.zip"))
    days = sorted({n[15:23] for n in kept})
    assert len(kept) == len(days)  # one per day
    last_seven = [(start + timedelta(days=d)).strftime("%Y%m%d") for d in range(53, 60)]
    assert set(last_seven) <= set(days)
    weeks = {datetime.strptime(d, "%Y%m%d").isocalendar()[:2] for d in days}
    assert len(weeks) == 4 and len(kept) <= 7 + 4
    assert (tmp_path / "edge-node-20261001T000000Z.zip").exists()


def test_the_daily_job_backs_up_once_a_day_after_the_hour(cfg, db):
    from edge_node.jobs import backup_job

    hour = cfg.backup_hour
    morning = vn(2026, 12, 7, hour - 1, 0)
    assert backup_job(cfg, now=morning) is None  # not yet
    first = backup_job(cfg, now=morning + timedelta(hours=2))
    assert first and "edge-node-auto-" in first
    assert backup_job(cfg, now=morning + timedelta(hours=5)) is None  # one a day
    assert backup_job(cfg, now=morning + timedelta(days=1, hours=2))
    assert len(list(cfg.backups_path.glob("edge-node-auto-*.zip"))) == 2
    assert settings.get(db, "backup.last_at") == to_iso(morning + timedelta(days=1, hours=2))
    off = load_config(cfg.home, environ={"EDGE_NODE_BACKUP_ENABLED": "0"})
    assert backup_job(off, now=morning + timedelta(days=3, hours=2)) is None


def test_healthz_reports_integrity_disk_backup_age_and_backlog(app, db, cfg):
    client = app.test_client()
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["db"] == "ok" and body["integrity"] == "ok"
    assert body["last_backup_at"] is None and body["last_backup_age_seconds"] is None
    assert body["sync_backlog"] == db.conn.execute(
        "SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]
    assert body["disk_free_bytes"] > 0
    World(db, vn(2026, 12, 7, 8, 0)).receive()
    backup_service.create_backup(cfg, now=now_utc() - timedelta(hours=30))
    body = client.get("/healthz").get_json()
    assert body["sync_backlog"] >= 1
    assert 30 * 3600 <= body["last_backup_age_seconds"] < 31 * 3600


def test_after_a_restore_no_new_work_is_recorded_until_the_hub_has_answered(app, db):
    from tests.conftest import add_user, api_token, valid_dossier

    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    headers = api_token(client, "canbo1")
    with write_tx(db):
        settings.put(db, "sync.recover", "2026-12-07T01:00:00Z")  # as 'restore' leaves it
    before = db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    resp = client.post("/api/v1/dossiers", json=valid_dossier(), headers=headers)
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "recovery_pending"
    assert db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == before
    assert db.conn.execute("SELECT count(*) FROM dossiers").fetchone()[0] == 0
    assert client.get("/api/v1/dossiers", headers=headers).status_code == 200  # reading works
    from tests.conftest import login

    with write_tx(db):
        settings.put(db, "sync.node_id", "03325-1")
        settings.put(db, "sync.hub_bundle", "{}")
    browser = app.test_client()
    assert login(browser, "canbo1").status_code == 302
    page = browser.get("/sync").get_data(as_text=True)
    assert "khôi phục từ bản sao lưu" in page
