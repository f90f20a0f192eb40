"""The SQLite store: pragmas, migrations, and writers that lose nothing."""

import threading

import pytest

from edge_node.store import outbox
from edge_node.store.db import connect, migrate, open_db, schema_version, write_tx
from edge_node.store.migrations import MIGRATIONS


def test_pragmas_on_a_real_file(tmp_path):
    db = open_db(tmp_path / "n.db")
    conn = db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert schema_version(db) == MIGRATIONS[-1][0]


def test_migrate_twice_applies_nothing_new(tmp_path):
    db = open_db(tmp_path / "n.db")
    assert migrate(db) == []


def test_write_tx_rolls_back_everything_on_error(tmp_path):
    db = open_db(tmp_path / "n.db")
    with pytest.raises(RuntimeError), write_tx(db):
        outbox.add(db, kind="x", payload={}, at="2026-01-01T00:00:00Z")
        raise RuntimeError("boom")
    assert db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    # and the sequence has no hole: the next event takes number 1
    with write_tx(db):
        seq = outbox.add(db, kind="x", payload={}, at="2026-01-01T00:00:00Z")
    assert seq == 1


def test_many_concurrent_writers_lose_no_update(tmp_path):
    """Read-modify-write from 8 threads on 8 connections: every increment lands.

    Under a deferred transaction two writers can read the same value and one
    increment is lost (or the upgrade to a write lock fails); BEGIN IMMEDIATE
    serialises them.
    """
    path = tmp_path / "n.db"
    setup = open_db(path)
    with write_tx(setup):
        setup.conn.execute("INSERT INTO settings (key, value) VALUES ('counter', '0')")
    threads, per_thread = 8, 50
    errors = []

    def work():
        db = connect(path)
        try:
            for _ in range(per_thread):
                with write_tx(db):
                    value = int(db.conn.execute(
                        "SELECT value FROM settings WHERE key='counter'").fetchone()[0])
                    db.conn.execute("UPDATE settings SET value = ? WHERE key='counter'",
                                    (str(value + 1),))
                    outbox.add(db, kind="tick", payload={"v": value + 1},
                               at="2026-01-01T00:00:00Z")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.conn.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    total = threads * per_thread
    assert setup.conn.execute("SELECT value FROM settings").fetchone()[0] == str(total)
    seqs = [r[0] for r in setup.conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    assert seqs == list(range(1, total + 1))  # gap-free sequence for sync


def test_migration_3_keeps_dossiers_and_events_of_an_older_home(tmp_path):
    db = connect(tmp_path / "old.db")
    migrate(db, upto=2)
    with write_tx(db):
        db.conn.execute(
            "INSERT INTO dossiers (code, procedure_code, procedure_name, status, dvcqg_status,"
            " applicant_name, applicant_fold, id_number, id_type, phone, address,"
            " return_method, time_limit_value, time_limit_unit, received_at,"
            " received_effective_at, due_at, updated_at) VALUES ('DEM.00.00.Z00-261203-0001',"
            " '1.001193', 'Đăng ký khai sinh', 'DA_TIEP_NHAN', 2, 'Lò Văn A', 'lo van a',"
            " '011090001234', 1, '0912345678', 'Bản Phăng', 'counter', 1, 'same_day',"
            " '2026-12-03T02:00:00Z', '2026-12-03T02:00:00Z', '2026-12-03T10:00:00Z',"
            " '2026-12-03T02:00:00Z')")
        db.conn.execute(
            "INSERT INTO dossier_events (event_id, dossier_code, type, actor, actor_role, at)"
            " VALUES ('e1', 'DEM.00.00.Z00-261203-0001', 'accept', 'canbo1', 'clerk',"
            " '2026-12-03T02:00:00Z')")
    assert migrate(db) == [n for n, _ in MIGRATIONS if n > 2]
    row = db.conn.execute("SELECT status, due_at, created_at FROM dossiers").fetchone()
    assert row == ("DA_TIEP_NHAN", "2026-12-03T10:00:00Z", "2026-12-03T02:00:00Z")
    assert db.conn.execute("SELECT count(*) FROM dossier_events").fetchone()[0] == 1
    assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_the_closed_queue_walks_an_index_instead_of_sorting_every_dossier(tmp_path):
    # At 200,000 dossiers the sort took 0.5-0.8 s a page; a plan with a temp B-tree is it.
    from edge_node.store.dossiers import QUEUES

    db = open_db(tmp_path / "n.db")
    where, order = QUEUES["closed"]
    plan = " ".join(str(row[-1]) for row in db.conn.execute(
        f"EXPLAIN QUERY PLAN SELECT * FROM dossiers WHERE {where} ORDER BY {order} LIMIT 200"))
    assert "dossiers_updated" in plan and "TEMP B-TREE" not in plan
