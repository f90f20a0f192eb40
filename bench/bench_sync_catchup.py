"""30 days offline (~1,500 dossiers, ~6,000 events) reconciled through a 256 kbit/s link.

Prints the wall time, bytes on the wire per dossier, and the ratio of bytes on the wire to
the compressed payload. Runs a real hub process and a real node home on loopback.

    python bench/bench_sync_catchup.py [--dossiers 1500] [--kbit 256] [--loss 0.0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_node.config import load_config  # noqa: E402
from edge_node.domain.clock import now_utc  # noqa: E402
from edge_node.services import sync as sync_service  # noqa: E402
from edge_node.services.node import init_home  # noqa: E402
from edge_node.store import settings  # noqa: E402
from edge_node.store.db import open_db, write_tx  # noqa: E402
from tests.faults.proxy import FaultProxy  # noqa: E402
from tests.integration.lifecycle_helpers import World, vn  # noqa: E402
from tests.integration.sync_helpers import Hub  # noqa: E402
from tests.integration.test_sync import node_cli  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dossiers", type=int, default=1500)
    parser.add_argument("--kbit", type=int, default=256)
    parser.add_argument("--loss", type=float, default=0.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    hub = Hub(root / "hub").start()
    try:
        cfg = load_config(root / "node", environ={})
        init_home(cfg)
        assert node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                        hub.enroll_code()).returncode == 0
        db = open_db(cfg.db_path)
        world = World(db, vn(2026, 11, 2, 8, 0))
        started = time.perf_counter()
        for i in range(args.dossiers):  # ~4 events per dossier over 30 days
            world.now = vn(2026, 11, 2, 8, 0).__class__.fromtimestamp(
                vn(2026, 11, 2, 8, 0).timestamp() + i * 30 * 86400 / args.dossiers,
                vn(2026, 11, 2).tzinfo)
            code = world.receive()["code"]
            world.act(code, "transfer", "canbo")
            world.act(code, "handover", "chuyenvien")
            world.act(code, "complete", "lanhdao")
        make = time.perf_counter() - started
        events = db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        payload = b"".join(r[0].encode() for r in db.conn.execute(
            "SELECT payload FROM outbox ORDER BY seq"))
        compressed = len(zlib.compress(payload, 9))
        proxy = FaultProxy(hub.port, seed=1, bytes_per_second=args.kbit * 1000 // 8)
        proxy.loss = args.loss
        with write_tx(db):
            settings.put(db, "sync.hub_url", proxy.url)
        started = time.perf_counter()
        rounds = 0
        while sync_service.status(db)["pending_events"] and rounds < 50:
            sync_service.sync_once(db, cfg, now_fn=now_utc)
            rounds += 1
        wall = time.perf_counter() - started
        assert sync_service.status(db)["pending_events"] == 0
        print(f"dossiers={args.dossiers} events={events} (generated in {make:.1f} s)")
        print(f"link={args.kbit} kbit/s loss={args.loss:.0%} rounds={rounds}")
        print("| wall time s | wire bytes | bytes/dossier | compressed payload | wire/payload |")
        print("|---:|---:|---:|---:|---:|")
        print(f"| {wall:.1f} | {proxy.wire_bytes} | {proxy.wire_bytes / args.dossiers:.0f} | "
              f"{compressed} | {proxy.wire_bytes / compressed:.2f} |")
        proxy.close()
    finally:
        hub.stop()


if __name__ == "__main__":
    main()
