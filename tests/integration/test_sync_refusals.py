"""Every bad envelope is refused with its own code, logged at the hub, nothing applied."""

import json
import uuid

import pytest
import requests

from edge_node.domain.clock import now_utc
from edge_node.services import sync as sync_service
from sync import protocol
from tests.integration.sync_helpers import hub_cli, linked_node, node_cli


@pytest.fixture
def linked(tmp_path, cfg, db):
    for hub, world in linked_node(tmp_path, cfg, db):
        for _ in range(3):
            world.receive()
        yield hub, world


def seal_batch(cfg, db, first, last, *, identity=None, prev=None, batch_id=None, kind="batch"):
    state = sync_service.enrolled(db)
    records = [{"seq": s, "event_id": uuid.uuid4().hex, "kind": "note",
                "at": "2026-12-07T01:00:00Z", "payload": {}} for s in range(first, last + 1)]
    return protocol.seal(records, sender=identity or sync_service.identity(cfg),
                         receiver=protocol.PeerKeys.from_bundle(json.loads(state["hub_bundle"])),
                         sender_id=state["node_id"], receiver_id=state["hub_id"],
                         batch_id=batch_id or uuid.uuid4().hex, first_seq=first, last_seq=last,
                         prev_hash=prev or protocol.GENESIS_HASH,
                         created_at=now_utc().isoformat(), kind=kind)


def post(hub, data):
    return requests.post(hub.url + "/api/v1/sync/push", data=data, timeout=10)


def hub_events(hub):
    return hub.get("/api/v1/nodes").json()["items"][0]["acked_seq"]


def test_tampered_and_foreign_envelopes_are_refused_before_anything_is_applied(linked, cfg,
                                                                               db):
    hub, _ = linked
    good = seal_batch(cfg, db, 1, 2)
    flipped_sig = good[:-1] + bytes([good[-1] ^ 1])
    flipped_body = bytearray(good)
    flipped_body[len(good) - 64 - 5] ^= 0x40  # inside the ciphertext
    header_len = int.from_bytes(good[8:12], "big")
    header = json.loads(good[12:12 + header_len])
    header["v"] = 2
    v2 = good[:8] + len(protocol.canonical_json(header)).to_bytes(4, "big") + \
        protocol.canonical_json(header) + good[12 + header_len:]
    stranger = seal_batch(cfg, db, 1, 2, identity=protocol.generate_identity())
    cases = [
        (flipped_sig, 403, "bad_signature"),
        (bytes(flipped_body), 403, "bad_signature"),
        (good[:-10], 400, "truncated"),
        (b"rubbish" * 10, 400, "bad_magic"),
        (v2, 400, "unsupported_version"),
        (stranger, 403, "unknown_key"),
        (b"x" * (9 * 1024 * 1024), 413, None),
    ]
    for data, status, code in cases:
        resp = post(hub, data)
        assert resp.status_code == status, (code, resp.text[:200])
        if code:
            assert resp.json()["error"]["code"] == code
    assert hub_events(hub) == 0
    page = hub.get("/")
    assert "bad_signature" in page.text and "unsupported_version" in page.text
    # who claimed to send them is logged (marked unverified with '?')
    assert "?" + sync_service.enrolled(db)["node_id"] in page.text


def test_gaps_replays_and_conflicting_batches(linked, cfg, db):
    hub, _ = linked
    me = sync_service.identity(cfg)
    state = sync_service.enrolled(db)
    hub_keys = protocol.PeerKeys.from_bundle(json.loads(state["hub_bundle"]))

    def ack(resp):
        assert resp.status_code == 200, resp.text
        return protocol.open_envelope(resp.content, receiver=me, receiver_id=state["node_id"],
                                      expected_sender=hub_keys).records[0]

    gap = ack(post(hub, seal_batch(cfg, db, 3, 4)))
    assert gap["status"] == "gap" and gap["resend_from"] == 1
    first = seal_batch(cfg, db, 1, 2, batch_id="lo-1")
    assert ack(post(hub, first))["status"] == "applied"
    assert ack(post(hub, first))["status"] == "duplicate"  # replay: acked, not re-applied
    other = seal_batch(cfg, db, 1, 2, batch_id="lo-1")
    resp = post(hub, other)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "batch_conflict"
    wrong_chain = ack(post(hub, seal_batch(cfg, db, 3, 3, prev="ab" * 32)))
    assert wrong_chain["status"] == "chain_broken" and wrong_chain["resend_from"] == 3
    assert hub_events(hub) == 2


def test_revoked_node_is_refused_and_the_clerk_is_told(linked, cfg, db):
    hub, _ = linked
    node_id = sync_service.enrolled(db)["node_id"]
    assert hub_cli(hub.home, "revoke", node_id).returncode == 0
    report = sync_service.sync_once(db, cfg, now_fn=now_utc)
    assert report.error == "revoked_sender"
    status = sync_service.status(db)
    assert "thu hồi" in status["last_error_message"] and status["pending_events"] > 0
    assert hub_events(hub) == 0


def test_the_node_recovers_after_an_error(linked, cfg, db):
    hub, world = linked
    hub.stop()
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error == "offline"
    world.receive()
    hub.start()
    report = sync_service.sync_once(db, cfg, now_fn=now_utc)
    assert report.error is None and sync_service.status(db)["pending_events"] == 0
    assert hub_events(hub) == db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]


def test_sync_page_shows_state_in_vietnamese(linked, app, db):
    from tests.conftest import login

    hub, _ = linked
    hub.stop()
    client = app.test_client()
    login(client, "canbo")
    page = client.get("/sync").get_data(as_text=True)
    assert "Sự kiện chờ gửi" in page
    from tests.conftest import csrf_from

    client.post("/sync", data={"csrf_token": csrf_from(page)})
    page = client.get("/sync").get_data(as_text=True)
    assert "Chưa kết nối được" in page and "Không kết nối được tới hệ thống của tỉnh" in page
    assert "○ Mất kết nối tỉnh" in page  # the top bar says it on every page


def test_re_enrolling_a_node_carries_its_dossiers_over(linked, cfg, db):
    hub, world = linked
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    code = dossier_codes(db)[0]
    assert node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                    hub.enroll_code()).returncode == 0
    world.act(code, "transfer", "canbo")
    report = sync_service.sync_once(db, cfg, now_fn=now_utc)
    assert report.error is None
    detail = hub.get(f"/api/v1/dossiers/{code}").json()
    assert detail["status"] == "DANG_XU_LY" and detail["node_id"].endswith("-2")
    assert sync_service.status(db)["conflicts"] == 0


def dossier_codes(db):
    return [r[0] for r in db.conn.execute("SELECT code FROM dossiers ORDER BY code")]


def test_a_malformed_event_is_quarantined_and_pages_keep_working(linked, cfg, db):
    hub, _ = linked
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    acked = hub_events(hub)
    state = sync_service.enrolled(db)
    bad = [{"seq": acked + 1, "event_id": uuid.uuid4().hex, "kind": "dossier.event",
            "at": "2026-12-07T01:00:00Z",
            "payload": {"dossier_code": {"x": 1}, "set": {"status": {"y": 2}}}},
           {"seq": acked + 2, "event_id": uuid.uuid4().hex, "kind": "dossier.event",
            "at": "2026-12-07T01:00:00Z",
            "payload": {"dossier_code": dossier_codes(db)[0],
                        "set": {"received_at": "not a date"}}}]
    envelope = protocol.seal(bad, sender=sync_service.identity(cfg),
                             receiver=protocol.PeerKeys.from_bundle(
                                 json.loads(state["hub_bundle"])),
                             sender_id=state["node_id"], receiver_id=state["hub_id"],
                             batch_id=uuid.uuid4().hex, first_seq=acked + 1,
                             last_seq=acked + 2, prev_hash=state["prev_hash"],
                             created_at=now_utc().isoformat(), kind="batch")
    assert post(hub, envelope).status_code == 200  # applied once, the rest keeps flowing
    assert hub_events(hub) == acked + 2
    for path in ("/", "/dossiers", f"/dossiers/{dossier_codes(db)[0]}",
                 "/api/v1/reports/period?from=2026-12-01&to=2026-12-31"):
        assert hub.get(path).status_code == 200, path
    assert "bad_event" in hub.get("/").text


@pytest.mark.parametrize("version,words", [(2, "newer than this side supports (1..1)"),
                                           (0, "older than this side supports (1..1)")])
def test_the_hub_refuses_a_node_outside_its_protocol_window(linked, cfg, db, monkeypatch,
                                                            version, words):
    hub, _ = linked
    # a node built for another protocol version: its envelopes are genuinely signed
    real_seal = protocol.seal

    def seal_as_other_version(*args, **kwargs):
        with monkeypatch.context() as m:
            m.setattr(protocol, "PROTOCOL_VERSION", version)
            return real_seal(*args, **kwargs)

    monkeypatch.setattr(protocol, "seal", seal_as_other_version)
    report = sync_service.sync_once(db, cfg, now_fn=now_utc)
    assert report.error == "unsupported_version"
    state = sync_service.status(db)
    assert "nâng cấp phần mềm" in state["last_error_message"]  # what the clerk reads
    technical = db.conn.execute("SELECT value FROM settings WHERE key ="
                                " 'sync.last_error_technical'").fetchone()[0]
    assert words in technical  # what IT staff read: which side to upgrade
    assert state["pending_events"] >= 3 and hub_events(hub) == 0
    assert "unsupported_version" in hub.get("/").text  # logged at the hub
    monkeypatch.setattr(protocol, "seal", real_seal)
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None


def test_enrollment_from_a_node_of_another_protocol_version_is_refused(tmp_path):
    from tests.integration.sync_helpers import Hub

    hub = Hub(tmp_path / "hub2").start()
    try:
        bundle = protocol.public_bundle(protocol.generate_identity())
        for version, words in ((7, "newer"), (0, "older")):
            resp = requests.post(hub.url + "/api/v1/enroll", timeout=10, json={
                "code": hub.enroll_code(), "node_bundle": bundle,
                "protocol_version": version})
            assert resp.status_code == 400
            error = resp.json()["error"]
            assert error["code"] == "unsupported_version" and words in error["message"]
        # a node from before the field is taken as version 1
        resp = requests.post(hub.url + "/api/v1/enroll", timeout=10, json={
            "code": hub.enroll_code(), "node_bundle": bundle})
        assert resp.status_code == 201
    finally:
        hub.stop()
