"""Real hub processes on loopback ports, for sync tests."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.integration.test_cli import free_port
from tests.pg_server import bin_dir as pg_bin

ENV = {k: v for k, v in os.environ.items()
       if not k.startswith(("EDGE_NODE_", "SYNC_HUB_"))}
ADMIN_PASSWORD = "mat-khau-tinh-123"
# The database every new Hub uses: "" for the home's SQLite file, or a PostgreSQL URL
# (set per test by the ``hub_backend`` fixture in tests/conftest.py).
HUB_DATABASE_URL = ""


def hub_cli(home: Path, *args, **kwargs):
    kwargs.setdefault("env", ENV)
    return subprocess.run([sys.executable, "-m", "sync", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=60, **kwargs)


class Hub:
    """A ``sync-hub serve`` process that can be stopped and started again."""

    def __init__(self, home: Path, database_url: str | None = None):
        self.home = home
        self.database_url = HUB_DATABASE_URL if database_url is None else database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        if self.database_url:
            home.mkdir(parents=True, exist_ok=True)
            (home / "config.toml").write_text(f'database_url = "{self.database_url}"\n',
                                              encoding="utf-8")
        added = hub_cli(home, "user", "add", "tinh", "--role", "admin", "--password-stdin",
                        input=ADMIN_PASSWORD + "\n")
        assert added.returncode == 0, added.stderr

    def start(self) -> Hub:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync", "--home", str(self.home), "serve", "--port",
             str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=ENV)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read()
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("hub did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc:
            self.proc.stderr.close()
        self.proc = None

    def sql(self, query: str, params=()) -> list[tuple]:
        """Rows of a query on the hub's database, whichever engine it is."""
        from sync.hub.store import HubStore

        store = HubStore(self.database_url or self.home / "hub.db", migrate=False)
        try:
            return [tuple(r) for r in store.execute(query, params).fetchall()]
        finally:
            store.close()

    def connect(self):
        """A connection to the hub's database for a test to read: ``execute(sql, params)``,
        ``close()``; SQLite's ``PRAGMA integrity_check`` answers from :meth:`intact`."""
        if not self.database_url:
            return sqlite3.connect(self.home / "hub.db")
        return _PgReader(self)

    def intact(self) -> bool:
        """SQLite's integrity check, or PostgreSQL's amcheck-free equivalent: every table
        readable and every (node_id, seq) unique (the primary key holds)."""
        if not self.database_url:
            return self.sql("PRAGMA integrity_check") == [("ok",)]
        return self.sql("SELECT count(*) FROM (SELECT node_id, seq FROM hub_events"
                        " GROUP BY node_id, seq HAVING count(*) > 1) d") == [(0,)]

    def backup(self, path: Path) -> None:
        """What the province's backup does: a SQLite copy, or ``pg_dump -Fc``."""
        if not self.database_url:
            src, dst = sqlite3.connect(self.home / "hub.db"), sqlite3.connect(path)
            src.backup(dst)
            src.close()
            dst.close()
            return
        out = subprocess.run([str(pg_bin() / "pg_dump"), "-Fc", "-f", str(path),
                              "-d", self.database_url], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr

    def restore(self, path: Path) -> None:
        """Put a backup back (the hub stopped): the SQLite file, or ``pg_restore --clean``."""
        assert self.proc is None
        if not self.database_url:
            for suffix in ("", "-wal", "-shm"):
                (self.home / f"hub.db{suffix}").unlink(missing_ok=True)
            path.rename(self.home / "hub.db")
            return
        from sync.hub.db import close_pools

        close_pools()  # this test process's own connections, if any
        out = subprocess.run([str(pg_bin() / "pg_restore"), "--clean", "--if-exists",
                              "--single-transaction", "-d", self.database_url, str(path)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr

    def enroll_code(self, commune: str = "03325", agency: str = "") -> str:
        args = ["enroll-code", "--commune", commune] + (["--agency-id", agency] if agency else [])
        out = hub_cli(self.home, *args)
        assert out.returncode == 0, out.stderr
        return re.search(r": ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})", out.stdout).group(1)

    def token(self) -> dict:
        resp = requests.post(self.url + "/api/v1/session", timeout=5,
                             json={"username": "tinh", "password": ADMIN_PASSWORD})
        assert resp.status_code == 201, resp.text
        return {"Authorization": f"Bearer {resp.json()['token']}"}

    def get(self, path: str):
        return requests.get(self.url + path, headers=self.token(), timeout=10)


class _PgReader:
    """What tests use of a sqlite3 connection, on the hub's PostgreSQL database."""

    def __init__(self, hub: Hub):
        from sync.hub.store import HubStore

        self.hub = hub
        self.store = HubStore(hub.database_url, migrate=False)

    def execute(self, sql: str, params=()):
        if sql.strip().upper() == "PRAGMA INTEGRITY_CHECK":
            return sqlite3.connect(":memory:").execute(
                "SELECT ?", ("ok" if self.hub.intact() else "broken",))
        return self.store.execute(sql, params)

    def close(self) -> None:
        self.store.close()


def node_cli(home, *args):
    """Run ``edge-node --home HOME ARGS`` as a separate process."""
    return subprocess.run([sys.executable, "-m", "edge_node", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120, env=ENV)


def synced_then_hub_backup(hub, world, cfg, db, path: Path, *, dossiers: int) -> Path:
    """Take *dossiers* intakes, sync them, then back the hub up (stopped) to *path*: the
    province's "yesterday's backup" that fault tests later put back."""
    from edge_node.domain.clock import now_utc
    from edge_node.services import sync as sync_service

    for _ in range(dossiers):
        world.receive()
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    hub.stop()
    hub.backup(path)
    hub.start()
    return path


def linked_node(tmp_path, cfg, db):
    """A running hub and an enrolled node; yields ``(hub, world)`` and stops the hub."""
    from tests.integration.lifecycle_helpers import World, vn

    hub = Hub(tmp_path / "hub").start()
    assert node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                    hub.enroll_code()).returncode == 0
    try:
        yield hub, World(db, vn(2026, 12, 7, 8, 0))
    finally:
        hub.stop()
