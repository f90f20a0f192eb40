"""Due-date throughput: ``python bench/bench_deadlines.py [N]``.

Computes due dates for N (default 100,000) random receipts between 2025 and 2027 (random
minute of the day, including nights, weekends and holidays) with random limits and units, on
one core, fixed seed. The per-year calendar tables are built before timing starts (a one-off
cost, also printed). Target: at least 50,000 computations per second.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_node.domain.calendar import TZ, WorkCalendar  # noqa: E402
from edge_node.domain.deadlines import due_at  # noqa: E402

SEED = 20260214
TARGET_PER_SECOND = 50_000


def make_inputs(n: int, rng: random.Random) -> list[tuple[datetime, int, str]]:
    """Random (receipt, value, unit) triples; units weighted roughly like the catalogue."""
    start = datetime(2025, 1, 1, tzinfo=TZ)
    span_minutes = int((datetime(2028, 1, 1, tzinfo=TZ) - start).total_seconds() // 60)
    units = ("working_days", "working_hours", "same_day", "calendar_days")
    weights = (60, 15, 10, 15)
    limits = {
        "working_days": (1, 40),
        "working_hours": (1, 40),
        "same_day": (1, 1),
        "calendar_days": (1, 60),
    }
    out = []
    for unit in rng.choices(units, weights, k=n):
        received = start + timedelta(minutes=rng.randrange(span_minutes))
        lo, hi = limits[unit]
        out.append((received, rng.randint(lo, hi), unit))
    return out


def main(n: int = 100_000) -> float:
    rng = random.Random(SEED)
    inputs = make_inputs(n, rng)
    cal = WorkCalendar()

    t0 = time.perf_counter()
    for year in range(2025, 2030):  # results may spill into the following years
        cal.is_working_day(datetime(year, 6, 1).date())
    warm = time.perf_counter() - t0

    t0 = time.perf_counter()
    for received, value, unit in inputs:
        due_at(received, value, unit, cal)
    elapsed = time.perf_counter() - t0

    rate = n / elapsed
    verdict = "OK" if rate >= TARGET_PER_SECOND else "BELOW TARGET"
    print(f"calendar tables built in {warm * 1000:.1f} ms (2025-2029)")
    print("| computations | seconds | per second | µs each | target | verdict |")
    print(
        f"| {n:,} | {elapsed:.3f} | {rate:,.0f} | {elapsed / n * 1e6:.2f} | "
        f"{TARGET_PER_SECOND:,} | {verdict} |"
    )
    return rate


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
