"""Findings from trying to break the outbox slot that points at its dossier event
(``edge_node.store.outbox.EVENT_REF``): real SQLite files, a real hub on 127.0.0.1."""

from __future__ import annotations

import logging

import pytest

from edge_node.domain.clock import now_utc
from edge_node.services import sync as sync_service
from tests.integration.sync_helpers import linked_node, node_cli


@pytest.fixture
def linked(tmp_path, cfg, db):
    yield from linked_node(tmp_path, cfg, db)


def _lose_event(db, code: str) -> None:
    """What a damaged database looks like: the event row of a queued slot is gone."""
    db.conn.execute("DELETE FROM dossier_events WHERE dossier_code = ?", (code,))
    db.conn.commit()


def test_a_slot_whose_event_row_is_gone_is_a_sync_error_not_a_crash(linked, cfg, db, app,
                                                                      caplog, tmp_path):
    from edge_node.jobs import SyncJob

    hub, world = linked
    sent = world.receive()["code"]
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    lost = world.receive()["code"]
    _lose_event(db, lost)

    # the clerk's round, the scheduler's round: recorded, never raised
    report = sync_service.sync_once(db, cfg, now_fn=now_utc)
    assert report.error == "outbox_damaged"
    state = sync_service.status(db)
    assert "bộ phận CNTT" in state["last_error_message"]
    with caplog.at_level(logging.INFO, logger="edge_node.jobs"):
        assert SyncJob(cfg)() == "failed"
    assert "crashed" not in caplog.text

    # the USB export says so in one line
    out = node_cli(cfg.home, "sync", "export", "--out", str(tmp_path / "x.edgesync"))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "outbox_damaged" in out.stderr

    # an acknowledged slot whose event row is gone: the comparison with the hub says so
    _lose_event(db, sent)
    with pytest.raises(sync_service.SyncError) as caught:
        sync_service.reconcile(db, cfg, now_fn=now_utc)
    assert caught.value.code == "outbox_damaged"
    # over the API too, as a problem to act on (409), not as "hub unreachable, retry" (503)
    from tests.conftest import api_token

    client = app.test_client()
    resp = client.get("/api/v1/sync/reconcile", headers=api_token(client, "canbo"))
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "outbox_damaged"
