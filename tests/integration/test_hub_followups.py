"""What a node's batch asks of the province (identity checks, notifications, population
look-ups) is recorded with the batch, in its transaction, and done once: right after the
apply, or, if the hub died or the verifier failed there, at the node's next pull. And the
hub's view of a dossier is the same whether its events come in one batch or one by one."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from sync import protocol
from sync.hub import province, service
from sync.hub.config import load_hub_config
from sync.hub.store import HubStore

pytestmark = pytest.mark.usefixtures("hub_backend")

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
AGENCY = "000.25.33.H18"
DENIED = "011090009999"


class Link:
    """One enrolled node talking to the hub in-process through ``sync.hub.service``."""

    def __init__(self, store: HubStore, hub: protocol.Identity, commune: str, agency: str):
        self.store, self.hub = store, hub
        code, _ = service.new_enroll_code(store, commune_code=commune, agency_id=agency,
                                          now=NOW, hours=1)
        self.me = protocol.generate_identity()
        self.node_id = service.enroll(store, hub_id="hub", identity=hub, now=NOW, body={
            "code": code, "node_bundle": protocol.public_bundle(self.me)})["node_id"]
        self.seq, self.prev, self.feed_seq = 0, protocol.GENESIS_HASH, 0

    def seal(self, records: list[dict]) -> bytes:
        first = self.seq + 1
        numbered = [{"seq": first + i, "event_id": f"{self.node_id}-e{first + i}",
                     "at": "2026-12-07T01:00:00Z", **r} for i, r in enumerate(records)]
        self.seq += len(records)
        env = protocol.seal(numbered, sender=self.me, receiver=self.hub.public,
                            sender_id=self.node_id, receiver_id="hub",
                            batch_id=f"b{first}-{self.node_id}", first_seq=first,
                            last_seq=self.seq, prev_hash=self.prev, created_at=NOW.isoformat(),
                            kind="batch")
        self.prev = protocol.envelope_digest(env)
        return env

    def push(self, env: bytes, **kw) -> dict:
        reply = service.push(self.store, hub_id="hub", identity=self.hub, data=env, now=NOW,
                             max_bytes=1 << 22, **kw)
        return protocol.open_envelope(reply, receiver=self.me, receiver_id=self.node_id,
                                      expected_sender=self.hub.public).records[0]

    def pull(self, **kw) -> list[dict]:
        request = protocol.seal([{"since": self.feed_seq}], sender=self.me,
                                receiver=self.hub.public, sender_id=self.node_id,
                                receiver_id="hub", batch_id=f"p{self.feed_seq}", first_seq=0,
                                last_seq=0, prev_hash=protocol.GENESIS_HASH,
                                created_at=NOW.isoformat(), kind="pull")
        reply = service.pull(self.store, hub_id="hub", identity=self.hub, data=request,
                             now=NOW, limit=1000, **kw)
        items = protocol.open_envelope(reply, receiver=self.me, receiver_id=self.node_id,
                                       expected_sender=self.hub.public).records
        if items:
            self.feed_seq = items[-1]["seq"]
        return items


def _intake(code: str, id_number: str, name: str) -> dict:
    return {"kind": "dossier.event", "payload": {
        "dossier_code": code, "type": "receive", "set": {
            "code": code, "status": "DA_TIEP_NHAN", "identity_status": "chua_xac_thuc",
            "id_number": id_number, "applicant_name": name,
            "received_at": "2026-12-07T01:00:00Z"}}}


def _step(code: str, **changes) -> dict:
    return {"kind": "dossier.event", "payload": {"dossier_code": code, "type": "step",
                                                 "set": changes}}


@pytest.fixture
def hub(tmp_path, hub_backend):
    home = tmp_path / "hub"
    home.mkdir()
    (home / "config.toml").write_text(f'identity_deny = "{DENIED}"\n', encoding="utf-8")
    cfg = load_hub_config(home, environ={})
    store = HubStore(hub_backend or home / "hub.db")
    try:
        yield store, cfg, protocol.generate_identity()
    finally:
        store.close()


def _identity_facts(items: list[dict]) -> list[tuple]:
    return [(i["payload"]["dossier_code"], i["payload"]["result"]) for i in items
            if i["kind"] == "dossier.fact" and i["payload"].get("kind") == "identity"]


def test_identity_checks_and_notifications_are_done_once_even_after_a_crash(hub):
    store, cfg, hub_identity = hub
    node = Link(store, hub_identity, "03325", AGENCY)
    first, denied = f"{AGENCY}-261207-0001", f"{AGENCY}-261207-0002"
    batch = node.seal([
        _intake(first, "011090001234", "Lò Văn Thành"),
        _step(first, status="DANG_XU_LY"),
        _intake(denied, DENIED, "Lò Văn Sai"),
        {"kind": "notification", "payload": {
            "notification_id": "n-1", "dossier_code": first, "event": "accept",
            "channel": "portal", "recipient": "tk-1", "text": "Hồ sơ đã được tiếp nhận",
            "created_at": "2026-12-07T01:00:00Z"}},
        _step(first, status="DA_TRA_KET_QUA", identity_status="chua_xac_thuc",
              id_number="011090001234"),  # the same dossier again: checked once
    ])

    def crash(*_args):  # the hub dies between the batch's commit and its follow-up
        raise RuntimeError("killed")

    ack = node.push(batch, after_apply=crash)
    assert (ack["status"], ack["acked_seq"]) == ("applied", 5)
    assert store.dossier(first)["status"] == "DA_TRA_KET_QUA"
    # the work was recorded with the batch: nothing answered yet, the notification queued
    assert [n["status"] for n in store.notifications(first)] == ["queued"]

    items = node.pull(follow_up=province.pull_hook(cfg))
    assert sorted(_identity_facts(items)) == [(first, "verified"), (denied, "rejected")]
    # answered once: a second pull, the batch again, and a catch-up add nothing
    assert node.pull(follow_up=province.pull_hook(cfg)) == []
    assert node.push(batch, after_apply=province.hook(cfg))["status"] == "duplicate"
    province.catch_up(store, cfg, NOW)
    statuses = [i["payload"]["status"] for i in node.pull(follow_up=province.pull_hook(cfg))
                if i["kind"] == "notification.status"]
    assert statuses == ["sent"]
    assert _identity_facts(node.pull(follow_up=province.pull_hook(cfg))) == []
    assert [n["status"] for n in store.notifications(first)] == ["sent"]


def test_a_failing_verifier_leaves_the_check_for_the_next_pull(hub, monkeypatch):
    store, cfg, hub_identity = hub
    node = Link(store, hub_identity, "03325", AGENCY)
    code = f"{AGENCY}-261207-0001"

    class Down:
        def verify(self, id_number, full_name):
            raise OSError("identity service unreachable")

    monkeypatch.setattr(province, "verifier", lambda cfg: Down())
    ack = node.push(node.seal([_intake(code, "011090001234", "Lò Văn Thành")]),
                    after_apply=province.hook(cfg))
    assert ack["status"] == "applied"  # the node keeps its acknowledgement
    assert _identity_facts(node.pull(follow_up=province.pull_hook(cfg))) == []
    monkeypatch.undo()
    assert _identity_facts(node.pull(follow_up=province.pull_hook(cfg))) == [
        (code, "verified")]


def _events(rng: random.Random, codes: list[str]) -> list[dict]:
    out = []
    for n in range(60):
        code = rng.choice(codes)
        changes = {"status": rng.choice(["DA_TIEP_NHAN", "DANG_XU_LY", "DA_TRA_KET_QUA"]),
                   f"field_{rng.randrange(4)}": n}
        if rng.random() < 0.2:
            changes["due_at"] = "not a time" if rng.random() < 0.3 else "2026-12-20T10:00:00Z"
        out.append(_step(code, **changes))
    return out


def test_a_batch_projects_dossiers_as_its_events_one_by_one_would(tmp_path, hub_backend):
    """Several events of one dossier in a batch are folded together before the write; what
    the province sees (dossiers, conflicts, quarantined events) is what one event per
    batch gives, including a second node writing the same codes."""
    rng = random.Random(12)
    codes = [f"{AGENCY}-261207-{i:04d}" for i in range(1, 6)]
    mine, theirs = _events(rng, codes), _events(rng, codes[:2])
    seen = []
    for name, size in (("whole", 30), ("single", 1)):
        store = HubStore(hub_backend or tmp_path / f"{name}.db")
        try:
            if hub_backend:  # one database per run: start from empty tables
                with store.tx():
                    for table in ("hub_followups", "hub_identity_checks", "feed", "conflicts",
                                  "hub_dossiers", "hub_events", "hub_batches", "nodes",
                                  "enroll_codes"):
                        store.execute(f"DELETE FROM {table}")
            hub_identity = protocol.generate_identity()
            a = Link(store, hub_identity, "03325", AGENCY)
            b = Link(store, hub_identity, "03328", AGENCY)  # same One-stop id, other commune
            for node, events in ((a, mine[:40]), (b, theirs), (a, mine[40:])):
                for start in range(0, len(events), size):
                    assert node.push(node.seal(events[start:start + size]))["status"] == (
                        "applied")
            seen.append((
                [{k: v for k, v in d.items() if k != "updated_at"} for d in store.dossiers()],
                sorted((c["node_id"], c["seq"], c["kind"]) for c in store.conflicts()),
                [[(e[1], e[2]) for e in store.node_events(n)] for n in (a.node_id, b.node_id)]))
        finally:
            store.close()
    assert seen[0] == seen[1]
    dossiers, conflicts, _ = seen[0]
    assert {d["code"] for d in dossiers} == set(codes)
    assert {k for _, _, k in conflicts} == {"second_owner", "bad_event"}


def test_deliver_sends_notifications_even_when_a_follow_up_fails(hub, monkeypatch):
    """``sync-hub deliver`` only delivered notifications before the follow-up queue; a
    follow-up that raises there (a population source that cannot be loaded, a busy
    database) must leave its work queued, not stop applicants' notifications."""
    store, cfg, hub_identity = hub
    node = Link(store, hub_identity, "03325", AGENCY)
    code = f"{AGENCY}-261207-0001"
    batch = node.seal([
        _intake(code, "011090001234", "Lò Văn Thành"),
        {"kind": "population.lookup", "payload": {"request_id": "r-1", "officer": "canbo",
                                                  "query": {"id_number": "011090001234"}}},
        {"kind": "notification", "payload": {
            "notification_id": "n-1", "dossier_code": code, "event": "accept",
            "channel": "portal", "recipient": "tk-1", "text": "Hồ sơ đã được tiếp nhận",
            "created_at": "2026-12-07T01:00:00Z"}}])
    assert node.push(batch)["status"] == "applied"  # no follow-up run: all three wait

    def broken(cfg):
        raise ValueError("unknown population source 'flie'")

    monkeypatch.setattr("sync.hub.population.load_source", broken)
    assert province.catch_up(store, cfg, NOW) == (1, 0)
    assert [n["status"] for n in store.notifications(code)] == ["sent"]
    # the identity check did not need the source; the look-up stays queued for next time
    assert store.execute("SELECT task FROM hub_followups").fetchall() == [("population",)]
    monkeypatch.undo()
    province.catch_up(store, cfg, NOW)
    assert store.execute("SELECT count(*) FROM hub_followups").fetchone()[0] == 0
