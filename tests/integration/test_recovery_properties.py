"""Property: whatever a node did after its backup, recovery from the hub's records gives back
exactly the dossiers, events and code counters the node had (in-process, real SQLite files)."""

from __future__ import annotations

import shutil
import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_node.domain.lifecycle import TransitionError
from edge_node.services import recovery
from edge_node.store import outbox
from edge_node.store.db import connect, copy_to
from edge_node.store.dossiers import decode
from tests.integration.lifecycle_helpers import World, vn

EVENT_COLUMNS = "event_id, dossier_code, type, actor_id, actor, actor_role, at, payload"


def snapshot(path) -> dict:
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    try:
        return {
            # JSON columns compared as values: the hub keeps payloads with sorted keys
            "dossiers": [decode(dict(r)) for r in con.execute(
                "SELECT * FROM dossiers ORDER BY code")],
            "events": [tuple(r) for r in con.execute(
                f"SELECT {EVENT_COLUMNS} FROM dossier_events ORDER BY id")],
            "codes": [tuple(r) for r in con.execute(
                "SELECT * FROM code_sequences ORDER BY 1, 2")],
            "outbox": [tuple(r) for r in con.execute(
                "SELECT seq, event_id, kind, payload, created_at FROM outbox ORDER BY seq")]}
    finally:
        con.close()


operations = st.lists(st.tuples(st.sampled_from(["receive", "transfer", "next_day"]),
                                st.integers(0, 20)), min_size=1, max_size=14)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, cut=st.integers(0, 14))
def test_recovery_gives_back_what_the_node_had_sent(cfg, db, tmp_path_factory, ops, cut):
    folder = tmp_path_factory.mktemp("node")
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(cfg.db_path, folder / "full.db")
    full = connect(folder / "full.db")
    try:
        world = World(full, vn(2026, 12, 7, 8, 0))
        codes: list[str] = []
        for index, (op, pick) in enumerate(ops):
            if index == cut:
                copy_to(full, folder / "backup.db")
            if op == "receive":
                codes.append(world.receive()["code"])
            elif op == "transfer" and codes:
                try:
                    world.act(codes[pick % len(codes)], "transfer", "canbo")
                except TransitionError:
                    pass
            else:
                world.later(days=1)
            world.later(minutes=7)
        if cut >= len(ops):
            copy_to(full, folder / "backup.db")
        # the hub holds every event the node sent (all of them here), as the node sent them
        sent = [{"seq": r["seq"], "event_id": r["event_id"], "kind": r["kind"],
                 "at": r["created_at"], "payload": outbox.payload_of(r)}
                for r in full.query(outbox.SELECT + " ORDER BY o.seq")]
    finally:
        full.conn.close()
    restored = connect(folder / "backup.db")
    try:
        assert recovery.apply_records(restored, sent, "2026-12-20T00:00:00Z")["events"] >= 0
        # a second run (a retried recovery) changes nothing
        assert recovery.apply_records(restored, sent, "2026-12-20T00:00:00Z")["events"] == 0
    finally:
        restored.conn.close()
    assert snapshot(folder / "backup.db") == snapshot(folder / "full.db")
