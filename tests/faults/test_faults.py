"""Sync under faults: a misbehaving link, kill -9, a full disk, a hub restored from backup,
a wrong clock. After each: nothing lost, nothing duplicated, both databases intact,
and sync resumes by itself."""

import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from edge_node.domain.clock import now_utc
from edge_node.services import sync as sync_service
from edge_node.store import settings
from edge_node.store.db import write_tx
from tests.faults.proxy import FaultProxy
from tests.integration.sync_helpers import ENV, linked_node, synced_then_hub_backup

pytestmark = pytest.mark.usefixtures("hub_backend")


@pytest.fixture
def linked(tmp_path, cfg, db):
    yield from linked_node(tmp_path, cfg, db)


def point_node_at(db, url):
    with write_tx(db):
        settings.put(db, "sync.hub_url", url)


def assert_converged(hub, cfg, db):
    """Zero lost, zero duplicated, both databases intact."""
    for _ in range(5):
        if sync_service.sync_once(db, cfg, now_fn=now_utc).error is None:
            break
    status = sync_service.status(db)
    assert status["pending_events"] == 0, status
    total = db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert hub.intact()
    node_id = sync_service.enrolled(db)["node_id"]
    seqs = [r[0] for r in hub.sql("SELECT seq FROM hub_events WHERE node_id = ? ORDER BY seq",
                                  (node_id,))]
    assert seqs == list(range(1, total + 1))
    ids = {r[0] for r in hub.sql("SELECT event_id FROM hub_events")}
    mine = {r[0] for r in db.conn.execute("SELECT event_id FROM outbox")}
    assert ids == mine
    codes = {r[0] for r in db.conn.execute("SELECT code FROM dossiers")}
    hub_codes = {r[0] for r in hub.sql("SELECT code FROM hub_dossiers")}
    assert hub_codes == codes
    assert sync_service.reconcile(db, cfg, now_fn=now_utc)["match"]


def test_a_misbehaving_link_loses_and_duplicates_nothing(linked, cfg, db):
    hub, world = linked
    proxy = FaultProxy(hub.port, seed=7)
    point_node_at(db, proxy.url)
    proxy.mode = "random"
    rng = random.Random(3)
    try:
        for _ in range(40):
            for _ in range(rng.randint(0, 4)):
                world.later(minutes=5)
                world.receive()
            sync_service.sync_once(db, cfg, now_fn=now_utc)  # may fail: that is the point
        assert {"drop", "truncate", "corrupt", "duplicate", "hang_up"} <= set(proxy.seen)
        proxy.mode = "pass"
        assert_converged(hub, cfg, db)
    finally:
        proxy.close()


def _sync_subprocess(home, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "edge_node", "--home", str(home), "sync",
                             "--once"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=ENV, **kwargs)


def test_kill_9_of_node_and_hub_at_random_moments(linked, cfg, db):
    hub, world = linked
    rng = random.Random(11)
    for trial in range(52):
        for _ in range(rng.randint(1, 6)):
            world.later(minutes=3)
            code = world.receive()["code"]
            world.act(code, "transfer", "canbo")
        if trial % 5 == 4:  # every fifth trial kills the hub mid-sync
            proc = _sync_subprocess(cfg.home)
            time.sleep(rng.uniform(0.0, 0.6))
            hub.proc.send_signal(signal.SIGKILL)
            hub.proc.wait()
            hub.proc.stderr.close()
            hub.proc = None
            proc.wait(timeout=60)
            hub.start()
        else:
            proc = _sync_subprocess(cfg.home)
            time.sleep(rng.uniform(0.05, 0.8))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert_converged(hub, cfg, db)


def test_disk_full_during_sync_then_resume(linked, cfg, db):
    hub, world = linked
    for _ in range(40):
        world.later(minutes=1)
        world.receive()
    limit = os.path.getsize(cfg.db_path)  # no file of the node may grow past this

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = _sync_subprocess(cfg.home, preexec_fn=small_disk)
    proc.wait(timeout=60)
    assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert_converged(hub, cfg, db)


def test_hub_restored_from_an_older_backup_gets_what_it_lost(linked, cfg, db, tmp_path):
    hub, world = linked
    backup = synced_then_hub_backup(hub, world, cfg, db, tmp_path / "hub-backup.db",
                                    dossiers=10)
    for _ in range(15):
        world.receive()
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    hub.stop()
    hub.restore(backup)  # the province restores yesterday's backup
    hub.start()
    world.receive()
    assert_converged(hub, cfg, db)


def test_a_node_clock_days_off_still_syncs_and_is_flagged(linked, cfg, db):
    hub, world = linked
    world.receive()
    skewed = lambda: now_utc() + timedelta(days=3)  # noqa: E731
    assert sync_service.sync_once(db, cfg, now_fn=skewed).error is None
    status = sync_service.status(db)
    assert status["clock_skew_seconds"] > 2 * 86400
    node = json.loads(hub.get("/api/v1/nodes").text)["items"][0]
    assert node["clock_skew_seconds"] > 2 * 86400
    assert_converged(hub, cfg, db)


def test_a_node_restored_from_an_old_copy_is_stopped_loudly_not_silently_dropped(linked, cfg,
                                                                                  db, tmp_path):
    # The database file was copied back by hand, not with 'edge-node restore': the node
    # does not know it went back in time, so the hub's refusal is what protects the data.
    hub, world = linked
    for _ in range(5):
        world.receive()
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    old = tmp_path / "old.db"
    dst = sqlite3.connect(old)
    db.conn.backup(dst)
    dst.close()
    for _ in range(5):
        world.receive()
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    # someone puts yesterday's copy back and clerks keep working
    restored = sqlite3.connect(old)
    restored.backup(db.conn)
    restored.close()
    new_codes = [world.receive()["code"] for _ in range(3)]
    report = sync_service.sync_once(db, cfg, now_fn=now_utc)
    assert report.error == "seq_reused"
    assert "khôi phục từ một bản sao cũ" in sync_service.status(db)["last_error_message"]
    # the new work is still on the node, waiting, and nothing was marked as sent
    assert sync_service.status(db)["pending_events"] >= 3
    waiting = {r[0] for r in db.conn.execute(
        "SELECT event_id FROM outbox WHERE acked_at IS NULL")}
    assert len(new_codes) == 3 and len(waiting) >= 3
    held = {r[0] for r in hub.sql("SELECT event_id FROM hub_events")}
    assert not waiting & held  # refused, not half-applied
    assert hub.sql("SELECT count(*) FROM rejections WHERE code = 'seq_reused'")[0][0] >= 1


def test_a_node_restored_with_the_restore_command_gets_back_what_the_hub_holds(linked, cfg,
                                                                              db, tmp_path):
    from edge_node.store import dossiers as dossier_store
    from edge_node.store.db import open_db
    from edge_node.store.outbox import RecoveryPending
    from tests.integration.lifecycle_helpers import World
    from tests.integration.sync_helpers import hub_cli, node_cli

    hub, world = linked
    early = [world.receive()["code"] for _ in range(5)]
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    archive = tmp_path / "yesterday.zip"
    assert node_cli(cfg.home, "backup", "--out", str(archive)).returncode == 0
    late = [world.receive()["code"] for _ in range(5)]
    world.act(early[0], "transfer", "canbo")  # a change to a dossier the backup holds
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    lost = world.receive()["code"]  # made after the backup and never sent: lost
    sent = {code: dossier_store.get(db, code) for code in early + late}
    db.conn.close()

    hub.stop()  # the province is out of reach while IT restores
    out = node_cli(cfg.home, "restore", str(archive))
    assert out.returncode == 0, out.stderr
    assert "Could not reach the province" in out.stdout
    restored = open_db(cfg.db_path)
    try:
        clerk = World(restored, world.now)
        assert dossier_store.get(restored, late[0]) is None
        with pytest.raises(RecoveryPending):  # no new number before the hub has spoken
            clerk.receive()
        assert sync_service.status(restored)["recover_pending"]
        hub.start()
        report = sync_service.sync_once(restored, cfg, now_fn=now_utc)
        assert report.error is None and report.stages[0] == "recover"
        # every dossier the province had is back, exactly as it was
        assert {c: dossier_store.get(restored, c) for c in sent} == sent
        assert dossier_store.get(restored, lost) is None
        from edge_node.services.processing import projection_matches_events
        assert all(projection_matches_events(restored, c) for c in sent)
        # new work takes numbers after the recovered ones and flows normally
        fresh = clerk.receive()["code"]
        assert fresh not in sent
        clerk.act(late[1], "transfer", "canbo")
        assert_converged(hub, cfg, restored)
        node_id = sync_service.enrolled(restored)["node_id"]
        assert hub.sql("SELECT count(*) FROM rejections WHERE node_id = ? AND code ="
                       " 'seq_reused'", (node_id,))[0][0] == 0
        assert hub.sql("SELECT count(*) FROM hub_dossiers")[0][0] == 11
        # restored again while the province is reachable: the command recovers at once
        again = tmp_path / "today.zip"
        assert node_cli(cfg.home, "backup", "--out", str(again)).returncode == 0
        more = [clerk.receive()["code"] for _ in range(2)]
        assert sync_service.sync_once(restored, cfg, now_fn=now_utc).error is None
    finally:
        restored.conn.close()
    out = node_cli(cfg.home, "restore", str(again))
    assert out.returncode == 0, out.stderr
    # the two dossiers' events, the province's identity answers to them (issue 7), and the
    # audit entries of that work, came back
    assert "Recovered from the province 10 events (4 dossier events)" in out.stdout
    final = open_db(cfg.db_path)
    try:
        assert all(dossier_store.get(final, c) for c in more)
        assert not sync_service.status(final)["recover_pending"]
        World(final, world.now).receive()  # work goes on at once
        assert_converged(hub, cfg, final)
        # the audit chain survived both restores, here and at the province
        assert node_cli(cfg.home, "audit", "verify").returncode == 0
        checked = hub_cli(hub.home, "audit", "verify", node_id)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        final.conn.close()


def test_a_hub_restored_from_backup_resends_its_feed(linked, cfg, db, tmp_path):
    from datetime import date

    from edge_node.services.calendar import load_calendar
    from tests.integration.sync_helpers import hub_cli

    hub, _ = linked
    hub.stop()
    backup = tmp_path / "hub.bak"  # yesterday's backup, before the two overrides
    hub.backup(backup)
    hub.start()
    for day in ("2026-12-14", "2026-12-15"):
        assert hub_cli(hub.home, "calendar", "override", day, "--off", "--note",
                       "QĐ 1").returncode == 0
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).pulled_items == 2
    hub.stop()
    hub.restore(backup)
    hub.start()
    # the restored hub has no item 1 or 2; the new ones take numbers 1, 2, 3 again
    for day in ("2026-12-16", "2026-12-17", "2026-12-18"):
        assert hub_cli(hub.home, "calendar", "override", day, "--off", "--note",
                       "QĐ 2").returncode == 0
    sync_service.sync_once(db, cfg, now_fn=now_utc)
    cal = load_calendar(db, cfg.working_hours)
    for day in (16, 17, 18):
        assert not cal.is_working_day(date(2026, 12, day)), day
