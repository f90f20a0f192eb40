"""The hub's feed comes back in few, bounded pages.

Every pull costs about 1.5 KB of envelope, signature and HTTP whatever it
carries, so after weeks offline (one identity answer per dossier, processes,
overrides) a node should need a handful of pulls, not dozens; and a page
must stay bounded in bytes when its items are large.
"""

from __future__ import annotations

import pytest

from edge_node.domain.clock import now_utc, to_iso
from edge_node.services import sync as sync_service
from sync.hub.store import HubStore
from tests.faults.proxy import FaultProxy
from tests.faults.test_faults import point_node_at
from tests.integration.sync_helpers import linked_node

PULL_PATH = "/api/v1/sync/pull"


@pytest.fixture
def linked(tmp_path, cfg, db):
    yield from linked_node(tmp_path, cfg, db)


def publish(hub, node_id: str, payloads: list[dict]) -> None:
    """Put items of a kind this node does not know into its feed (it audits and skips them)."""
    store = HubStore(hub.database_url or hub.home / "hub.db", migrate=False)
    try:
        with store.tx():
            for payload in payloads:
                store._publish("test.note", payload, to_iso(now_utc()), [node_id])
    finally:
        store.close()


def pulls_to_catch_up(hub, cfg, db) -> int:
    proxy = FaultProxy(hub.port)
    try:
        point_node_at(db, proxy.url)
        report = sync_service.sync_once(db, cfg, now_fn=now_utc)
        assert report.error is None, report
        return sum(1 for path, _, _ in proxy.requests if path == PULL_PATH)
    finally:
        point_node_at(db, hub.url)
        proxy.close()


def notes_applied(db) -> int:
    return db.conn.execute("SELECT count(*) FROM audit WHERE action = 'feed.test.note'"
                           ).fetchone()[0]


def test_twelve_hundred_small_items_come_in_three_pages(linked, cfg, db):
    hub, _ = linked
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    node_id = sync_service.enrolled(db)["node_id"]
    publish(hub, node_id, [{"dossier": f"D-{i:04d}", "identity": "da_xac_thuc"}
                           for i in range(1200)])
    # 500 + 500 + 200, then one empty answer that says the feed is read to the end
    assert pulls_to_catch_up(hub, cfg, db) == 4
    assert notes_applied(db) == 1200


def test_large_items_make_smaller_pages(linked, cfg, db):
    hub, _ = linked
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    node_id = sync_service.enrolled(db)["node_id"]
    big = "x" * 700_000  # two of these pass the 1 MiB page budget: one per page
    publish(hub, node_id, [{"i": i, "text": big} for i in range(3)])
    assert pulls_to_catch_up(hub, cfg, db) == 4
    assert notes_applied(db) == 3
