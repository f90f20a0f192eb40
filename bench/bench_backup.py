"""Backup, verify and restore-with-recovery of a busy commune's database.

Builds a home with N dossiers (4 events each, one year of a busy commune by default), then
prints: the database size, the time and size of a verified backup, the time to verify the
archive, and the time a restored node takes to recover M dossiers' events from a real hub.

    python bench/bench_backup.py [--dossiers 3000] [--after 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_node.config import load_config  # noqa: E402
from edge_node.domain.clock import now_utc  # noqa: E402
from edge_node.services import backup as backup_service  # noqa: E402
from edge_node.services import sync as sync_service  # noqa: E402
from edge_node.services.node import init_home  # noqa: E402
from edge_node.store.db import open_db  # noqa: E402
from tests.integration.lifecycle_helpers import World, vn  # noqa: E402
from tests.integration.sync_helpers import Hub, node_cli  # noqa: E402


def make(world: World, count: int) -> None:
    for _ in range(count):
        world.now += timedelta(minutes=37)
        code = world.receive()["code"]
        world.act(code, "transfer", "canbo")
        world.act(code, "handover", "chuyenvien")
        world.act(code, "complete", "lanhdao")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dossiers", type=int, default=3000)
    parser.add_argument("--after", type=int, default=300,
                        help="dossiers sent to the hub after the backup, recovered after restore")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    hub = Hub(root / "hub").start()
    try:
        cfg = load_config(root / "node", environ={})
        init_home(cfg)
        assert node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                        hub.enroll_code()).returncode == 0
        db = open_db(cfg.db_path)
        world = World(db, vn(2026, 1, 5, 8, 0))
        make(world, args.dossiers)
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
        size = cfg.db_path.stat().st_size
        started = time.perf_counter()
        made = backup_service.create_backup(cfg, root / "b.zip")
        backup_s = time.perf_counter() - started
        started = time.perf_counter()
        backup_service.verify_archive(made.path, root / "check")
        verify_s = time.perf_counter() - started
        make(world, args.after)
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
        db.conn.close()
        started = time.perf_counter()
        out = node_cli(cfg.home, "restore", str(made.path))
        restore_s = time.perf_counter() - started
        assert out.returncode == 0 and "Recovered" in out.stdout, out.stdout + out.stderr
        print(f"database: {args.dossiers} dossiers, {size / 1e6:.1f} MB")
        print(f"backup (VACUUM INTO + zip + verify): {backup_s:.2f} s, "
              f"archive {made.path.stat().st_size / 1e6:.1f} MB")
        print(f"verify archive alone: {verify_s:.2f} s")
        print(f"restore + recovery of {args.after} dossiers ({args.after * 4} events) from the "
              f"hub: {restore_s:.2f} s ({out.stdout.strip().splitlines()[-1]})")
    finally:
        hub.stop()


if __name__ == "__main__":
    main()
