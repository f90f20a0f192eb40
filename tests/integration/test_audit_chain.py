"""Audit tampering on the node is named by `edge-node audit verify` and by the hub."""

import re
import sqlite3

import pytest

from edge_node.domain.clock import now_utc
from edge_node.services import sync as sync_service
from tests.conftest import add_user
from tests.integration.sync_helpers import hub_cli, linked_node, node_cli


@pytest.fixture
def linked(tmp_path, cfg, db):
    yield from linked_node(tmp_path, cfg, db)


def _last_id(db) -> int:
    return db.conn.execute("SELECT max(id) FROM audit").fetchone()[0]


# (name, SQL for a target id and the last id, which entry must be named)
TAMPERING = {
    "edit_a_field": ("UPDATE audit SET actor = 'ke-gian' WHERE id = {t}", "t"),
    "delete_a_row": ("DELETE FROM audit WHERE id = {t}", "t"),
    "swap_two_rows": ("UPDATE audit SET id = -id WHERE id IN ({t}, {t} + 1);"
                      " UPDATE audit SET id = {t} + 1 WHERE id = -{t};"
                      " UPDATE audit SET id = {t} WHERE id = -({t} + 1)", "t"),
    "truncate": ("DELETE FROM audit WHERE id > {last} - 2", "last-1"),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_each_tampering_is_named_by_the_node_and_by_the_hub(linked, cfg, db, name):
    hub, _world = linked
    for user in ("canbo1", "canbo2", "canbo3", "canbo4"):
        add_user(db, user, "clerk")
    node_id = sync_service.enrolled(db)["node_id"]
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    intact = hub_cli(hub.home, "audit", "verify", node_id)
    assert intact.returncode == 0 and "intact" in intact.stdout, intact.stderr
    # more entries, tampered with before they leave the node
    for user in ("canbo5", "canbo6", "canbo7", "canbo8"):
        add_user(db, user, "clerk")
    last = _last_id(db)
    target = last - 2
    sql, named = TAMPERING[name]
    con = sqlite3.connect(cfg.db_path)
    con.executescript(sql.format(t=target, last=last))
    con.close()
    expected = target if named == "t" else last - 1

    local = node_cli(cfg.home, "audit", "verify")
    assert local.returncode != 0
    assert f"broken at entry {expected}:" in local.stderr

    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    remote = hub_cli(hub.home, "audit", "verify", node_id)
    assert remote.returncode != 0
    assert f"broken at entry {expected} " in remote.stderr, remote.stderr
    page = hub.get(f"/nodes/{node_id}")
    # the hub's node page says the same in Vietnamese (bearer token reads the page)
    assert re.search(rf"can thiệp: mục {expected} ", page.text), page.text[:2000]


def test_an_untouched_chain_is_intact_on_both_sides_and_survives_resealing(linked, cfg, db):
    hub, world = linked
    world.receive()
    add_user(db, "canbo1", "clerk")
    node_id = sync_service.enrolled(db)["node_id"]
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    assert node_cli(cfg.home, "audit", "verify").returncode == 0
    result = hub_cli(hub.home, "audit", "verify", node_id)
    assert result.returncode == 0, result.stderr
    entries = db.conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    assert f"intact: {entries} entries" in result.stdout
    # nothing waits after a round, though applying the feed writes audit entries
    assert sync_service.status(db)["pending_events"] == 0


def test_a_chain_rewritten_with_fresh_hashes_is_still_caught_by_the_recorded_hashes(cfg, db):
    from edge_node.store import audit

    for user in ("canbo1", "canbo2", "canbo3"):
        add_user(db, user, "clerk")
    target = _last_id(db) - 1
    # a careful forger edits an entry and recomputes every hash after it
    con = sqlite3.connect(cfg.db_path)
    rows = con.execute("SELECT id, at, actor, action, object, detail, ip FROM audit"
                       " ORDER BY id").fetchall()
    prev = audit.GENESIS
    for entry_id, at, actor, action, obj, detail, ip in rows:
        if entry_id == target:
            actor = "nguoi-khac"
        digest = audit.entry_hash(prev, at, actor, action, obj, detail, ip)
        con.execute("UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE id = ?",
                    (actor, prev, digest, entry_id))
        prev = digest
    con.commit()
    con.close()
    bad = node_cli(cfg.home, "audit", "verify")
    assert bad.returncode != 0 and f"broken at entry {target}:" in bad.stderr
