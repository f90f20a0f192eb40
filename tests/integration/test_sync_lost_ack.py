"""A batch whose ack was lost is asked about before it is sent again.

On a thin link a whole batch is the costly part of a round. When the hub
applied it but the answer never came back, the next round asks the hub where
it stands (a ``recover`` request with ``limit: 0``, a few hundred bytes) and
takes that as the ack instead of sending the batch again.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from edge_node.domain.clock import now_utc
from edge_node.services import sync as sync_service
from tests.faults.proxy import FaultProxy
from tests.faults.test_faults import assert_converged, point_node_at
from tests.integration.sync_helpers import linked_node, synced_then_hub_backup

PUSH_PATH = "/api/v1/sync/push"
RECOVER_PATH = "/api/v1/sync/recover"


@pytest.fixture
def linked(tmp_path, cfg, db):
    yield from linked_node(tmp_path, cfg, db)


def first_push_goes(mode: str):
    """A proxy rule: the first push meets *mode*, everything else passes."""
    done = []

    def rule(path):
        if path == PUSH_PATH and not done:
            done.append(path)
            return mode
        return None
    return rule


def paths(proxy):
    return [(path, size) for path, size, _ in proxy.requests]


@contextmanager
def first_push_lost(hub, world, cfg, db, *, dossiers: int, mode: str):
    """Take *dossiers* intakes, then run a round whose first push meets *mode* (``hang_up``:
    applied by the hub, the node never hears; ``drop``: the hub never sees it).

    Yields the proxy (its request log emptied) and the size of the push that was lost.
    """
    for _ in range(dossiers):
        world.receive()
    proxy = FaultProxy(hub.port)
    try:
        point_node_at(db, proxy.url)
        proxy.rule = first_push_goes(mode)
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error == "offline"
        pushed = [size for path, size in paths(proxy) if path == PUSH_PATH]
        assert len(pushed) == 1
        assert sync_service.status(db)["pending_events"] > 0  # not acked: nothing heard
        proxy.requests = []
        yield proxy, pushed[0]
    finally:
        proxy.close()


def test_applied_batch_whose_ack_was_lost_is_not_sent_again(linked, cfg, db):
    hub, world = linked
    with first_push_lost(hub, world, cfg, db, dossiers=40, mode="hang_up") as (proxy, lost):
        assert lost > 5_000
        waiting = sync_service.status(db)["pending_events"]
        report = sync_service.sync_once(db, cfg, now_fn=now_utc)
        assert report.error is None, report
        assert report.pushed_events >= waiting  # the answer counts them as sent
        assert sync_service.status(db)["progress"]["sent_events"] >= waiting
        sent = paths(proxy)
        assert sent[0][0] == RECOVER_PATH and sent[0][1] < 1_000
        # the batch itself never went again: only the question did, then the round went
        # on to pull (the feed it applies may make new events, pushed after it)
        assert sent[1][0] == "/api/v1/sync/pull"
        assert not [size for path, size in sent if path == PUSH_PATH and size == lost]
        assert sync_service.status(db)["pending_events"] == 0
        assert sync_service.status(db)["clock_skew_seconds"] is not None
        world.receive()  # the chain goes on from the digest the hub gave
        assert_converged(hub, cfg, db)


def test_batch_lost_on_the_way_in_is_sent_after_the_question(linked, cfg, db):
    hub, world = linked
    with first_push_lost(hub, world, cfg, db, dossiers=10, mode="drop") as (proxy, lost):
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
        sent = paths(proxy)
        assert [p for p, _ in sent[:2]] == [RECOVER_PATH, PUSH_PATH]
        assert sent[1][1] == lost  # the very same envelope, byte for byte
        assert_converged(hub, cfg, db)


def test_a_hub_that_cannot_answer_the_question_gets_the_batch(linked, cfg, db):
    hub, world = linked
    with first_push_lost(hub, world, cfg, db, dossiers=10, mode="hang_up") as (proxy, _):
        # the answer to the question arrives damaged (as from a hub that does not know
        # the request): the node falls back to sending the batch, the hub says duplicate
        proxy.rule = lambda path: "corrupt" if path == RECOVER_PATH else None
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
        assert [p for p, _ in paths(proxy)[:2]] == [RECOVER_PATH, PUSH_PATH]
        proxy.rule = None
        assert_converged(hub, cfg, db)


def test_the_question_asks_for_no_records(linked, cfg, db):
    """``limit: 0`` gets the hub's state alone; no limit gets the records after ``after``."""
    hub, world = linked
    for _ in range(3):
        world.receive()
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    state = sync_service.enrolled(db)
    me = sync_service.identity(cfg)
    import requests

    only_state = sync_service.ask_hub(requests, state, me, after=0, limit=0, now=now_utc())
    assert len(only_state) == 1
    total = db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert only_state[0]["acked_seq"] == total
    everything = sync_service.ask_hub(requests, state, me, after=0, limit=None, now=now_utc())
    assert [r["seq"] for r in everything[1:]] == list(range(1, total + 1))
    two = sync_service.ask_hub(requests, state, me, after=0, limit=2, now=now_utc())
    assert [r["seq"] for r in two[1:]] == [1, 2]
    with pytest.raises(sync_service.SyncError) as err:
        sync_service.ask_hub(requests, state, me, after=0, limit=-1, now=now_utc())
    assert err.value.code == "bad_request"


def acked_ids(db) -> set:
    return {r[0] for r in db.conn.execute("SELECT event_id FROM outbox WHERE acked_at IS NOT"
                                          " NULL")}


def test_the_answer_of_a_hub_restored_since_is_not_taken_as_the_ack(linked, cfg, db, tmp_path):
    """The province put back an older backup after it applied the batch whose ack was lost:
    the question's answer says the hub holds less, so nothing more is marked as sent and
    the node sends again from where the hub stands."""
    hub, world = linked
    backup = synced_then_hub_backup(hub, world, cfg, db, tmp_path / "hub-backup.db",
                                    dossiers=5)
    for _ in range(3):
        world.receive()
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None  # lost with the restore
    with first_push_lost(hub, world, cfg, db, dossiers=5, mode="hang_up") as (proxy, _):
        waiting = sync_service.status(db)["pending_events"]
        acked = acked_ids(db)
        hub.stop()
        hub.restore(backup)  # the province restores yesterday's backup
        hub.start()
        proxy.rule = lambda path: "drop" if path == PUSH_PATH else None
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error == "offline"
        assert [p for p, _ in paths(proxy)] == [RECOVER_PATH, PUSH_PATH]  # asked, then resent
        assert sync_service.status(db)["pending_events"] == waiting
        assert acked_ids(db) == acked
        proxy.rule = None
        assert_converged(hub, cfg, db)


def test_a_node_copied_back_by_hand_is_stopped_by_the_question(linked, cfg, db, tmp_path):
    """A copy of the database holding a batch whose ack was lost is put back by hand and
    clerks keep working: the hub's answer names an event this node does not hold under
    that number, so the round stops with seq_reused and nothing is marked as sent."""
    import sqlite3

    hub, world = linked
    for _ in range(3):
        world.receive()
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    with first_push_lost(hub, world, cfg, db, dossiers=3, mode="hang_up") as (proxy, _):
        old = tmp_path / "old.db"  # the copy holds the batch, unacknowledged
        dst = sqlite3.connect(old)
        db.conn.backup(dst)
        dst.close()
        proxy.rule = None
        for _ in range(3):
            world.receive()
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
        restored = sqlite3.connect(old)
        restored.backup(db.conn)
        restored.close()
        assert db.conn.execute("SELECT count(*) FROM sync_batches WHERE acked_at IS NULL"
                               ).fetchone()[0] == 1
        for _ in range(6):  # new work under numbers the hub already holds other events at
            world.receive()
        acked = acked_ids(db)
        waiting = sync_service.status(db)["pending_events"]
        proxy.requests = []
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error == "seq_reused"
        assert [p for p, _ in paths(proxy)] == [RECOVER_PATH]
        assert "khôi phục từ một bản sao cũ" in sync_service.status(db)["last_error_message"]
        assert acked_ids(db) == acked
        assert sync_service.status(db)["pending_events"] == waiting
        held = {r[0] for r in hub.sql("SELECT event_id FROM hub_events")}
        fresh = {r[0] for r in db.conn.execute("SELECT event_id FROM outbox WHERE acked_at"
                                               " IS NULL")}
        assert fresh - held  # the new work waits on the node, never taken as sent
