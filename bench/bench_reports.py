"""Period report over a large commune: ``python bench/bench_reports.py [N] [--home DIR]``.

Generates a node home with N (default 200,000) dossiers received over ten years
(2016-2025) — bulk inserts straight into SQLite, not through the web — with the event
history each one would have: acceptance (the whole row, as intake writes it), transfer,
handover, supplement requests (received under the restart model, or closed after 15 days),
extensions, withdrawals, stops, voids, refusals, results and their return, and the outbox
rows (acknowledged by the province except the last two days). Procedures, fields and time
limits come from the seed catalog; due dates from the real working calendar. Then it times
the Biểu 06a report (with the dashboard series) for the last year, 2025, and for 2020, and
prints the EXPLAIN QUERY PLAN of the main query. Target: under 1 s for a one-year report.

``--home DIR`` keeps the generated home (re-used when it already holds the data), so the
report page can be looked at with ``edge-node --home DIR serve``.
"""

from __future__ import annotations

import ast
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_node.config import load_config  # noqa: E402
from edge_node.domain import lifecycle  # noqa: E402
from edge_node.domain.calendar import TZ, WorkCalendar  # noqa: E402
from edge_node.domain.clock import to_iso  # noqa: E402
from edge_node.domain.deadlines import due_at, limit_minutes  # noqa: E402
from edge_node.domain.reports import Period  # noqa: E402
from edge_node.domain.text import fold  # noqa: E402
from edge_node.services import reports as report_service  # noqa: E402
from edge_node.services.node import init_home  # noqa: E402
from edge_node.store.db import connect, open_db  # noqa: E402

SEED = 20260806
TARGET_SECONDS = 1.0
FIRST_DAY, LAST_DAY = date(2016, 1, 1), date(2025, 12, 31)
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=TZ)  # the report is made early in January 2026
AGENCY = "000.25.33.H18"
NAMES = ("Lò Văn Thành", "Quàng Thị Hoa", "Cà Văn Dũng", "Lường Thị Mai", "Nguyễn Văn An",
         "Tòng Thị Xuân", "Vì Văn Pó", "Điêu Thị Lan", "Sùng A Páo", "Giàng Thị Dế")


def catalog() -> list[dict]:
    path = Path(__file__).resolve().parents[1] / "edge_node" / "seed" / "catalog.json"
    return json.loads(path.read_text(encoding="utf-8"))["procedures"]


def working_days(cal: WorkCalendar) -> list[date]:
    return [d.date for year in range(FIRST_DAY.year, LAST_DAY.year + 1)
            for d in cal.days(date(year, 1, 1), date(year, 12, 31)) if d.working]


def column_defaults(conn) -> dict:
    """The schema's defaults of the dossier columns that refuse NULL (later migrations add
    such columns: a generated row that leaves them out gets what the node would store)."""
    out = {}
    for _cid, name, _type, notnull, default, _pk in conn.execute("PRAGMA table_info(dossiers)"):
        if notnull and default is not None:
            out[name] = ast.literal_eval(default)
    return out


class Generator:
    """Builds dossier rows, event rows and outbox rows in memory, one dossier at a time."""

    def __init__(self, rng: random.Random, cal: WorkCalendar, columns: list[str],
                 defaults: dict | None = None):
        self.rng, self.cal, self.columns = rng, cal, columns
        self.defaults = defaults or {}
        self.procedures = catalog()
        # busy procedures first: civil status and certification dominate a commune's counter
        self.weights = [8 if p["field"] in ("Hộ tịch", "Chứng thực") else 2
                        for p in self.procedures]
        self.days = working_days(cal)
        self.seq: dict[tuple[str, str], int] = {}
        self.dossiers: list[dict] = []
        self.events: list[tuple] = []
        self.outbox: list[tuple] = []
        self.now_iso = to_iso(NOW)
        self.sync_cut = to_iso(NOW - timedelta(days=2))

    def minutes(self, dt: datetime, n: int) -> datetime:
        return self.cal.add_working_minutes(dt, max(int(n), 1))

    def code(self, prefix: str, when: datetime) -> str:
        day = when.astimezone(TZ).date()
        key = (prefix, day.isoformat())
        self.seq[key] = self.seq.get(key, 0) + 1
        if prefix == "PN":
            return f"PN-{day:%y%m%d}-{self.seq[key]:04d}"
        return f"{prefix}-{day:%y%m%d}-{self.seq[key]:04d}"

    def base_row(self, proc: dict, when: datetime) -> dict:
        rng = self.rng
        stamp = to_iso(when)
        name = rng.choice(NAMES)
        row = {**dict.fromkeys(self.columns), **self.defaults}
        row.update({
            "procedure_code": proc["code"], "procedure_name": proc["name"],
            "field": proc["field"], "channel": rng.choices((1, 2, 3), (75, 20, 5))[0],
            "applicant_name": name, "applicant_fold": fold(name),
            "id_number": f"0110{rng.randrange(10**8):08d}", "id_type": 1,
            "phone": f"09{rng.randrange(10**8):08d}", "address": "Bản Phăng, xã Mường Phăng",
            "email": "", "documents_received": json.dumps(proc.get("documents", [])[:2],
                                                          ensure_ascii=False),
            "return_method": "counter", "postal_address": "", "fee_vnd": proc.get("fee_vnd") or 0,
            "fee_paid_vnd": 0, "fee_receipt_no": "", "payment_status": "none",
            "payment_due_vnd": 0, "obligation_paid_vnd": 0, "obligation_receipt_no": "",
            "extension_count": 0, "steps": "[]", "current_step": 0, "assignee": "",
            "supplement_items": "[]", "supplement_count": 0, "reason": "", "result_kind": "",
            "result_note": "", "return_channel": "", "waybill_no": "", "postal_fee_vnd": 0,
            "correction_count": 0, "identity_status": "chua_xac_thuc", "catalog_version": 1,
            "received_at": stamp, "created_at": stamp, "updated_at": stamp})
        return row

    def add(self, row: dict, history: list[tuple[str, datetime, dict, dict]]) -> None:
        """Keep the events that happened by NOW; the row is the fold of their ``set``."""
        code = row["code"]
        for etype, when, changes, data in history:
            stamp = to_iso(when)
            if stamp > self.now_iso:
                break
            changes = dict(changes)
            if "status" in changes:
                changes["dvcqg_status"] = lifecycle.dvcqg_status(changes["status"])
            changes["updated_at"] = stamp
            if etype in ("accept", "refuse"):
                row.update(changes)
                snapshot = {k: v for k, v in row.items() if k != "applicant_fold"}
                for key in ("documents_received", "steps", "supplement_items"):
                    snapshot[key] = json.loads(snapshot[key])
                changes = snapshot
            else:
                row.update({k: (json.dumps(v, ensure_ascii=False) if k == "supplement_items"
                                else v) for k, v in changes.items()})
            payload = {"set": changes, "data": data}
            if etype == "accept":
                payload["clock"] = {"kind": "received", "at": stamp}
            event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            actor, role = {"handover": ("chuyenvien", "officer"), "extend": ("lanhdao", "leader"),
                           "stop": ("lanhdao", "leader"), "complete": ("lanhdao", "leader"),
                           "reject": ("lanhdao", "leader")}.get(etype, ("canbo", "clerk"))
            text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
            self.events.append((event_id, code, etype, None, actor, role, stamp, text))
            out = json.dumps({"dossier_code": code, "type": etype, "at": stamp, "actor": actor,
                              "role": role, **payload}, ensure_ascii=False, sort_keys=True)
            acked = to_iso(when + timedelta(minutes=5)) if stamp < self.sync_cut else None
            self.outbox.append((event_id, "dossier.event", out, stamp, acked))
        self.dossiers.append(row)

    def receipt_time(self) -> datetime:
        rng = self.rng
        day = rng.choice(self.days)
        minute = rng.choice((rng.randrange(7 * 60, 11 * 60 + 30), rng.randrange(13 * 60 + 30,
                                                                                 17 * 60)))
        return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=TZ)

    def one(self) -> None:
        rng, cal = self.rng, self.cal
        proc = rng.choices(self.procedures, self.weights)[0]
        received = self.receipt_time()
        row = self.base_row(proc, received)
        if rng.random() < 0.02:  # refused at the counter: a slip number, never received
            row["code"] = self.code("PN", received)
            row.update({"time_limit_value": proc["time_limit"]["value"],
                        "time_limit_unit": proc["time_limit"]["unit"]})
            self.add(row, [("refuse", received, {"status": "TU_CHOI_TIEP_NHAN",
                                                 "refused_at": to_iso(received),
                                                 "reason": "Không thuộc thẩm quyền"},
                            {"reason": "Không thuộc thẩm quyền", "form": "mau03"})])
            return
        value, unit = proc["time_limit"]["value"], proc["time_limit"]["unit"]
        limit = None if unit == "same_day" else int(value)
        first = due_at(received, limit, unit, cal)
        start, due = first.received_effective_at, first.due_at
        span = (limit_minutes(limit, unit) if unit in ("working_days", "working_hours")
                else cal.working_minutes_between(start, due))
        steps = lifecycle.steps_with_deadlines(lifecycle.default_steps(span), start, cal)
        row["code"] = self.code(AGENCY, received)
        accept = {"status": "DA_TIEP_NHAN", "time_limit_value": float(value),
                  "time_limit_unit": unit, "received_effective_at": to_iso(start),
                  "due_at": to_iso(due), "original_due_at": to_iso(due),
                  "transfer_due_at": to_iso(lifecycle.transfer_due(received, cal)),
                  "steps": json.dumps(steps, ensure_ascii=False)}
        history = [("accept", received, accept, {})]
        r = rng.random()
        if r < 0.01:
            history.append(("void", received + timedelta(minutes=rng.randrange(5, 60)),
                            {"status": "HUY_NHAP_SAI", "reason": "Nhập nhầm"},
                            {"reason": "Nhập nhầm"}))
            self.add(row, history)
            return
        t = self.minutes(received, rng.randrange(15, 200))
        history.append(("transfer", t, {"status": "DANG_XU_LY", "current_step": 1,
                                        "assignee_id": None, "assignee": "",
                                        "transferred_at": to_iso(t)},
                        {"note": "", "from_step": 0, "to_step": 1, "to_user": ""}))
        if r < 0.04:
            w = self.minutes(t, rng.randrange(60, 3 * 480))
            history.append(("withdraw", w, {"status": "DA_RUT", "withdrawn_at": to_iso(w),
                                            "reason": "Công dân xin rút"},
                            {"reason": "Công dân xin rút", "form": "mau05"}))
            self.add(row, history)
            return
        if r < 0.05:
            s = self.minutes(t, rng.randrange(60, 5 * 480))
            history.append(("stop", s, {"status": "DUNG_XU_LY", "stopped_at": to_iso(s),
                                        "reason": "Không đủ căn cứ"},
                            {"reason": "Không đủ căn cứ", "form": "mau05"}))
            self.add(row, history)
            return
        work_from = t
        if r < 0.10:  # supplement asked within 3 working days (ND 118 art 19.5)
            asked = self.minutes(t, rng.randrange(30, 3 * 480 - 200))
            history.append(("request_supplement", asked, {
                "status": "CHO_BO_SUNG", "supplement_items": ["Bản sao giấy tờ"],
                "reason": "Thiếu giấy tờ", "supplement_requested_at": to_iso(asked),
                "supplement_close_at": to_iso(asked + timedelta(days=15)),
                "supplement_count": 1}, {"items": ["Bản sao giấy tờ"], "reason": "Thiếu"}))
            if rng.random() < 0.4:
                closed = asked + timedelta(days=15, minutes=rng.randrange(1, 600))
                history.append(("close", closed, {"status": "DA_DONG",
                                                  "closed_at": to_iso(closed)},
                                {"reason": "Quá hạn bổ sung hồ sơ"}))
                self.add(row, history)
                return
            back = asked + timedelta(days=rng.randrange(1, 12), minutes=rng.randrange(0, 240))
            back = cal.effective_start(back)
            again = due_at(back, limit, unit, cal)
            start, due = again.received_effective_at, again.due_at
            history.append(("receive_supplement", back, {
                "status": "DANG_XU_LY", "supplement_received_at": to_iso(back),
                "due_at": to_iso(due)}, {"note": ""}))
            work_from = back
        span = max(cal.working_minutes_between(work_from, due), 30)
        kind = rng.random()
        if kind < 0.62:
            done = self.minutes(work_from, span * rng.uniform(0.15, 0.8))
        elif kind < 0.9:
            done = self.minutes(work_from, max(span - rng.randrange(0, 90), 1))
        else:
            done = self.minutes(due, rng.randrange(60, 6 * 480))
        handover = self.minutes(work_from, max(cal.working_minutes_between(work_from, done)
                                               // 2, 1))
        if handover < done:
            history.append(("handover", handover, {"current_step": 2, "assignee_id": None,
                                                   "assignee": ""},
                            {"note": "", "from_step": 1, "to_step": 2, "to_user": ""}))
        if done > due and rng.random() < 0.25 and limit and unit == "working_days":
            # an extension asked 1 working day ahead keeps some of these on time
            asked = self.minutes(work_from, max(span - 2 * 480, 1))
            if asked < done and cal.working_minutes_between(asked, due) >= 480:
                new_due = self.minutes(done, rng.randrange(0, 480))
                history.append(("extend", asked, {"extension_count": 1,
                                                  "original_due_at": to_iso(due),
                                                  "due_at": to_iso(new_due),
                                                  "reason": "Cần xác minh"},
                                {"reason": "Cần xác minh", "form": "mau04"}))
                due = new_due
        history.sort(key=lambda e: e[1])
        rejected = rng.random() < 0.08
        history.append(("reject" if rejected else "complete", done, {
            "status": "KHONG_DU_DIEU_KIEN" if rejected else "DA_XU_LY_XONG",
            "completed_at": to_iso(done), "result_kind": "refusal" if rejected else "result",
            "result_note": "Đã có kết quả", "current_step": 2, "assignee_id": None,
            "assignee": "", "due_at": to_iso(due)}, {"note": "", "from_step": 2, "to_step": 2}))
        if rng.random() < 0.95:
            given = self.minutes(done, rng.randrange(10, 3 * 480))
            history.append(("return_result", given, {
                "status": "DA_TRA_KET_QUA", "returned_at": to_iso(given),
                "return_channel": "counter", "waybill_no": "", "postal_fee_vnd": 0,
                "assignee_id": None, "assignee": ""}, {"channel": "counter", "step": 3}))
        self.add(row, history)


def generate(db, n: int) -> dict:
    conn = db.conn
    columns = [r[1] for r in conn.execute("PRAGMA table_info(dossiers)")]
    gen = Generator(random.Random(SEED), WorkCalendar(), columns, column_defaults(conn))
    t0 = time.perf_counter()
    for _ in range(n):
        gen.one()
    built = time.perf_counter() - t0
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA foreign_keys = OFF")
    t1 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO dossiers ({', '.join(columns)}) VALUES "
                     f"({', '.join(':' + c for c in columns)})", gen.dossiers)
    conn.executemany("INSERT INTO dossier_events (event_id, dossier_code, type, actor_id, actor,"
                     " actor_role, at, payload) VALUES (?,?,?,?,?,?,?,?)",
                     sorted(gen.events, key=lambda e: e[6]))
    conn.executemany("INSERT INTO outbox (event_id, kind, payload, created_at, acked_at)"
                     " VALUES (?,?,?,?,?)", sorted(gen.outbox, key=lambda e: e[3]))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return {"dossiers": len(gen.dossiers), "events": len(gen.events), "build_s": built,
            "insert_s": time.perf_counter() - t1}


def time_report(path: Path, period: Period, runs: int) -> dict:
    """Each run on a fresh connection, as each web request opens its own."""
    cal = WorkCalendar()
    cal.is_working_day(date(2025, 6, 1))  # year tables built before timing
    totals, loads = [], []
    report = None
    for _ in range(runs):
        db = connect(path)
        start = time.perf_counter()
        facts, _ = report_service.load_facts(db, period)
        loads.append(time.perf_counter() - start)
        db.conn.close()
        db = connect(path)
        start = time.perf_counter()
        report = report_service.period_report(db, period, now=NOW.astimezone(UTC), cal=cal,
                                              charts=True)
        totals.append(time.perf_counter() - start)
        db.conn.close()
    start = time.perf_counter()
    csv_bytes = report_service.to_csv(report)
    xlsx_bytes = report_service.to_xlsx(report, title="bench", unit="bench")
    render = time.perf_counter() - start
    return {"best": min(totals), "median": statistics.median(totals), "worst": max(totals),
            "load_median": statistics.median(loads), "facts": len(facts), "report": report,
            "render": render, "csv": len(csv_bytes), "xlsx": len(xlsx_bytes)}


def main(argv: list[str]) -> int:
    n = 200_000
    home = None
    args = list(argv)
    if "--home" in args:
        i = args.index("--home")
        home = Path(args[i + 1])
        del args[i:i + 2]
    if args:
        n = int(args[0])
    tmp = None
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-reports-")
        home = Path(tmp.name) / "home"
    cfg = load_config(home, environ={})
    init_home(cfg)
    db = open_db(cfg.db_path)
    have = db.conn.execute("SELECT count(*) FROM dossiers").fetchone()[0]
    if have == 0:
        info = generate(db, n)
        size = cfg.db_path.stat().st_size / 1e6
        print(f"generated {info['dossiers']:,} dossiers and {info['events']:,} events "
              f"({FIRST_DAY.year}-{LAST_DAY.year}) in {info['build_s']:.1f} s, inserted in "
              f"{info['insert_s']:.1f} s; database {size:,.0f} MB at {cfg.db_path}")
    else:
        print(f"re-using {have:,} dossiers in {cfg.db_path}")
    statuses = db.conn.execute("SELECT status, count(*) FROM dossiers GROUP BY status"
                               " ORDER BY 2 DESC").fetchall()
    print("status mix now: " + ", ".join(f"{s} {c:,}" for s, c in statuses))
    verdicts = []
    print("| period | dossiers folded | load+fold (median) | report+charts best | median | "
          "worst | CSV+XLSX | target | verdict |")
    for period in (Period(date(2025, 1, 1), date(2025, 12, 31)),
                   Period(date(2020, 1, 1), date(2020, 12, 31))):
        res = time_report(cfg.db_path, period, runs=7)
        ok = res["median"] < TARGET_SECONDS
        verdicts.append(ok)
        print(f"| {period.start}..{period.end} | {res['facts']:,} | "
              f"{res['load_median'] * 1000:.0f} ms | {res['best'] * 1000:.0f} ms | "
              f"{res['median'] * 1000:.0f} ms | {res['worst'] * 1000:.0f} ms | "
              f"{res['render'] * 1000:.0f} ms | "
              f"< {TARGET_SECONDS:g} s | {'OK' if ok else 'MISSED'} |")
        r = res["report"]
        print(f"    received {r['received']}, done {r['done']}, in progress {r['in_progress']},"
              f" ended {r['ended_without_result']}, on-time rate "
              f"{r['indicators']['on_time_rate']['value']}")
    t0, t1 = to_iso(Period(date(2025, 1, 1), date(2025, 12, 31)).start_at), to_iso(
        Period(date(2025, 1, 1), date(2025, 12, 31)).end_at)
    for name in ("PERIOD_EVENTS_SQL", "CANDIDATES_SQL"):
        print(f"EXPLAIN QUERY PLAN of services/reports.py {name} (2025):")
        for row in db.conn.execute("EXPLAIN QUERY PLAN " + getattr(report_service, name),
                                   {"t0": t0, "t1": t1}):
            print(f"    {row[0]:>3} {row[1]:>3}  {row[3]}")
    db.conn.close()
    if tmp is not None:
        tmp.cleanup()
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
