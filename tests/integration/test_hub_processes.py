"""Three ``sync-hub serve`` processes on one PostgreSQL database, 20 nodes at once, and one
process killed with SIGKILL mid-run: every event applied exactly once, every node's feed read
once and in order, every node converged and reconciled."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime

import pytest
import requests

from sync.hub import service
from sync.hub.store import HubStore
from tests.hub_sim import HubProcess, SimNode, prepare_home
from tests.integration.sync_helpers import ADMIN_PASSWORD, hub_cli

COMMUNES = ("03325", "03328", "03334")
NODES = 20
ROUNDS = 12
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


@pytest.fixture
def pg_url(pg_admin_url):
    from sync.hub.db import close_pools
    from tests import pg_server

    url = pg_server.create_database(pg_admin_url, prefix="hub_cluster")
    yield url
    close_pools()
    pg_server.drop_database(pg_admin_url, url)


def _publisher(url: str, label: str, count: int, errors: list) -> None:
    """What `sync-hub calendar override` does, from another client, while nodes sync."""
    try:
        for i in range(count):
            store = HubStore(url, migrate=False)
            try:
                store.publish("calendar.override", {"date": f"2026-12-{10 + i:02d}",
                                                    "working": False, "note": label},
                              "2026-12-07T01:00:00Z")
            finally:
                store.close()
            time.sleep(0.05)
    except Exception as exc:  # reported by the test, not lost in a thread
        errors.append(repr(exc))


def test_twenty_nodes_three_hub_processes_one_killed(pg_url, tmp_path):
    home = tmp_path / "hub"
    prepare_home(home, pg_url, threads=6)
    assert hub_cli(home, "user", "add", "tinh", "--role", "admin", "--password-stdin",
                   input=ADMIN_PASSWORD + "\n").returncode == 0
    store = HubStore(pg_url)
    store.add_catalog("Bộ thủ tục thử", [], "2026-12-07T00:00:00Z")
    codes = [service.new_enroll_code(store, commune_code=COMMUNES[i % 3], agency_id="",
                                     now=NOW, hours=2)[0] for i in range(NODES)]
    store.close()
    procs = [HubProcess(home).start() for _ in range(3)]
    urls = [p.url for p in procs]
    nodes = [SimNode(f"n{i:02d}", random.Random(i), NOW) for i in range(NODES)]
    errors: list[str] = []
    try:
        # enrollment races: all nodes at once, through any process, several per commune
        enrolling = [threading.Thread(target=n.enroll, args=(urls, c))
                     for n, c in zip(nodes, codes, strict=True)]
        for t in enrolling:
            t.start()
        for t in enrolling:
            t.join()
        ids = sorted(n.node_id for n in nodes)
        assert len(set(ids)) == NODES
        for commune in COMMUNES:
            mine = sorted(int(i.split("-")[1]) for i in ids if i.startswith(commune))
            assert mine == list(range(1, len(mine) + 1))

        def run(node: SimNode) -> None:
            try:
                for _ in range(ROUNDS):
                    node.work(node.rng.randint(1, 12))
                    for _ in range(node.rng.randint(1, 4)):
                        if not node.push_once(urls, size=node.rng.randint(1, 6)):
                            break
                    if node.rng.random() < 0.5:
                        node.pull(urls)
            except Exception as exc:
                errors.append(f"{node.name}: {exc!r}")

        workers = [threading.Thread(target=run, args=(n,)) for n in nodes]
        workers += [threading.Thread(target=_publisher, args=(pg_url, f"QĐ {k}", 8, errors))
                    for k in (1, 2)]
        for t in workers:
            t.start()
        # kill one process mid-run, once a good share of the events is in
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = HubStore(pg_url, migrate=False)
            try:
                applied = done.execute("SELECT count(*) FROM hub_events").fetchone()[0]
            finally:
                done.close()
            if applied >= 300:
                break
            time.sleep(0.1)
        procs[1].kill9()
        for t in workers:
            t.join(timeout=300)
        assert not errors, errors[:5]

        # every node finishes on the processes still alive (the dead one still in its list)
        for node in nodes:
            node.push_all(urls, size=10)
            while node.pull(urls):
                pass
        assert sum(n.retries for n in nodes) > 0  # the kill was felt, and survived
        print(f"{sum(len(n.events) for n in nodes)} events, {sum(n.requests for n in nodes)}"
              f" requests, {sum(n.retries for n in nodes)} retried after the kill")

        check = HubStore(pg_url, migrate=False)
        try:
            for node in nodes:
                held = check.execute("SELECT seq, event_id FROM hub_events WHERE node_id = ?"
                                     " ORDER BY seq", (node.node_id,)).fetchall()
                assert [tuple(r) for r in held] == [(e["seq"], e["event_id"])
                                                    for e in node.events], node.name
                assert check.node(node.node_id)["acked_seq"] == len(node.events)
                # no batch applied twice: the applied ranges tile 1..n exactly
                ranges = check.execute("SELECT first_seq, last_seq FROM hub_batches WHERE"
                                       " node_id = ? ORDER BY first_seq",
                                       (node.node_id,)).fetchall()
                covered = [s for first, last in ranges for s in range(first, last + 1)]
                assert covered == list(range(1, len(node.events) + 1)), node.name
                feed = check.execute("SELECT seq, kind, payload FROM feed WHERE node_id = ?"
                                     " ORDER BY seq", (node.node_id,)).fetchall()
                assert [i["seq"] for i in node.feed] == [r[0] for r in feed]
                assert [i["kind"] for i in node.feed].count("calendar.override") == 16
                assert [i["kind"] for i in node.feed].count("catalog") == 1
                assert node.reconcile(urls)["match"], node.name
            total = check.execute("SELECT count(*) FROM hub_events").fetchone()[0]
            assert total == sum(len(n.events) for n in nodes)
            assert check.execute("SELECT count(*) FROM conflicts").fetchone()[0] == 0
        finally:
            check.close()
        for proc in (procs[0], procs[2]):
            health = requests.get(proc.url + "/healthz", timeout=5).json()
            assert health["status"] == "ok"
            assert health["database"]["backend"] == "postgresql"
            assert health["database"]["reachable"] is True
            assert health["database"]["schema_version"] == health["database"][
                "expected_version"]
        # a province account logged in on one process is known to every other one
        token = requests.post(procs[0].url + "/api/v1/session", timeout=10, json={
            "username": "tinh", "password": ADMIN_PASSWORD}).json()["token"]
        listed = requests.get(procs[2].url + "/api/v1/nodes", timeout=10,
                              headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200
        assert sorted(n["node_id"] for n in listed.json()["items"]) == ids
    finally:
        for p in procs:
            p.stop()
