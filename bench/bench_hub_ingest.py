"""Hub ingest: events applied per second from 50 nodes pushing at once, and ack latency.

    python bench/bench_hub_ingest.py [--nodes 50] [--events 2000] [--batch 500]
    python bench/bench_hub_ingest.py --quick          # 50 nodes x 200 events, batches of 100

Starts a real ``sync-hub serve`` (``python -m sync serve``, SQLite store, waitress with its
default 8 threads) on a loopback port and enrolls N simulated nodes through the real
``POST /api/v1/enroll`` (one-time codes made with the hub's own ``new_enroll_code``), each with
its own commune (2025 codes read from the reference data) and One-stop identifier. Each node's
history is the realistic dossier mix of ``bench_reports.py`` (acceptance snapshots, transfers,
supplements, results, …); its batches are sealed beforehand exactly as a node seals them
(``sync.protocol.seal``, hash-chained, ``MAX_BATCH_EVENTS`` per batch by default), so the
timed part is the hub's: verify, decrypt, inflate, apply and project in one transaction,
seal the ack. Then N client threads push their batches one after the other, all at once.

Prints events applied per second over the wall time (target ≥ 5,000/s on 2 cores) and the
p50/p95/max of the time from sending a batch to receiving its signed ack. The client threads
run on the same machine, so they take some of the same CPU; on a shared machine the wall-clock
rate says more about the neighbours than about the hub, so the hub process's own CPU time
(``/proc/PID/stat``) is printed too: events applied per hub CPU-second is what one core
would sustain. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_reports  # noqa: E402

from edge_node.domain.calendar import TZ, WorkCalendar  # noqa: E402
from edge_node.domain.clock import now_utc  # noqa: E402
from edge_node.services.sync import MAX_BATCH_EVENTS  # noqa: E402
from sync import protocol  # noqa: E402
from sync.hub.config import load_hub_config  # noqa: E402
from sync.hub.service import new_enroll_code  # noqa: E402
from sync.hub.store import HubStore  # noqa: E402
from tests.integration.sync_helpers import ENV  # noqa: E402
from tests.integration.test_cli import free_port  # noqa: E402

WARDS = ROOT.parent / "shared" / "data" / "reference" / "vn_wards_2025.csv"


def communes(n: int) -> list[str]:
    """N 2025 commune codes, Điện Biên's first (province code 11)."""
    with WARDS.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows.sort(key=lambda r: (r["province_code"] != "11", r["ward_code"]))
    return [r["ward_code"] for r in rows[:n]]


def history(index: int, agency: str, events: int) -> list[dict]:
    """The first *events* outbox records of a commune's realistic dossier history."""
    bench_reports.AGENCY = agency  # the generator issues codes under this agency
    bench_reports.NOW = datetime(2026, 11, 30, 17, 0, tzinfo=TZ)
    gen = bench_reports.Generator(random.Random(index), WorkCalendar(),
                                  columns=[r for r in _COLUMNS])
    while len(gen.outbox) < events:
        gen.one()
    rows = sorted(gen.outbox, key=lambda e: e[3])[:events]
    return [{"seq": i + 1, "event_id": event_id, "kind": kind, "at": at,
             "payload": json.loads(payload)}
            for i, (event_id, kind, payload, at, _acked) in enumerate(rows)]


_COLUMNS: list[str] = []


def dossier_columns() -> list[str]:
    import sqlite3

    from edge_node.store.db import migrate
    from edge_node.store.db import sqlite_utils as su

    db = su.Database(sqlite3.connect(":memory:", isolation_level=None))
    db.conn.create_function("vn_fold", 1, lambda s: s, deterministic=True)
    migrate(db)
    return [r[1] for r in db.conn.execute("PRAGMA table_info(dossiers)")]


class HubProcess:
    """``python -m sync --home HOME serve`` on a free loopback port, its log kept in a file."""

    def __init__(self, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        self.home, self.port = home, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "serve.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sync", "--home", str(home), "serve", "--port",
                 str(self.port)], stdout=subprocess.DEVNULL, stderr=log, env=ENV, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("sync-hub serve exited: " + self.log.read_text()[-2000:])
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise SystemExit("sync-hub serve did not answer /healthz")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of *pid* (Linux ``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SimNode:
    """An enrolled identity with its sealed, chained batches."""

    def __init__(self, hub_url: str, code: str):
        self.identity = protocol.generate_identity()
        resp = requests.post(hub_url + "/api/v1/enroll", timeout=30, json={
            "code": code, "node_bundle": protocol.public_bundle(self.identity),
            "label": "bench"})
        resp.raise_for_status()
        body = resp.json()
        self.node_id, self.hub_id = body["node_id"], body["hub_id"]
        self.hub_keys = protocol.PeerKeys.from_bundle(body["hub_bundle"])
        self.batches: list[tuple[int, bytes]] = []

    def seal_all(self, records: list[dict], size: int) -> int:
        prev = protocol.GENESIS_HASH
        total = 0
        for start in range(0, len(records), size):
            part = records[start:start + size]
            env = protocol.seal(part, sender=self.identity, receiver=self.hub_keys,
                                sender_id=self.node_id, receiver_id=self.hub_id,
                                batch_id=uuid.uuid4().hex, first_seq=part[0]["seq"],
                                last_seq=part[-1]["seq"], prev_hash=prev,
                                created_at=datetime.now(UTC).isoformat(),
                                kind=protocol.KIND_BATCH)
            prev = protocol.envelope_digest(env)
            self.batches.append((len(part), env))
            total += len(env)
        return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--events", type=int, default=2000, help="events per node")
    parser.add_argument("--batch", type=int, default=MAX_BATCH_EVENTS, help="events per batch")
    parser.add_argument("--quick", action="store_true", help="200 events per node, batch 100")
    args = parser.parse_args()
    if args.quick:
        args.events, args.batch = 200, 100
    _COLUMNS.extend(dossier_columns())
    root = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    hub = HubProcess(root / "hub")
    try:
        cfg = load_hub_config(root / "hub", environ={})
        store = HubStore(cfg.db_path)
        codes = []
        for i, commune in enumerate(communes(args.nodes)):
            agency = f"{i + 100:03d}.25.33.H18"
            codes.append((agency, new_enroll_code(store, commune_code=commune, agency_id=agency,
                                                  now=now_utc(), hours=1)[0]))
        store.close()
        t0 = time.perf_counter()
        nodes = []
        wire = 0
        for i, (agency, code) in enumerate(codes):
            node = SimNode(hub.url, code)
            wire += node.seal_all(history(i, agency, args.events), args.batch)
            nodes.append(node)
        prepared = time.perf_counter() - t0
        total_events = sum(n for node in nodes for n, _ in node.batches)
        total_batches = sum(len(node.batches) for node in nodes)
        latencies: list[float] = []
        failures: list[str] = []
        conflicts, applied = [0], [0]
        lock = threading.Lock()
        barrier = threading.Barrier(len(nodes) + 1)

        def push(node: SimNode) -> None:
            session = requests.Session()
            barrier.wait()
            for _count, env in node.batches:
                start = time.perf_counter()
                resp = session.post(hub.url + "/api/v1/sync/push", data=env, timeout=300,
                                    headers={"Content-Type": "application/octet-stream"})
                took = time.perf_counter() - start
                if resp.status_code != 200:
                    with lock:
                        failures.append(f"HTTP {resp.status_code} {resp.text[:200]}")
                    return
                ack = protocol.open_envelope(resp.content, receiver=node.identity,
                                             receiver_id=node.node_id,
                                             expected_sender=node.hub_keys).records[0]
                with lock:
                    latencies.append(took)
                    conflicts[0] += int(ack.get("conflicts") or 0)
                    applied[0] += int(ack.get("applied") or 0)
                    if ack["status"] != "applied":
                        failures.append(f"ack {ack['status']}")

        threads = [threading.Thread(target=push, args=(node,)) for node in nodes]
        for t in threads:
            t.start()
        cpu_before = cpu_seconds(hub.proc.pid)
        barrier.wait()
        start = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        hub_cpu = cpu_seconds(hub.proc.pid) - cpu_before
    finally:
        hub.stop()
    ms = sorted(v * 1000 for v in latencies)
    print(f"{args.nodes} nodes x {args.events} events ({total_events:,} events, "
          f"{total_batches} batches of ≤ {args.batch}, {wire / 1e6:.1f} MB sealed; "
          f"prepared in {prepared:.0f} s); failures: {len(failures)} "
          f"{failures[:3] if failures else ''}")
    errors = [line for line in hub.log.read_text(errors="replace").splitlines()
              if "Error" in line and not line.startswith(" ")]
    if errors:
        print(f"hub log: {len(errors)} error lines, e.g. {errors[-1][:200]}")
    print("| events/s applied | wall s | ack p50 ms | ack p95 ms | ack max ms | "
          "conflicts flagged | hub CPU s | events per hub CPU-second | target |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    print(f"| {applied[0] / wall:,.0f} | {wall:.1f} | {statistics.median(ms):.0f} | "
          f"{pct(ms, 95):.0f} | {ms[-1]:.0f} | {conflicts[0]} | {hub_cpu:.1f} | "
          f"{applied[0] / max(hub_cpu, 1e-9):,.0f} | ≥ 5,000/s |")
    shutil.rmtree(root, ignore_errors=True)


def pct(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


if __name__ == "__main__":
    main()
