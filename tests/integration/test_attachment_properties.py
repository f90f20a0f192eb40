"""Hypothesis: any schedule of chunk retries, replays, damaged chunks and half-written
staging ends with the hub holding exactly the node's file, each chunk written once, and
never a file recorded before its whole hash matched. Plus: bounded, cleaned staging."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_node.domain.attachments import CHUNK_BYTES
from sync import protocol
from sync.hub import service
from sync.hub.config import load_hub_config
from sync.hub.store import HubStore

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
HUB_ID = "hub-tinh"


class World:
    """A hub home on disk with one enrolled node that announced one file."""

    def __init__(self, home, data: bytes, environ=None):
        self.cfg = load_hub_config(home, environ=environ or {})
        self.cfg.home.mkdir(parents=True, exist_ok=True)
        self.store = HubStore(self.cfg.db_path)
        self.hub = protocol.generate_identity()
        self.node = protocol.generate_identity()
        code, _ = service.new_enroll_code(self.store, commune_code="03325", agency_id="",
                                          now=NOW, hours=1)
        self.node_id = service.enroll(self.store, hub_id=HUB_ID, identity=self.hub, now=NOW,
                                      body={"code": code, "node_bundle":
                                            protocol.public_bundle(self.node)})["node_id"]
        self.data = data
        self.sha = hashlib.sha256(data).hexdigest()
        self.announce(self.sha, len(data))

    def announce(self, sha: str, size: int, seq: int = 1) -> None:
        record = {"seq": seq, "event_id": uuid.uuid4().hex, "kind": "attachment.added",
                  "at": "2026-12-07T01:00:00Z", "payload": {
                      "attachment_id": uuid.uuid4().hex, "dossier_code": "X-261207-0001",
                      "sha256": sha, "size": size, "mime": "application/pdf",
                      "name": "a.pdf", "label": "", "uploaded_at": "2026-12-07T01:00:00Z",
                      "uploaded_by": "canbo"}}
        node = self.store.node(self.node_id)
        header = {"first_seq": seq, "last_seq": seq, "batch_id": uuid.uuid4().hex,
                  "prev_hash": node["last_digest"] or protocol.GENESIS_HASH}
        assert self.store.apply_batch(self.node_id, header, [record], uuid.uuid4().hex,
                                      "2026-12-07T01:00:00Z").status == "applied"

    def seal(self, kind: str, record: dict) -> bytes:
        return protocol.seal([record], sender=self.node, receiver=self.hub.public,
                             sender_id=self.node_id, receiver_id=HUB_ID,
                             batch_id=uuid.uuid4().hex, first_seq=0, last_seq=0,
                             prev_hash=protocol.GENESIS_HASH, created_at=NOW.isoformat(),
                             kind=kind)

    def answer(self, reply: bytes) -> dict:
        opened = protocol.open_envelope(reply, receiver=self.node, receiver_id=self.node_id,
                                        expected_sender=self.hub.public)
        return opened.records[0]

    def offer(self, now=NOW, sha=None, size=None) -> dict:
        env = self.seal("att_offer", {"sha256": sha or self.sha,
                                      "size": size or len(self.data)})
        return self.answer(service.attachment_offer(self.store, cfg=self.cfg,
                                                    identity=self.hub, data=env, now=now))

    def chunk(self, index: int, *, bad_hash: bool = False) -> dict:
        offset = index * CHUNK_BYTES
        piece = self.data[offset:offset + CHUNK_BYTES]
        digest = hashlib.sha256(b"x" + piece if bad_hash else piece).hexdigest()
        env = self.seal("att_chunk", {"sha256": self.sha, "size": len(self.data),
                                      "offset": offset, "chunk_sha256": digest,
                                      "data": base64.b64encode(piece).decode()})
        return self.answer(service.attachment_chunk(self.store, cfg=self.cfg,
                                                    identity=self.hub, data=env, now=NOW))

    def part(self):
        return self.cfg.home / "staging" / "attachments" / self.node_id / f"{self.sha}.part"

    def stored(self) -> bytes | None:
        path = self.cfg.home / "attachments" / self.sha[:2] / self.sha[2:]
        return path.read_bytes() if path.exists() else None

    def recorded(self) -> bool:
        return self.store.hub_file(self.sha) is not None


ACTIONS = st.lists(st.tuples(st.sampled_from(["next", "replay", "bad", "crash", "offer"]),
                             st.integers(0, 3)), max_size=14)


def test_any_chunk_schedule_ends_with_exactly_the_file(tmp_path_factory):
    counter = iter(range(10**6))

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.integers(1, 3 * CHUNK_BYTES), ACTIONS)
    def run(size, actions):
        data = os.urandom(size)
        world = World(tmp_path_factory.getbasetemp() / f"h{next(counter)}", data)
        chunks = -(-size // CHUNK_BYTES)
        expected = 0  # the model: bytes the hub holds
        writes = 0
        try:
            for action, arg in actions:
                if expected == size:
                    break
                if action == "next":
                    state = world.chunk(expected // CHUNK_BYTES)
                    expected = min(expected + CHUNK_BYTES, size)
                    writes += 1
                elif action == "replay":  # an old or future chunk: never written out of place
                    index = min(arg, chunks - 1)
                    before = expected
                    state = world.chunk(index)
                    if index * CHUNK_BYTES == before:
                        expected, writes = min(before + CHUNK_BYTES, size), writes + 1
                elif action == "bad":
                    with pytest.raises(service.HubError) as refused:
                        world.chunk(expected // CHUNK_BYTES, bad_hash=True)
                    assert refused.value.code == "chunk_mismatch"
                    state = world.offer()
                elif action == "crash" and world.part().exists():
                    with open(world.part(), "ab") as handle:  # half a chunk, then power cut
                        handle.write(os.urandom(arg * 1000 + 1))
                    state = world.offer()
                else:
                    state = world.offer()
                if expected < size:
                    assert state["status"] == "partial" and state["next_offset"] == expected
                    assert not world.recorded() and world.stored() is None
            while expected < size:  # the node goes on from what the hub answers
                state = world.offer()
                assert state["next_offset"] == expected
                state = world.chunk(expected // CHUNK_BYTES)
                expected, writes = min(expected + CHUNK_BYTES, size), writes + 1
            assert state["status"] == "complete"
            assert writes == chunks  # each chunk written once: resumed, never restarted
            assert world.recorded() and world.stored() == data
            assert world.offer()["status"] == "complete"
            assert not world.part().exists()
        finally:
            world.store.close()

    run()


def test_unannounced_files_and_wrong_sizes_are_not_taken(tmp_path):
    world = World(tmp_path / "hub", os.urandom(1000))
    other = hashlib.sha256(b"never announced").hexdigest()
    assert world.offer(sha=other, size=10)["status"] == "unknown"
    with pytest.raises(service.HubError) as refused:
        world.offer(size=999)
    assert refused.value.code == "size_mismatch"
    world.store.close()


def test_staging_is_bounded_and_abandoned_uploads_are_cleaned(tmp_path):
    world = World(tmp_path / "hub", os.urandom(CHUNK_BYTES + 10),
                  environ={"SYNC_HUB_STAGING_MAX_MB": "2", "SYNC_HUB_STAGING_KEEP_DAYS": "3"})
    try:
        assert world.chunk(0)["next_offset"] == CHUNK_BYTES
        assert world.part().stat().st_size == CHUNK_BYTES
        big = hashlib.sha256(b"big").hexdigest()
        world.announce(big, 2 * CHUNK_BYTES, seq=2)
        with pytest.raises(service.HubError) as refused:  # 1 MB + 2 MB > 2 MB of staging
            world.offer(sha=big, size=2 * CHUNK_BYTES)
        assert refused.value.code == "staging_full" and refused.value.status == 503
        # four days later the first upload counts as abandoned: removed, room again
        later = NOW + timedelta(days=4)
        assert world.offer(now=later, sha=big, size=2 * CHUNK_BYTES)["status"] == "partial"
        assert not world.part().exists() and world.store.upload(world.node_id,
                                                                 world.sha) is None
        # the abandoned file's node comes back: the bound still holds for it
        with pytest.raises(service.HubError) as refused:
            world.offer(now=later)
        assert refused.value.code == "staging_full"
    finally:
        world.store.close()


def test_announcement_is_archived_but_never_shown_as_present(tmp_path):
    world = World(tmp_path / "hub", os.urandom(500))
    rows = world.store.dossier_attachments("X-261207-0001")
    assert len(rows) == 1 and rows[0]["verified_at"] is None
    kinds = [r[0] for r in world.store.db.conn.execute("SELECT kind FROM hub_events")]
    assert kinds == ["attachment.added"]
    assert world.chunk(0)["status"] == "complete"
    assert world.store.dossier_attachments("X-261207-0001")[0]["verified_at"]
    assert json.loads(json.dumps(rows[0]))["sha256"] == world.sha
    world.store.close()
