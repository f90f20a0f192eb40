"""A throwaway PostgreSQL server on a free loopback port, from Debian's packages.

Used by the tests (session fixture ``pg_admin_url``) when ``EDGE_TEST_PG_URL`` is not set,
and by ``bench/bench_hub_backends.py``. The data folder lives in a fresh temporary folder;
when running as root, the server runs as the ``postgres`` user (initdb refuses root).
For tests durability is switched off (``fsync=off``): the data is thrown away at the end;
benchmarks keep it on, like SQLite's ``synchronous=FULL`` on the other side.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` holding initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """``initdb`` + ``pg_ctl start`` in a temporary folder; :meth:`stop` removes it all."""

    def __init__(self, durable: bool = False):
        """:param durable: keep fsync and synchronous commit on (for fair benchmarks)."""
        self.durable = durable
        self.bin = bin_dir()
        if self.bin is None:
            raise FileNotFoundError("no PostgreSQL server binaries (apt-get install postgresql)")
        self.base = Path(tempfile.mkdtemp(prefix="edge-pg-"))
        self.port = _free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.user is not None:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                             cwd=self.base)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {out.stderr or out.stdout}")

    def start(self) -> PgServer:
        data = self.base / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
                   " -c max_connections=300")
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.base / "log"),
                  "-o", options, "-w", "-t", "60", "start")
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.base / "data"), "-m",
                      "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def create_database(admin_url: str, prefix: str = "hub_test") -> str:
    """A new empty database on the server of *admin_url*; returns its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\''
                     " LC_COLLATE 'C' LC_CTYPE 'C'")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
