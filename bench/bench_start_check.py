"""What the database check at start costs: ``python bench/bench_start_check.py [MB ...]``.

``serve``, ``up`` and ``status`` run ``PRAGMA quick_check`` (read-only) before anything
else. This builds throwaway databases of the given sizes (default 50 and 200 MB: a busy
commune's dossiers with their events and audit log for several years stays well under that)
with an indexed table of text rows, and prints the time of one check each, cold from the
page cache as far as the OS allows and warm. Target: under 5 s for 200 MB on a commune PC.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_node.runstate import check_database  # noqa: E402

ROW = 400  # bytes of text per row, roughly a dossier event


def build(path: Path, megabytes: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, code TEXT, body TEXT)")
    conn.execute("CREATE INDEX events_code ON events(code)")
    rng = random.Random(7)
    rows = megabytes * 1024 * 1024 // (ROW + 60)
    with conn:
        conn.executemany("INSERT INTO events (code, body) VALUES (?, ?)",
                         ((f"H18-{rng.randrange(10**9):09d}", "x" * ROW) for _ in range(rows)))
    conn.close()


def main(sizes: list[int]) -> None:
    print(f"{'size MB':>8} {'file MB':>8} {'check s':>8} {'again s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for mb in sizes:
            path = Path(tmp) / f"bench-{mb}.db"
            build(path, mb)
            if hasattr(os, "posix_fadvise"):  # drop the file from the page cache if we may
                with open(path, "rb") as fh:
                    os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            timings = []
            for _ in range(2):
                start = time.perf_counter()
                assert check_database(path) is None
                timings.append(time.perf_counter() - start)
            size = path.stat().st_size / 1024 / 1024
            print(f"{mb:>8} {size:>8.0f} {timings[0]:>8.2f} {timings[1]:>8.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [50, 200])
