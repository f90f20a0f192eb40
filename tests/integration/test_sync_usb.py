"""USB round trip with the link off: export, hub import, reply import; twice is harmless."""

import json

import pytest

from tests.integration.lifecycle_helpers import World, vn
from tests.integration.sync_helpers import Hub, hub_cli, node_cli

pytestmark = pytest.mark.usefixtures("hub_backend")


def test_usb_round_trip_with_the_link_off(tmp_path, cfg, db):
    hub = Hub(tmp_path / "hub").start()
    assert node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                    hub.enroll_code()).returncode == 0
    catalog = tmp_path / "cat.json"
    catalog.write_text(json.dumps({"format": "edge-node-catalog/1", "procedures": [
        {"code": "3.000777", "name": "Thủ tục mới của tỉnh",
         "time_limit": {"value": 1, "unit": "working_days"}}]}), encoding="utf-8")
    assert hub_cli(hub.home, "catalog", "import", str(catalog)).returncode == 0
    hub.stop()  # no link for weeks
    world = World(db, vn(2026, 12, 7, 8, 0))
    codes = [world.receive()["code"] for _ in range(30)]
    stick = tmp_path / "usb"
    stick.mkdir()
    out = node_cli(cfg.home, "sync", "export", "--out", str(stick / "xa.edgesync"))
    assert out.returncode == 0, out.stderr
    total = db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert f"Wrote {total} pending events" in out.stdout
    # at the province
    reply = stick / "tinh.edgesync"
    imported = hub_cli(hub.home, "import", str(stick / "xa.edgesync"), "--out", str(reply))
    assert imported.returncode == 0, imported.stderr
    again = hub_cli(hub.home, "import", str(stick / "xa.edgesync"), "--out",
                    str(stick / "again.edgesync"))
    assert again.returncode == 0  # harmless: duplicates are acknowledged, not re-applied
    # back at the commune
    applied = node_cli(cfg.home, "sync", "import", str(reply))
    assert applied.returncode == 0, applied.stderr
    # everything exported is acknowledged; applying the province's catalog is itself a new
    # event (the node reports which catalog version it now uses) that waits for next time,
    # with the audit entries of that import, and the province's 30 identity answers to the
    # counter dossiers (issue 7), each a dossier event with its own audit entries
    assert f"holds events up to {total}; applied 31 items; " in applied.stdout
    assert {r[0] for r in db.conn.execute("SELECT identity_status FROM dossiers")} == {
        "da_xac_thuc"}
    assert node_cli(cfg.home, "sync", "import", str(reply)).returncode == 0
    assert node_cli(cfg.home, "sync", "import", str(stick / "again.edgesync")).returncode == 0
    from edge_node.store import catalog as catalog_store

    assert catalog_store.get(db, "3.000777") is not None
    hub.start()
    items = hub.get("/api/v1/dossiers?commune=03325").json()["items"]
    assert sorted(i["code"] for i in items) == sorted(codes)
    assert hub.get("/api/v1/nodes").json()["items"][0]["acked_seq"] == total
    hub.stop()


def test_a_damaged_file_is_refused_whole(tmp_path, cfg, db):
    hub = Hub(tmp_path / "hub").start()
    assert node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                    hub.enroll_code()).returncode == 0
    hub.stop()
    World(db, vn(2026, 12, 7)).receive()
    path = tmp_path / "xa.edgesync"
    assert node_cli(cfg.home, "sync", "export", "--out", str(path)).returncode == 0
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    bad = tmp_path / "bad.edgesync"
    bad.write_bytes(bytes(data))
    refused = hub_cli(hub.home, "import", str(bad), "--out", str(tmp_path / "r"))
    assert refused.returncode != 0 and "nothing applied" in refused.stderr
    assert not (tmp_path / "r").exists()
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a sync file")
    assert node_cli(cfg.home, "sync", "import", str(junk)).returncode != 0
    hub.start()
    assert hub.get("/api/v1/nodes").json()["items"][0]["acked_seq"] == 0
    hub.stop()


def test_an_older_reply_imported_late_does_not_move_the_node_back(tmp_path, cfg, db):
    hub = Hub(tmp_path / "hub").start()
    assert node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                    hub.enroll_code()).returncode == 0
    hub.stop()
    world = World(db, vn(2026, 12, 7, 8, 0))
    replies = []
    for trip in range(2):  # two trips to the province, a week apart
        for _ in range(3):
            world.receive()
        out, reply = tmp_path / f"xa{trip}.edgesync", tmp_path / f"tinh{trip}.edgesync"
        assert node_cli(cfg.home, "sync", "export", "--out", str(out)).returncode == 0
        assert hub_cli(hub.home, "import", str(out), "--out", str(reply)).returncode == 0
        replies.append(reply)
    assert node_cli(cfg.home, "sync", "import", str(replies[1])).returncode == 0
    from edge_node.store import settings

    acked = int(settings.get(db, "sync.acked_seq"))
    anchor = settings.get(db, "sync.prev_hash")
    # what the reply's feed wrote (the province's identity answers, issue 7) waits for
    # the next trip; nothing sent before is waiting
    unsent = "SELECT count(*) FROM outbox WHERE acked_at IS NULL"
    waiting = db.conn.execute(unsent).fetchone()[0]
    assert db.conn.execute(unsent + " AND seq <= ?", (acked,)).fetchone()[0] == 0
    # the first week's reply turns up later in a drawer and is imported again
    assert node_cli(cfg.home, "sync", "import", str(replies[0])).returncode == 0
    assert int(settings.get(db, "sync.acked_seq")) == acked
    assert settings.get(db, "sync.prev_hash") == anchor
    assert db.conn.execute(unsent).fetchone()[0] == waiting
    hub.start()
    world.receive()  # the next online round goes on from where the newest reply left it
    new = db.conn.execute("SELECT count(*) FROM outbox WHERE seq > ?", (acked,)).fetchone()[0]
    assert new >= 1
    assert node_cli(cfg.home, "sync", "--once").returncode == 0
    assert hub.get("/api/v1/nodes").json()["items"][0]["acked_seq"] >= acked + new
    last = db.conn.execute("SELECT max(seq) FROM outbox").fetchone()[0]
    assert hub.get("/api/v1/nodes").json()["items"][0]["acked_seq"] == last > acked
    hub.stop()
