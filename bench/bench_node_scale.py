"""The node at commune scale: 200,000 dossiers, ~1,000,000 events, measured over real HTTP.

    python bench/bench_node_scale.py [--dossiers 200000] [--home DIR] [--requests 200]
    python bench/bench_node_scale.py --quick          # 5,000 dossiers, fewer requests

Builds a node home through the real schema (``init_home`` runs every migration), imports the
reference catalog (``/work/shared/data/reference/tthc_catalog.json``, read at run time, never
copied) on top of the seed catalog, and bulk-inserts dossiers, their events, outbox rows and a
hash-chained audit log with the history generator of ``bench_reports.py`` (the same lifecycle
mix: refusals, voids, withdrawals, stops, supplements, extensions, results, returns), spread
over seven years up to yesterday, so the recent ones are still open. ``--home DIR`` keeps the
home and re-uses it when it already holds the data.

Then it starts ``python -m edge_node --home DIR serve`` (waitress) on a loopback port and times,
from a client on the same machine (loopback HTTP, so the figures are server time plus well
under a millisecond):

* intake: ``POST /api/v1/dossiers`` then ``GET /dossiers/<code>/slip`` (the printable slip);
* procedure search: ``GET /api/v1/procedures?q=…`` with words from the catalog, folded or not;
* the open-dossier queue page ``GET /queues/open`` (500 rows rendered) as a clerk;
* a dossier page ``GET /dossiers/<code>`` for random dossiers;

with the serving process's CPU time per request (``/proc/PID/stat``; on a shared machine it
says more than the latency, which includes waiting for the CPU and the disk), and the serving
process's memory from ``/proc/PID/status``: ``VmRSS`` idle (after one warm-up
request of each kind), then ``VmRSS`` and ``VmHWM`` (peak) after a load phase where 8 client
threads mix the four requests. Targets: intake p95 < 50 ms, search p95 < 10 ms, RSS < 150 MB.
Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_reports  # noqa: E402

from edge_node.config import load_config  # noqa: E402
from edge_node.domain.calendar import TZ, WorkCalendar  # noqa: E402
from edge_node.domain.clock import now_utc, to_iso  # noqa: E402
from edge_node.services import accounts  # noqa: E402
from edge_node.services import catalog as catalog_service  # noqa: E402
from edge_node.services.node import init_home  # noqa: E402
from edge_node.store.db import open_db, write_tx  # noqa: E402

# beside the clone, or wherever EDGE_SHARED_DIR points (as for the tests)
REFERENCE = (Path(os.environ.get("EDGE_SHARED_DIR") or ROOT.parent / "shared")
             / "data" / "reference" / "tthc_catalog.json")
PASSWORD = "mat-khau-bench-123"
USERS = (("canbo", "clerk"), ("chuyenvien", "officer"), ("lanhdao", "leader"))
YEARS = 7
SEARCH_TERMS = ("khai sinh", "khai sinh", "ket hon", "chứng thực", "chung thuc ban sao",
                "đất đai", "dat dai", "hộ tịch", "khai tử", "nuôi con nuôi", "giám hộ",
                "xác nhận tình trạng hôn nhân", "bảo trợ xã hội", "đăng ký", "thủ tục",
                "trích lục", "cải chính", "quốc tịch", "xây dựng", "môi trường")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


# --- the generated home --------------------------------------------------------------------


def home_procedures(db, short_documents: bool = False) -> list[dict]:
    """Procedures of the home (seed + reference) in the generator's shape; limits known only.

    With *short_documents* the (sometimes paragraph-long) document names of the reference
    crawl are cut to 120 characters, as a clerk's list would show them.
    """
    out = []
    for row in db.query("SELECT code, name, field, time_limit_value, time_limit_unit, fee_vnd,"
                        " documents FROM procedures WHERE time_limit_value IS NOT NULL"
                        " AND time_limit_value <= 60 ORDER BY code"):
        value = row["time_limit_value"]
        unit = row["time_limit_unit"]
        if unit == "working_days" and value != int(value):
            value, unit = round(value * 8), "working_hours"
        out.append({"code": row["code"], "name": row["name"], "field": row["field"],
                    "time_limit": {"value": value, "unit": unit},
                    "fee_vnd": row["fee_vnd"],
                    "documents": [d[:120] if short_documents else d
                                  for d in json.loads(row["documents"])]})
    return out


class Chained:
    """Hash-chained audit rows, one per event, as the services write them."""

    def __init__(self) -> None:
        self.prev = "0" * 64

    def rows(self, events: list[tuple]) -> list[tuple]:
        out = []
        for event_id, code, etype, _actor_id, actor, _role, at, _payload in events:
            detail = json.dumps({"event": event_id[:8]}, ensure_ascii=False, sort_keys=True)
            body = json.dumps([self.prev, at, actor, f"dossier.{etype}", code, detail, ""],
                              ensure_ascii=False, separators=(",", ":"))
            digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
            out.append((at, actor, f"dossier.{etype}", code, detail, "", self.prev, digest))
            self.prev = digest
        return out


CHUNK = 20_000  # dossiers generated and inserted at a time: memory stays bounded


def generate(db, n: int, now: datetime) -> dict:
    """Bulk-insert *n* dossiers with their history, in chronological chunks."""
    # The generator reads its time window from module constants: seven years up to yesterday.
    today = now.astimezone(TZ).date()
    bench_reports.NOW = now.astimezone(TZ)
    bench_reports.FIRST_DAY = date(today.year - YEARS, 1, 1)
    bench_reports.LAST_DAY = today - timedelta(days=1)
    conn = db.conn
    columns = [r[1] for r in conn.execute("PRAGMA table_info(dossiers)")]
    rng = random.Random(bench_reports.SEED)
    gen = bench_reports.Generator(rng, WorkCalendar(), columns,
                                  bench_reports.column_defaults(conn))
    days = [d for d in gen.days if bench_reports.FIRST_DAY <= d <= bench_reports.LAST_DAY]
    gen.procedures = home_procedures(db, short_documents=True)
    gen.weights = [8 if p["field"] in ("Hộ tịch", "Chứng thực") else
                   3 if p["field"] in ("Đất đai", "Bảo trợ xã hội", "Đăng ký biện pháp bảo đảm")
                   else 1 for p in gen.procedures]
    counter = iter(range(n))

    def receipt_time() -> datetime:
        # dossiers arrive day after day (so the tables are in time order on disk, as in life)
        day = days[next(counter) * len(days) // n]
        minute = rng.choice((rng.randrange(7 * 60, 11 * 60 + 30),
                             rng.randrange(13 * 60 + 30, 17 * 60)))
        return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=TZ)

    gen.receipt_time = receipt_time
    users = {u: i for i, u in conn.execute("SELECT id, username FROM users")}
    chain = Chained()
    built = inserted = 0.0
    totals = {"dossiers": 0, "events": 0}
    conn.execute("PRAGMA foreign_keys = OFF")
    for done in range(0, n, CHUNK):
        t0 = time.perf_counter()
        for _ in range(min(CHUNK, n - done)):
            gen.one()
        gen.events.sort(key=lambda e: e[6])
        gen.outbox.sort(key=lambda e: e[3])
        audit = chain.rows(gen.events)
        for row in gen.dossiers:
            row["received_by"] = users.get("canbo")
        t1 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO dossiers ({', '.join(columns)}) VALUES "
                         f"({', '.join(':' + c for c in columns)})", gen.dossiers)
        conn.executemany("INSERT INTO dossier_events (event_id, dossier_code, type, actor_id,"
                         " actor, actor_role, at, payload) VALUES (?,?,?,?,?,?,?,?)",
                         gen.events)
        conn.executemany("INSERT INTO outbox (event_id, kind, payload, created_at, acked_at)"
                         " VALUES (?,?,?,?,?)", gen.outbox)
        conn.executemany("INSERT INTO audit (at, actor, action, object, detail, ip, prev_hash,"
                         " hash) VALUES (?,?,?,?,?,?,?,?)", audit)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        totals["dossiers"] += len(gen.dossiers)
        totals["events"] += len(gen.events)
        gen.dossiers, gen.events, gen.outbox = [], [], []
        built += t1 - t0
        inserted += time.perf_counter() - t1
    with write_tx(db):
        conn.executemany("INSERT INTO code_sequences (agency_id, day, last_seq) VALUES (?,?,?)"
                         " ON CONFLICT (agency_id, day) DO UPDATE SET"
                         " last_seq = excluded.last_seq",
                         [(a, d, s) for (a, d), s in gen.seq.items()])
    conn.execute("PRAGMA foreign_keys = ON")
    # No ANALYZE: a node never runs it, and its statistics change the plans (with them the
    # open queue reads the whole table instead of the status index).
    return {**totals, "build_s": built, "insert_s": inserted}


def prepare_home(home: Path, n: int) -> tuple[Path, str]:
    cfg = load_config(home, environ={})
    init_home(cfg)
    db = open_db(cfg.db_path)
    try:
        have = db.conn.execute("SELECT count(*) FROM dossiers").fetchone()[0]
        if have:
            if db.conn.execute("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'"
                               ).fetchone():  # left by an older version of this script
                db.conn.execute("DROP TABLE sqlite_stat1")
            return cfg.db_path, f"re-used {have:,} dossiers from {cfg.db_path}"
        t0 = time.perf_counter()
        if REFERENCE.exists():
            catalog_service.import_file(db, REFERENCE, now=now_utc(), actor="bench")
        for name, role in USERS:
            accounts.create_user(db, username=name, role=role, password=PASSWORD,
                                 must_change=False, now=now_utc(), actor="bench")
        info = generate(db, n, now_utc())
        total = time.perf_counter() - t0
        size = cfg.db_path.stat().st_size / 1e6
        return cfg.db_path, (
            f"generated {info['dossiers']:,} dossiers, {info['events']:,} events (+ outbox "
            f"and audit rows) in {total:.0f} s (build {info['build_s']:.0f} s, insert "
            f"{info['insert_s']:.0f} s); database {size:,.0f} MB")
    finally:
        db.conn.close()


# --- the served node -----------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_NODE_")}
    # one token makes every timed request: the per-token limit (600 a minute) would answer 429
    env["EDGE_NODE_API_RATE_PER_MINUTE"] = "1000000"
    proc = subprocess.Popen([sys.executable, "-m", "edge_node", "--home", str(home), "serve",
                             "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("edge-node serve exited at start")
        try:
            # the first /healthz runs PRAGMA quick_check over the whole file (seconds at 3 GB)
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=60).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("edge-node serve did not answer /healthz")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of *pid* (Linux ``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of *pid* in MB (Linux)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


class Client:
    def __init__(self, base: str, username: str):
        self.base = base
        self.http = requests.Session()
        resp = self.http.post(base + "/api/v1/session", timeout=10,
                              json={"username": username, "password": PASSWORD})
        resp.raise_for_status()
        self.http.headers["Authorization"] = "Bearer " + resp.json()["token"]

    def timed(self, method: str, path: str, **kw) -> tuple[float, requests.Response]:
        start = time.perf_counter()
        resp = self.http.request(method, self.base + path, timeout=60, **kw)
        _ = resp.content
        elapsed = time.perf_counter() - start
        if resp.status_code >= 400:
            raise SystemExit(f"{method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return elapsed, resp


def intake_body(rng: random.Random, procedures: list[dict]) -> dict:
    proc = rng.choice(procedures)
    return {"procedure_code": proc["code"],
            "applicant": {"full_name": rng.choice(bench_reports.NAMES),
                          "id_number": f"0110{rng.randrange(10**8):08d}",
                          "phone": f"0912{rng.randrange(10**6):06d}",
                          "address": "Bản Phăng, xã Mường Phăng"},
            "documents_received": proc["documents"][:1], "return_method": "counter"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per kind")
    parser.add_argument("--load-seconds", type=float, default=20.0)
    parser.add_argument("--home", type=Path, help="keep (and re-use) the generated home here")
    parser.add_argument("--quick", action="store_true", help="5,000 dossiers, 50 requests")
    args = parser.parse_args()
    if args.quick:
        args.dossiers, args.requests, args.load_seconds = 5_000, 50, 5.0
    tmp = None
    home = args.home
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-scale-")
        home = Path(tmp.name) / "home"
    db_path, note = prepare_home(home, args.dossiers)
    print(note)
    db = open_db(db_path)
    counts = {t: db.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("dossiers", "dossier_events", "outbox", "audit", "procedures")}
    open_count = db.conn.execute("SELECT count(*) FROM dossiers WHERE status IN"
                                 " ('DA_TIEP_NHAN','DANG_XU_LY','CHO_BO_SUNG')").fetchone()[0]
    codes = [r[0] for r in db.conn.execute("SELECT code FROM dossiers")]
    procedures = [p for p in home_procedures(db) if p["time_limit"]["unit"] != "same_day"]
    db.conn.close()
    print(", ".join(f"{k} {v:,}" for k, v in counts.items()) + f"; open {open_count:,}")

    port = free_port()
    proc = start_server(home, port)
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(12)
    try:
        clerk = Client(base, "canbo")
        officer = Client(base, "chuyenvien")
        for client, path in ((clerk, "/queues/open"), (clerk, "/api/v1/procedures?q=khai"),
                             (officer, f"/dossiers/{codes[0]}")):
            client.timed("GET", path)  # warm-up: templates compiled, calendar cached
        code = clerk.timed("POST", "/api/v1/dossiers",
                           json=intake_body(rng, procedures))[1].json()["code"]
        clerk.timed("GET", f"/dossiers/{code}/slip")
        idle = memory(proc.pid)

        results: dict[str, list[float]] = {"intake": [], "intake+slip": [], "search": [],
                                           "queue": [], "dossier": []}
        cpu: dict[str, float] = {}
        mark = cpu_seconds(proc.pid)
        for _ in range(args.requests):
            took, resp = clerk.timed("POST", "/api/v1/dossiers", json=intake_body(rng,
                                                                                  procedures))
            slip, _ = clerk.timed("GET", f"/dossiers/{resp.json()['code']}/slip")
            results["intake"].append(took)
            results["intake+slip"].append(took + slip)
        cpu["intake+slip"], mark = cpu_seconds(proc.pid) - mark, cpu_seconds(proc.pid)
        for i in range(args.requests):
            term = SEARCH_TERMS[i % len(SEARCH_TERMS)]
            results["search"].append(clerk.timed("GET", "/api/v1/procedures",
                                                 params={"q": term})[0])
        cpu["search"], mark = cpu_seconds(proc.pid) - mark, cpu_seconds(proc.pid)
        for _ in range(max(args.requests // 4, 10)):
            results["queue"].append(clerk.timed("GET", "/queues/open")[0])
        cpu["queue"], mark = cpu_seconds(proc.pid) - mark, cpu_seconds(proc.pid)
        for _ in range(args.requests):
            results["dossier"].append(officer.timed("GET",
                                                    f"/dossiers/{rng.choice(codes)}")[0])
        cpu["dossier"] = cpu_seconds(proc.pid) - mark

        # Load: 8 threads (as many as waitress has) mixing the four requests.
        stop = time.monotonic() + args.load_seconds
        done = [0]
        peak_rss = [0.0]
        lock = threading.Lock()

        def worker(seed: int) -> None:
            r = random.Random(seed)
            c = Client(base, "canbo")
            while time.monotonic() < stop:
                pick = r.random()
                if pick < 0.2:
                    code = c.timed("POST", "/api/v1/dossiers",
                                   json=intake_body(r, procedures))[1].json()["code"]
                    c.timed("GET", f"/dossiers/{code}/slip")
                elif pick < 0.5:
                    c.timed("GET", "/api/v1/procedures", params={"q": r.choice(SEARCH_TERMS)})
                elif pick < 0.6:
                    c.timed("GET", "/queues/open")
                else:
                    c.timed("GET", f"/dossiers/{r.choice(codes)}")
                with lock:
                    done[0] += 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak_rss[0] = max(peak_rss[0], memory(proc.pid)["VmRSS"])
            time.sleep(0.2)
        loaded = memory(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)

    targets = {"intake": "", "intake+slip": "< 50 ms", "search": "< 10 ms", "queue": "",
               "dossier": ""}
    print(f"\n{args.requests} sequential requests per kind over loopback HTTP "
          f"({counts['dossiers']:,} dossiers)")
    print("| request | p50 ms | p95 ms | max ms | server CPU ms/request | target |")
    print("|---|---:|---:|---:|---:|---|")
    labels = {"intake": "intake POST /api/v1/dossiers",
              "intake+slip": "intake → slip (POST + GET slip)",
              "search": "procedure search /api/v1/procedures?q=",
              "queue": "open-dossier queue page /queues/open",
              "dossier": "dossier page /dossiers/<code>"}
    for key, values in results.items():
        ms = [v * 1000 for v in values]
        spent = f"{cpu[key] * 1000 / len(values):.1f}" if key in cpu else ""
        print(f"| {labels[key]} | {statistics.median(ms):.1f} | {percentile(ms, 95):.1f} | "
              f"{max(ms):.1f} | {spent} | {targets[key]} |")
    print(f"\nmemory of the serving process (target < 150 MB); load: 8 threads, "
          f"{args.load_seconds:.0f} s, {done[0]:,} requests "
          f"({done[0] / args.load_seconds:.0f}/s)")
    print("| idle VmRSS MB | VmRSS after load MB | peak sampled VmRSS MB | VmHWM MB |")
    print("|---:|---:|---:|---:|")
    print(f"| {idle['VmRSS']:.0f} | {loaded['VmRSS']:.0f} | {peak_rss[0]:.0f} | "
          f"{loaded['VmHWM']:.0f} |")
    print(f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {to_iso(now_utc())}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
