"""Event ids: unique everywhere, UUID-shaped, and cheap on a thin link."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
import zlib

import pytest

from edge_node.store import outbox
from sync.protocol import canonical_json
from tests.integration.lifecycle_helpers import World, vn


def test_ids_are_unique_across_threads_and_uuid_shaped():
    found: list[list[str]] = [[] for _ in range(4)]

    def make(slot: list[str]) -> None:
        slot.extend(outbox.new_event_id() for _ in range(5000))

    threads = [threading.Thread(target=make, args=(slot,)) for slot in found]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for slot in found for i in slot]
    assert len(set(ids)) == len(ids) == 20000
    parsed = uuid.UUID(ids[0])
    assert str(parsed) == ids[0] and parsed.version == 8
    assert parsed.variant == uuid.RFC_4122


def test_another_process_never_repeats_our_ids():
    # a database restored from an old copy is served by a new process: the events it writes
    # under reused sequence numbers must carry ids the hub has never seen
    ours = {outbox.new_event_id() for _ in range(100)}
    code = ("from edge_node.store import outbox\n"
            "print('\\n'.join(outbox.new_event_id() for _ in range(100)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert len(out) == 100 and not ours & set(out)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")
def test_a_forked_child_does_not_repeat_the_parents_ids():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.write(write, outbox.new_event_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert child != outbox.new_event_id()
    assert child[:18] != outbox.new_event_id()[:18]  # another prefix, not just another count


def test_a_batch_of_real_events_pays_a_few_bytes_per_id(db):
    """The ids used to cost ~24 bytes per event after zlib, as much as the event itself."""
    world = World(db, vn(2026, 11, 2, 8, 0))
    for _ in range(60):
        code = world.receive()["code"]
        world.act(code, "transfer", "canbo")
        world.later(minutes=7)
    rows = list(db.query("SELECT * FROM outbox WHERE kind = 'dossier.event' ORDER BY seq"))
    assert len(rows) == 120

    def packed(with_ids: bool) -> int:
        lines = b"".join(canonical_json(
            {"seq": r["seq"], "kind": r["kind"], "at": r["created_at"],
             "payload": json.loads(r["payload"]),
             **({"event_id": r["event_id"]} if with_ids else {})}) + b"\n" for r in rows)
        return len(zlib.compress(lines, 9))

    assert (packed(True) - packed(False)) / len(rows) < 6
    events = {r[0] for r in db.conn.execute("SELECT event_id FROM dossier_events")}
    assert {r["event_id"] for r in rows} <= events  # the same id in the history and outbox
