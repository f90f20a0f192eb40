"""A hub killed (-9) in the middle of a restored node's recovery: nothing lost, nothing twice."""

from __future__ import annotations

import os
import signal

import pytest

from edge_node.domain.clock import now_utc
from edge_node.services import sync as sync_service
from edge_node.store import settings
from edge_node.store.db import open_db, write_tx
from tests.faults.proxy import FaultProxy
from tests.faults.test_faults import assert_converged
from tests.integration.sync_helpers import linked_node, node_cli

RECOVER_PATH = "/api/v1/sync/recover"


@pytest.fixture
def linked(tmp_path, cfg, db):
    yield from linked_node(tmp_path, cfg, db)


def test_hub_killed_between_recover_pages_then_recovery_finishes_once(linked, cfg, db,
                                                                       tmp_path):
    from edge_node.store import dossiers as dossier_store

    hub, world = linked
    archive = tmp_path / "early.zip"
    assert node_cli(cfg.home, "backup", "--out", str(archive)).returncode == 0
    late = [world.receive()["code"] for _ in range(150)]  # well over one page (500 records)
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    sent = {code: dossier_store.get(db, code) for code in late}
    outbox_before = db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    db.conn.close()

    hub.stop()
    assert node_cli(cfg.home, "restore", str(archive)).returncode == 0
    hub.start()
    restored = open_db(cfg.db_path)
    proxy = FaultProxy(hub.port)
    seen = []

    def kill_at_second_page(path):
        if path == RECOVER_PATH:
            seen.append(path)
            if len(seen) == 2:
                os.kill(hub.proc.pid, signal.SIGKILL)
                hub.proc.wait(timeout=10)
        return None

    try:
        with write_tx(restored):
            settings.put(restored, "sync.hub_url", proxy.url)
        proxy.rule = kill_at_second_page
        report = sync_service.sync_once(restored, cfg, now_fn=now_utc)
        assert report.error is not None
        assert sync_service.status(restored)["recover_pending"]
        hub.stop()
        hub.start()
        proxy.rule = None
        report = sync_service.sync_once(restored, cfg, now_fn=now_utc)
        assert report.error is None, report
        assert not sync_service.status(restored)["recover_pending"]
        assert {c: dossier_store.get(restored, c) for c in sent} == sent
        assert restored.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] >= \
            outbox_before
        twice = restored.conn.execute("SELECT event_id FROM dossier_events GROUP BY event_id"
                                      " HAVING count(*) > 1").fetchall()
        assert twice == []
        dup = restored.conn.execute("SELECT event_id, count(*) FROM outbox GROUP BY event_id"
                                    " HAVING count(*) > 1").fetchall()
        assert dup == []
        assert_converged(hub, cfg, restored)
    finally:
        proxy.close()
        restored.conn.close()


@pytest.mark.usefixtures("hub_backend")
def test_one_dossier_raced_from_many_threads_is_received_once(linked):
    from concurrent.futures import ThreadPoolExecutor

    from tests.integration.province_helpers import Province, online_dossier

    hub, _world = linked
    province = Province(hub)
    body = online_dossier("RACE-2026-1")
    with ThreadPoolExecutor(16) as pool:
        codes = sorted(r.status_code for r in pool.map(lambda _: province.dossier(body),
                                                       range(32)))
    assert codes == [201] + [409] * 31
    assert hub.sql("SELECT count(*) FROM hub_inbound") == [(1,)]
    assert hub.sql("SELECT count(*) FROM feed WHERE kind = 'dossier.inbound'") == [(1,)]
