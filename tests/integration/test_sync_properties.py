"""Hypothesis: any interleaving of duplicates, reorders and drops converges to one hub state."""

import uuid
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync import protocol
from sync.hub import service
from sync.hub.store import HubStore

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def test_any_delivery_schedule_converges(tmp_path_factory, hub_backend):
    hub_identity = protocol.generate_identity()
    node_identity = protocol.generate_identity()
    counter = iter(range(10**6))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.integers(1, 6), min_size=1, max_size=8),
           st.lists(st.tuples(st.sampled_from(["send", "dup", "drop"]), st.integers(0, 20)),
                    max_size=25))
    def run(sizes, schedule):
        # a new SQLite file per example; on PostgreSQL one database, a new node per example
        store = HubStore(hub_backend or tmp_path_factory.getbasetemp() / f"hub-{next(counter)}.db")
        try:
            code, _ = service.new_enroll_code(store, commune_code="03325", agency_id="",
                                              now=NOW, hours=1)
            node_id = service.enroll(store, hub_id="hub", identity=hub_identity, now=NOW,
                                     body={"code": code, "node_bundle":
                                           protocol.public_bundle(node_identity)})["node_id"]
            batches, seq, prev = [], 1, protocol.GENESIS_HASH
            for size in sizes:
                records = [{"seq": s, "event_id": f"e{s}", "kind": "note", "at": "t",
                            "payload": {"n": s}} for s in range(seq, seq + size)]
                env = protocol.seal(records, sender=node_identity, receiver=hub_identity.public,
                                    sender_id=node_id, receiver_id="hub",
                                    batch_id=uuid.uuid4().hex, first_seq=seq,
                                    last_seq=seq + size - 1, prev_hash=prev,
                                    created_at=NOW.isoformat(), kind="batch")
                batches.append(env)
                prev = protocol.envelope_digest(env)
                seq += size
            total = seq - 1

            def deliver(env):
                reply = service.push(store, hub_id="hub", identity=hub_identity, data=env,
                                     now=NOW, max_bytes=1 << 20)
                return protocol.open_envelope(reply, receiver=node_identity,
                                              receiver_id=node_id,
                                              expected_sender=hub_identity.public).records[0]

            for op, index in schedule:
                env = batches[index % len(batches)]
                if op == "drop":
                    continue
                ack = deliver(env)
                if op == "dup":
                    again = deliver(env)
                    assert again["acked_seq"] == ack["acked_seq"]  # a duplicate changes nothing
                assert ack["acked_seq"] <= total
            # the node's retries: everything again, in order
            for env in batches:
                deliver(env)
            rows = store.execute("SELECT seq, event_id FROM hub_events WHERE node_id = ?"
                                 " ORDER BY seq", (node_id,)).fetchall()
            assert [tuple(r) for r in rows] == [(s, f"e{s}") for s in range(1, total + 1)]
            assert store.node(node_id)["acked_seq"] == total
        finally:
            store.close()

    run()
