"""Hub ingest by backend: events applied per second from 50 simulated nodes pushing at once.

Three set-ups, each on a fresh database: SQLite with 1 ``sync-hub serve`` process,
PostgreSQL with 1 process, PostgreSQL with 3 processes (each node sends every request to
any process). Every node enrolls over HTTP, then its batches are sealed with the real
envelope code (``sync.protocol``, chained by ``prev_hash`` as a node does) before the clock
starts; the timed part is the nodes' threads posting their batches in order, the hub
verifying, decrypting, applying and acknowledging each. At the end the hub must hold every
event exactly once. PostgreSQL is a throwaway server from Debian's packages (as in the
tests) unless ``--pg-url`` or ``EDGE_TEST_PG_URL`` names one that may create databases.

    python bench/bench_hub_backends.py [--nodes 50] [--batches 20] [--events 10]

The figures depend on the machine's cores: the hub processes, PostgreSQL and the 50
client threads share them.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from sync import protocol  # noqa: E402
from sync.hub import service  # noqa: E402
from sync.hub.db import close_pools  # noqa: E402
from sync.hub.store import HubStore  # noqa: E402
from tests import pg_server  # noqa: E402
from tests.hub_sim import OCTET, HubProcess, SimNode, prepare_home  # noqa: E402

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
COMMUNES = ("03325", "03328", "03334")


def sealed_batches(node: SimNode, batches: int, events: int) -> list[bytes]:
    """The node's whole backlog as chained batch envelopes (what it would send)."""
    node.work(batches * events)
    out = []
    for _ in range(batches):
        batch = node.next_batch(events)
        out.append(batch["envelope"])
        node.acked = batch["last"]  # as if acknowledged: the next one chains after it
        node.stored = None
    node.acked = 0
    return out


def run(label: str, target: str, processes: int, args, workdir: Path) -> dict:
    home = workdir / label.replace(" ", "-")
    prepare_home(home, target if target.startswith("postgresql") else "", threads=8)
    store = HubStore(target if target.startswith("postgresql") else home / "hub.db")
    codes = [service.new_enroll_code(store, commune_code=COMMUNES[i % 3], agency_id="",
                                     now=NOW, hours=2)[0] for i in range(args.nodes)]
    store.close()
    procs = [HubProcess(home).start() for _ in range(processes)]
    urls = [p.url for p in procs]
    try:
        nodes = [SimNode(f"b{i:02d}", random.Random(i), NOW) for i in range(args.nodes)]
        for node, code in zip(nodes, codes, strict=True):
            node.enroll(urls, code)
        backlog = {n.name: sealed_batches(n, args.batches, args.events) for n in nodes}
        failures: list[str] = []

        def push(node: SimNode) -> None:
            session = requests.Session()
            for i, env in enumerate(backlog[node.name]):
                url = urls[(int(node.name[1:]) + i) % len(urls)]  # any process, any request
                resp = session.post(url + "/api/v1/sync/push", data=env, headers=OCTET,
                                    timeout=120)
                if resp.status_code != 200:
                    failures.append(f"{node.name}: HTTP {resp.status_code} {resp.text[:200]}")
                    return

        threads = [threading.Thread(target=push, args=(n,)) for n in nodes]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
        if failures:
            raise SystemExit(f"{label}: {failures[:3]}")
        check = HubStore(target if target.startswith("postgresql") else home / "hub.db",
                         migrate=False)
        try:
            held = check.execute("SELECT count(*) FROM hub_events").fetchone()[0]
            dupes = check.execute("SELECT count(*) FROM (SELECT node_id, seq FROM hub_events"
                                  " GROUP BY node_id, seq HAVING count(*) > 1) d").fetchone()[0]
        finally:
            check.close()
        total = args.nodes * args.batches * args.events
        if held != total or dupes:
            raise SystemExit(f"{label}: hub holds {held} of {total} events ({dupes} twice)")
        return {"label": label, "processes": processes, "events": total,
                "batches": args.nodes * args.batches, "seconds": seconds}
    finally:
        for p in procs:
            p.stop()
        close_pools()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--batches", type=int, default=20, help="batches per node")
    parser.add_argument("--events", type=int, default=10, help="events per batch")
    parser.add_argument("--pg-url", default=os.environ.get("EDGE_TEST_PG_URL", ""),
                        help="a PostgreSQL server's admin URL (default: start a throwaway one)")
    args = parser.parse_args()
    server = None
    admin = args.pg_url
    if not admin:
        server = pg_server.PgServer(durable=True).start()  # fsync on, as SQLite's FULL
        admin = server.url()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
            work = Path(tmp)
            rows.append(run("sqlite 1 process", "sqlite", 1, args, work))
            for processes in (1, 3):
                url = pg_server.create_database(admin, prefix="bench_hub")
                try:
                    rows.append(run(f"postgresql {processes} process"
                                    f"{'es' if processes > 1 else ''}", url, processes, args,
                                    work))
                finally:
                    pg_server.drop_database(admin, url)
    finally:
        if server is not None:
            server.stop()
    print(f"\n{args.nodes} nodes x {args.batches} batches x {args.events} events, "
          f"{os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f}), protocol "
          f"{protocol.PROTOCOL_VERSION}; SQLite synchronous=FULL, PostgreSQL fsync on")
    print(f"{'backend':<24}{'processes':>10}{'events':>9}{'seconds':>9}{'events/s':>10}"
          f"{'batches/s':>11}")
    for r in rows:
        print(f"{r['label']:<24}{r['processes']:>10}{r['events']:>9}{r['seconds']:>9.1f}"
              f"{r['events'] / r['seconds']:>10.0f}{r['batches'] / r['seconds']:>11.1f}")


if __name__ == "__main__":
    main()
