"""What a node home says about the server: running, stopped cleanly, or not.

``serve`` writes ``{home}/edge-node.state.json`` once it listens
(``"state": "serving"``) and again when it stops on Ctrl+C or SIGTERM
(``"stopped"``). A power cut or ``kill -9`` leaves ``"serving"`` behind while
the OS frees the home lock: that pair is how ``edge-node status`` recognises
an unclean shutdown. The file is replaced atomically and never holds secrets.

This module also holds the checks ``serve`` runs before it touches anything
(home writable, free space, database integrity) and the ``status`` report.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edge_node import __version__, exitcodes
from edge_node.config import Config
from edge_node.domain.clock import now_utc, to_iso
from edge_node.lock import LockUnusable, probe

# sqlite3 error names that mean the file itself is damaged (not busy, not missing)
_CORRUPT_ERRORS = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def read_state(cfg: Config) -> dict:
    """The recorded state, or ``{}`` when the home never served (or the file is unreadable)."""
    try:
        data = json.loads(cfg.state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(cfg: Config, state: dict) -> None:
    """Replace the state file atomically (a power cut leaves the old or the new one)."""
    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=cfg.home)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, cfg.state_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mark_serving(cfg: Config, host: str, port: int, previous: dict) -> None:
    state = {"state": "serving", "pid": os.getpid(), "version": __version__,
             "host": host, "port": port, "started_at": to_iso(now_utc())}
    if previous.get("state") == "serving":
        state["previous_unclean_at"] = previous.get("started_at")
    write_state(cfg, state)


def mark_stopped(cfg: Config) -> None:
    state = read_state(cfg)
    state.update({"state": "stopped", "stopped_at": to_iso(now_utc())})
    write_state(cfg, state)


def check_database(path: Path, full: bool = True) -> str | None:
    """Check the database read-only; return what is wrong, or None when healthy.

    *full* runs ``PRAGMA quick_check`` (every page; about 1 s per 100 MB from the
    page cache, much more from a cold disk: bench/bench_start_check.py); otherwise
    only the header and the schema are read. Only damage counts (a corrupt page,
    "file is not a database"); a busy or unreadable file is not reported as
    corruption. The file is never written.
    """
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return None
    try:
        if not full:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return None
        rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") in _CORRUPT_ERRORS:
            return str(exc)
        return None
    finally:
        conn.close()
    return None if rows == ["ok"] else "; ".join(rows[:3])


def lost_database(cfg: Config) -> str | None:
    """What is wrong when the database file is not a file, or is empty in a home that has
    served: both mean the data is gone, and starting would build an empty node over it."""
    if cfg.db_path.is_dir():
        return f"{cfg.db_path.name} is a folder, not a database file"
    if cfg.db_path.exists() and cfg.db_path.stat().st_size == 0 and read_state(cfg):
        return f"{cfg.db_path.name} is empty (0 bytes) although this home has served before"
    return None


def corrupt_message(cfg: Config, problem: str) -> str:
    """What a clerk's IT helper must do when the database is damaged: save, then restore."""
    db = cfg.db_path
    return (
        f"The database {db} is damaged (SQLite says: {problem}).\n"
        "The node did not start and did not change the file.\n"
        "What to do:\n"
        f"  1. Save first: copy the whole home folder {cfg.home} (with {db.name}, "
        f"{db.name}-wal and {db.name}-shm if present, the keys and config.toml) to a USB "
        "stick or another disk. Province IT may still recover dossiers from it.\n"
        "  2. Restore the latest good backup: edge-node restore BACKUP-FILE (the daily "
        "backups are in the home's backups folder, or the backup_dir option); restore keeps "
        "the damaged files aside.\n"
        "  3. Start the node again, then run 'edge-node sync --once' so the province "
        "resends what it holds.\n"
        "Never delete the damaged file and never run 'edge-node init' over it.")


def check_home_writable(home: Path) -> None:
    """Create and delete a probe file in *home*; raise :class:`ExitError` (8 or 9) if that fails."""
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".write-test-", dir=home)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise os_error(home, exc) from None


def os_error(home: Path, exc: OSError) -> exitcodes.ExitError:
    """Turn an OSError on the home into the one-line message and exit code for it."""
    if exc.errno == errno.ENOSPC:
        return exitcodes.ExitError(f"the disk of the home {home} is full; free some space "
                                   "and start again", exitcodes.DISK_FULL)
    return exitcodes.ExitError(
        f"the home {home} is not writable ({exc.strerror}); it must be a folder the "
        "service account owns (Linux: chown edge-node /var/lib/edge-node)",
        exitcodes.HOME_NOT_WRITABLE)


def check_free_space(cfg: Config) -> None:
    """Refuse to start below ``min_free_mb``: SQLite must never meet a full disk mid-write."""
    free_mb = shutil.disk_usage(cfg.home).free // (1024 * 1024)
    if free_mb < cfg.min_free_mb:
        raise exitcodes.ExitError(
            f"only {free_mb} MB free on the disk of the home {cfg.home}; the node needs at "
            f"least {cfg.min_free_mb} MB (option min_free_mb). Free some space and start "
            "again", exitcodes.DISK_FULL)


#: Written by ``edge-node restore`` before it moves the home's files aside and removed once
#: the backup is in place and marked for recovery. Still there: the restore was cut short
#: (kill -9, power cut) and the home may have no database, or one not marked for recovery.
RESTORE_MARK = "restore-in-progress.json"


def restore_mark(cfg: Config) -> dict | None:
    """The mark of a restore cut short (``{}`` when unreadable), or None when there is none."""
    mark = cfg.home / RESTORE_MARK
    if not mark.exists():
        return None
    try:
        info = json.loads(mark.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def interrupted_restore(cfg: Config) -> str | None:
    """What to tell the operator when a restore of this home was cut short, else None."""
    info = restore_mark(cfg)
    if info is None:
        return None
    archive = info.get("archive") or "FILE"
    aside = info.get("moved_to") or "pre-restore-…"
    return (f"a restore of {cfg.home} was interrupted: run 'edge-node restore {archive}' "
            f"again (the files it replaced are in {aside}); nothing else may start on this "
            "home until then")


def check_restore(cfg: Config) -> None:
    """Refuse to initialise or serve a home whose restore was cut short."""
    problem = interrupted_restore(cfg)
    if problem:
        raise exitcodes.ExitError(problem, 1)


def preflight(cfg: Config) -> None:
    """Checks before serving: writable home, free space, an undamaged database.

    With ``start_check = "auto"`` the whole file is checked on a first start and
    after an unclean stop (a power cut is when pages get torn), only its header
    and schema after a clean stop, so a big database on a slow disk starts fast.
    """
    check_restore(cfg)
    check_home_writable(cfg.home)
    check_free_space(cfg)
    lost = lost_database(cfg)
    if lost:
        raise exitcodes.ExitError(corrupt_message(cfg, lost), exitcodes.DB_CORRUPT)
    if cfg.db_path.exists():
        mode = cfg.start_check
        full = mode == "full" or (mode == "auto" and read_state(cfg).get("state") != "stopped")
        problem = check_database(cfg.db_path, full=full)
        if problem:
            raise exitcodes.ExitError(corrupt_message(cfg, problem), exitcodes.DB_CORRUPT)


@dataclass
class Status:
    """The answer of ``edge-node status``."""

    code: int
    state: str
    message: str
    details: dict = field(default_factory=dict)


def _pid(holder: str) -> int | None:
    head = holder.split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def status(cfg: Config, check_db: bool = True) -> Status:
    """Inspect the home without changing it: lock holder, recorded state, database health."""
    try:
        return _status(cfg, check_db)
    except LockUnusable as exc:
        # A lock file that cannot be probed (a folder in its place, no permission) leaves the
        # holder unknown. Exit 5 is the one code that claims neither "running" nor "stopped"
        # and tells scripts not to start another server; 6 would send the technician to
        # restore a backup over a healthy database, 7 to init a home that exists.
        return Status(exitcodes.LOCKED, "lock-unknown",
                      f"cannot tell whether a process holds the home {cfg.home}: {exc}",
                      {"home": str(cfg.home)})


def _status(cfg: Config, check_db: bool) -> Status:
    restore_cut = interrupted_restore(cfg)
    if restore_cut and probe(cfg.lock_path) is None:
        return Status(exitcodes.NO_HOME, "restore-interrupted", restore_cut,
                      {"home": str(cfg.home)})
    if not cfg.db_path.exists():
        return Status(exitcodes.NO_HOME, "no-home",
                      f"no node home at {cfg.home} (no {cfg.db_path.name}); "
                      "run 'edge-node init' or give --home")
    holder = probe(cfg.lock_path)
    state = read_state(cfg)
    details = {"home": str(cfg.home), "state_file": state}
    serving = (holder is not None and state.get("state") == "serving"
               and _pid(holder) == state.get("pid"))
    if holder is not None and not serving:
        details["holder"] = holder
        return Status(exitcodes.LOCKED, "locked",
                      f"the home {cfg.home} is held by process {holder} (a command such as "
                      "init or restore, or a server still starting or stopping); wait for it "
                      "to finish", details)
    lost = lost_database(cfg)
    if lost:
        return Status(exitcodes.DB_CORRUPT, "db-corrupt", corrupt_message(cfg, lost), details)
    if check_db:
        problem = check_database(cfg.db_path)
        if problem:
            return Status(exitcodes.DB_CORRUPT, "db-corrupt", corrupt_message(cfg, problem),
                          details)
    if serving:
        host = state.get("host", cfg.host)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return Status(exitcodes.RUNNING, "running",
                      f"running: process {state['pid']} serves {cfg.home} at "
                      f"http://{shown}:{state.get('port')}/ since {state.get('started_at')}",
                      details)
    if state.get("state") == "serving":
        return Status(exitcodes.UNCLEAN, "unclean",
                      f"stopped uncleanly: the server started at {state.get('started_at')} "
                      "(process {}) ended without a clean stop (power cut, kill or crash). "
                      "Start it again; SQLite recovers its journal on open".format(
                          state.get("pid")), details)
    when = state.get("stopped_at")
    return Status(exitcodes.STOPPED, "stopped",
                  f"stopped cleanly at {when}" if when else "stopped (never served yet)",
                  details)
