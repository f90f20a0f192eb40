"""The issue-#12 benchmarks still run and print their tables (tiny sizes; no timing asserted).

A benchmark nobody runs breaks silently when the code under it moves; these runs
catch that. They check what a reader of ``bench/README.md`` relies on: the script
ends cleanly and prints the rows and targets it documents. The figures themselves
are never judged here (``bench/README.md`` records them, from full-size runs).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED

ENV = {**os.environ, "EDGE_SHARED_DIR": str(SHARED)}


def bench(*args: str, timeout: int = 300) -> str:
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def number(text: str, pattern: str) -> float:
    match = re.search(pattern, text, re.M)
    assert match, f"{pattern!r} not in:\n{text}"
    return float(match.group(1).replace(",", ""))


def test_write_cost_prints_every_arm_with_its_ratio(tmp_path):
    out = bench("bench/bench_write_cost.py", "--n", "5", "--dir", str(tmp_path))
    for arm in ("intake", "intake write", "bare row", "bare four rows"):
        assert re.search(rf"^\| {arm} \| [0-9.]+ \|", out, re.M), out
    assert "≤ 1.5×" in out and "synchronous=2" in out
    assert number(out, r"\| bare row \|(?: [0-9.]+ \|){4} ([0-9.]+)×") == 1.0


def test_sync_catchup_prints_wire_ratio_per_request_and_crypto_share():
    out = bench("bench/bench_sync_catchup.py", "--dossiers", "12", "--kbit", "100000",
                "--loss", "0", "--no-naive")
    assert number(out, r"edge-sync \(\d+ rounds?\) \|[^|]+\|[^|]+\|[^|]+\| 0/\d+ \| ([0-9.]+)") > 1
    assert re.search(r"^\| push \| \d+ \|", out, re.M) and re.search(r"^\| pull \| \d+ \|",
                                                                     out, re.M)
    assert "wire / all payload carried" in out and "< 5 %" in out


def test_hub_ingest_applies_every_event_from_concurrent_nodes():
    out = bench("bench/bench_hub_ingest.py", "--nodes", "3", "--events", "40", "--batch", "20")
    assert "3 nodes x 40 events (120 events" in out and "failures: 0" in out, out
    assert "hub log:" not in out, out  # no error lines in the hub's log
    assert number(out, r"^\| ([0-9,.]+) \| [0-9.]+ \|") > 0 and "≥ 5,000/s" in out


@pytest.mark.skipif(not (SHARED / "data" / "reference" / "tthc_catalog.json").exists(),
                    reason="the reference catalog is not beside this clone")
def test_node_scale_measures_a_small_home_over_http(tmp_path):
    out = bench("bench/bench_node_scale.py", "--dossiers", "300", "--requests", "5",
                "--load-seconds", "1", "--home", str(tmp_path / "home"), timeout=600)
    for row in ("intake → slip", "procedure search", "open-dossier queue page",
                "dossier page"):
        assert row in out, out
    assert number(out, r"dossiers (\d[\d,]*), dossier_events") == 300
    assert Path(tmp_path / "home" / "edge-node.db").exists()
