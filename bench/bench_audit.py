"""Audit chain cost: ``python bench/bench_audit.py [N]``.

Appends N (default 50,000) audit entries to a fresh node database, one write transaction per
entry as the services do (each entry also takes its outbox slot), then times the node's
``audit verify`` walk, sealing every slot as a batch would, and the hub's check of the sealed
chain. Figures are printed; nothing is asserted. Target: appending stays under 2 ms per entry
and both checks under 10 s for a year of a busy commune (~200,000 entries).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_node.store import audit  # noqa: E402
from edge_node.store.db import open_db, write_tx  # noqa: E402


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "edge-node.db")
        start = time.perf_counter()
        for i in range(n):
            with write_tx(db):
                audit.append(db, at=f"2026-12-03T08:{i // 60 % 60:02d}:{i % 60:02d}Z",
                             actor=f"canbo{i % 7}", action="dossier.transfer",
                             obj=f"000.25.33.H18-261203-{i:05d}", detail={"step": i % 5},
                             ip="192.0.2.10")
        append_s = time.perf_counter() - start
        start = time.perf_counter()
        broken = audit.verify_chain(db)
        verify_s = time.perf_counter() - start
        start = time.perf_counter()
        slots = [audit.sealed_payload(db, json.loads(p)) for (p,) in db.conn.execute(
            "SELECT payload FROM outbox WHERE kind = ? ORDER BY seq", (audit.KIND,))]
        seal_s = time.perf_counter() - start
        start = time.perf_counter()
        count, hub_broken, _ = audit.check_entries(slots)
        hub_s = time.perf_counter() - start
        db.conn.close()
    print(f"entries: {n} (intact on the node: {broken is None}, at the hub: "
          f"{hub_broken is None}, {count} checked)")
    print(f"append (one transaction each, with outbox slot): {append_s * 1000 / n:.3f} ms/entry")
    print(f"edge-node audit verify: {verify_s:.2f} s ({n / verify_s:,.0f} entries/s)")
    print(f"sealing every slot: {seal_s:.2f} s; hub check: {hub_s:.2f} s "
          f"({n / hub_s:,.0f} entries/s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
