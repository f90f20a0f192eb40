"""Verified backups of a node home, their rotation, and restoring one.

A backup is one zip archive: a consistent copy of the database (``VACUUM
INTO``, so it is made while clerks work), the node's keys, ``secret_key`` and
``config.toml``, the ``attachments/`` folder when there is one, and
``manifest.json`` naming the node, the schema and the sha256 of every member.
It only counts once the copy opened cleanly (``PRAGMA integrity_check``) and
the archive re-read matches its manifest; otherwise the partial file is
deleted. Archives hold private keys, so they are owner-only (0600).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge_node import __version__
from edge_node.config import CONFIG_FILE, Config
from edge_node.domain.clock import local, now_utc, parse_iso, to_iso
from edge_node.runstate import RESTORE_MARK, restore_mark
from edge_node.store import settings
from edge_node.store.db import check_file, connect, copy_to, latest_version, schema_version

FORMAT = "edge-node-backup/1"
MANIFEST = "manifest.json"
DB_MEMBER = "edge-node.db"
#: Files and folders of the home that travel with the database.
HOME_FILES = (CONFIG_FILE, "secret_key")
HOME_DIRS = ("keys", "attachments")
AUTO_PREFIX = "edge-node-auto-"
KEEP_DAILY = 7
KEEP_WEEKLY = 4
_STAMP_RE = re.compile(r"(\d{8}T\d{6}Z)")


class BackupError(Exception):
    """A backup could not be made or an archive is not a good backup (nothing kept)."""


class RestoreIncomplete(Exception):
    """A restore failed after it had begun to replace the home's files.

    Deliberately not a :class:`BackupError` (whose callers say "the home is
    unchanged"): the home now holds neither its own files nor the backup's, and
    its restore mark stays, so init/up/serve refuse it until restore is run again.
    The message says so, names the archive and where the home's own files are.
    """


@dataclass
class BackupResult:
    path: Path
    manifest: dict


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


#: A backup's work folder or partial archive older than this was left by a process that
#: died (power cut, kill -9): a backup takes minutes, not hours.
STALE_SECONDS = 6 * 3600


def sweep_leftovers(folder: Path, patterns: tuple[str, ...], *, older_than: float,
                    now: float | None = None) -> list[Path]:
    """Delete the work folders / partial files matching *patterns* in *folder* whose last
    change is more than *older_than* seconds old; return them. Each holds a full copy of
    the database (citizen data) and, left behind by every interrupted run, fills the disk."""
    import time

    now = time.time() if now is None else now
    removed = []
    for pattern in patterns:
        for path in folder.glob(pattern) if folder.is_dir() else ():
            try:
                if now - path.lstat().st_mtime < older_than:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed


def _home_members(cfg: Config) -> list[tuple[str, Path]]:
    """``(archive name, file)`` of every home file that goes into a backup (not the db)."""
    out = [(name, cfg.home / name) for name in HOME_FILES if (cfg.home / name).is_file()]
    for folder in HOME_DIRS:
        root = cfg.home / folder
        if root.is_dir():
            out += [(p.relative_to(cfg.home).as_posix(), p) for p in sorted(root.rglob("*"))
                    if p.is_file()]
    return out


def _identity(db) -> dict:
    state = settings.get_all(db, "sync.")
    return {"node_id": state.get("sync.node_id"), "hub_id": state.get("sync.hub_id"),
            "agency_id": state.get("sync.agency_id"),
            "commune_code": state.get("sync.commune_code")}


def create_backup(cfg: Config, out: Path | None = None, *, now: datetime | None = None,
                  prefix: str = "edge-node-") -> BackupResult:
    """Write a verified backup archive of the home; return its path and manifest.

    :param out: the archive to write (default ``{backups}/{prefix}{stamp}.zip``).
    :raises BackupError: when the copy or the archive does not verify; no file is left.
    """
    now = now or now_utc()
    if out is None:
        out = cfg.backups_path / f"{prefix}{_stamp(now)}.zip"
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(out.parent, (".backup-*", "*.zip.partial"), older_than=STALE_SECONDS)
        work = Path(tempfile.mkdtemp(prefix=".backup-", dir=out.parent))
    except OSError as exc:
        raise BackupError(f"cannot write to {out.parent}: {exc.strerror}") from None
    try:
        copy = work / DB_MEMBER
        db = connect(cfg.db_path)
        try:
            copy_to(db, copy)
            ident = _identity(db)
            agency = ident["agency_id"] or cfg.agency_id
        finally:
            db.conn.close()
        integrity, version = check_file(copy)
        if integrity != "ok":
            raise BackupError(f"the copy of the database is damaged ({integrity})")
        members = [(DB_MEMBER, copy), *_home_members(cfg)]
        manifest = {"format": FORMAT, "created_at": to_iso(now), "app_version": __version__,
                    "schema_version": version, "node_id": ident["node_id"],
                    "hub_id": ident["hub_id"], "commune_code": ident["commune_code"],
                    "agency_id": agency, "enrolled": ident["node_id"] is not None,
                    "members": {name: {"sha256": _sha256(path), "size": path.stat().st_size}
                                for name, path in members}}
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
            for name, path in members:
                zf.write(path, name)
            raw.flush()
        os.chmod(partial, 0o600)
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        verify_archive(partial, work / "check")
        os.replace(partial, out)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    except (OSError, zipfile.BadZipFile, ValueError, sqlite3.Error) as exc:
        # sqlite3: VACUUM INTO on a full disk fails as "disk I/O error" / "database or
        # disk is full", not as an OSError
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot write the backup {out}: {exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _record(cfg, out, now)
    return BackupResult(out, manifest)


def _record(cfg: Config, path: Path, now: datetime) -> None:
    """Remember the last good backup, for ``/healthz`` and the status."""
    from edge_node.store.db import write_tx

    db = connect(cfg.db_path)
    try:
        with write_tx(db):
            settings.put(db, "backup.last_at", to_iso(now))
            settings.put(db, "backup.last_file", str(path))
    finally:
        db.conn.close()


def read_manifest(archive: Path) -> dict:
    """The manifest of an archive, without checking the members."""
    try:
        with zipfile.ZipFile(archive) as zf:
            manifest = json.loads(zf.read(MANIFEST))
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BackupError(f"{archive} is not an edge-node backup ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} is not an edge-node backup (unknown format)")
    return manifest


def verify_archive(archive: Path, into: Path) -> dict:
    """Extract *archive* into the new folder *into* and check it; return the manifest.

    Every member must match its sha256, nothing may lie outside the manifest,
    and the database must pass ``integrity_check`` at the schema it claims.
    """
    manifest = read_manifest(archive)
    members = manifest.get("members") or {}
    if DB_MEMBER not in members:
        raise BackupError("the backup holds no database")
    into.mkdir(parents=True, exist_ok=False)
    try:
        with zipfile.ZipFile(archive) as zf:
            names = set(zf.namelist()) - {MANIFEST}
            if names != set(members):
                raise BackupError("the archive's files differ from its manifest")
            for name in sorted(names):
                target = (into / name).resolve()
                if into.resolve() not in target.parents:
                    raise BackupError(f"unsafe member name {name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(name) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                if _sha256(target) != members[name].get("sha256"):
                    raise BackupError(f"{name} does not match its sha256: the backup is damaged")
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError(f"cannot read the backup {archive}: {exc}") from None
    try:
        integrity, version = check_file(into / DB_MEMBER)
    except sqlite3.Error as exc:  # not a database at all (whose sha256 the manifest agrees)
        raise BackupError(f"the database in the backup is damaged ({exc})") from None
    if integrity != "ok":
        raise BackupError(f"the database in the backup is damaged ({integrity})")
    if version != manifest.get("schema_version"):
        raise BackupError(f"the database is at schema {version}, the manifest says "
                          f"{manifest.get('schema_version')}")
    return manifest


# -- rotation ----------------------------------------------------------------------------------


def rotate(folder: Path, *, keep_daily: int = KEEP_DAILY, keep_weekly: int = KEEP_WEEKLY
           ) -> list[Path]:
    """Delete scheduled backups beyond the newest of each of the last *keep_daily* days and
    the newest of each of the last *keep_weekly* ISO weeks; return the deleted files.

    Only ``edge-node-auto-*.zip`` files are touched: backups made by hand or
    before a migration stay until someone removes them.
    """
    dated = []
    for path in folder.glob(f"{AUTO_PREFIX}*.zip"):
        match = _STAMP_RE.search(path.name)
        if match:
            at = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ")
            dated.append((at, path))
    dated.sort(reverse=True)
    keep: set[Path] = set()
    days: list = []
    weeks: list = []
    for at, path in dated:
        day = at.date()
        week = day.isocalendar()[:2]
        if day not in days and len(days) < keep_daily:
            days.append(day)
            keep.add(path)
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.append(week)
            keep.add(path)
    removed = []
    for _, path in dated:
        if path not in keep:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def scheduled_backup_due(cfg: Config, last_at: str | None, now: datetime) -> bool:
    """True when today's (local) backup is missing and the backup hour has come."""
    if not cfg.backup_enabled:
        return False
    here = local(now)
    if here.hour < cfg.backup_hour:
        return False
    return last_at is None or local(parse_iso(last_at)).date() < here.date()


def last_backup(db) -> tuple[str | None, str | None]:
    """``(instant, file)`` of the last good backup, or Nones."""
    return settings.get(db, "backup.last_at"), settings.get(db, "backup.last_file")


# -- restore -----------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    manifest: dict
    #: where the home's own files went (those of before the first attempt, when an earlier
    #: restore was cut short)
    moved_to: Path
    recovery: bool
    #: when an earlier restore was cut short: what that attempt had left in the home
    leftovers: Path | None = None


def _current_identity(cfg: Config) -> dict | None:
    if not cfg.db_path.exists():
        return None
    try:
        db = connect(cfg.db_path)
        try:
            return _identity(db)
        finally:
            db.conn.close()
    except Exception:  # a damaged current database must not block restoring a backup
        return None


def restore(cfg: Config, archive: Path, *, force: bool = False,
            now: datetime | None = None) -> RestoreResult:
    """Put a verified backup in place of the home's database and keys.

    The caller holds the home lock. The current database, keys and config go
    to ``{home}/pre-restore-{stamp}/`` (never deleted). A backup of another
    node or agency is refused unless *force*. The restored node is marked so
    that its first sync asks the hub what it holds (see ``services/recovery``).

    :raises BackupError: on a bad archive or a refused restore; the home is unchanged.
    :raises RestoreIncomplete: when it fails after it began to move files (disk error, I/O
        error): the home is half-swapped and marked; running restore again finishes it.
    """
    now = now or now_utc()
    archive = Path(archive)
    # the caller holds the home lock: any .restore-* folder is from a restore that died
    sweep_leftovers(cfg.home, (".restore-*",), older_than=0)
    work = Path(tempfile.mkdtemp(prefix=".restore-", dir=cfg.home))
    try:
        manifest = verify_archive(archive, work / "files")
        if manifest["schema_version"] > latest_version():
            raise BackupError(
                f"the backup is from a newer edge-node (schema {manifest['schema_version']}, "
                f"this version knows {latest_version()}): install that version first")
        current = _current_identity(cfg)
        if current and not force:
            mine = (current["node_id"], current["agency_id"] or cfg.agency_id)
            theirs = (manifest.get("node_id"), manifest.get("agency_id"))
            if current["node_id"] and mine != theirs:
                raise BackupError(
                    f"this backup belongs to node {theirs[0] or '(not enrolled)'} of agency "
                    f"{theirs[1]}, this home is node {mine[0]} of agency {mine[1]}; "
                    "use --force to restore it anyway")
        # An earlier restore cut short moved the home's own files to its folder; what is in
        # the home now is what it left. The mark keeps pointing at the home's own files.
        earlier = (restore_mark(cfg) or {}).get("moved_to")
        original = Path(earlier) if earlier and Path(earlier).is_dir() else None
        aside = cfg.home / f"pre-restore-{_stamp(now)}"
        for n in range(2, 100):  # a rerun within the same second must not meet the first
            if not aside.exists():
                break
            aside = cfg.home / f"pre-restore-{_stamp(now)}-{n}"
        mark = cfg.home / RESTORE_MARK
        try:
            aside.mkdir(mode=0o700)  # it holds the keys
            # from here until the backup is in place and marked, a cut (kill -9, power) leaves
            # the home without a database or not marked for recovery: say so to whoever
            # starts it
            _write_durably(mark, json.dumps(
                {"archive": str(archive.resolve()), "moved_to": str(original or aside),
                 "at": to_iso(now)}))
        except OSError as exc:  # nothing moved yet (a mark of an earlier attempt stays whole)
            shutil.rmtree(aside, ignore_errors=True)
            raise BackupError(f"cannot start the restore in {cfg.home}: {exc}") from None
        try:
            _swap(cfg, work / "files", aside)
            recovery = _mark_restored(cfg, manifest, archive, now)
        except Exception as exc:
            raise RestoreIncomplete(
                f"the restore failed after it had begun to replace the home's database and "
                f"keys ({exc.__class__.__name__}: {exc}). The home {cfg.home} now holds "
                f"neither its previous files (they are in {original or aside}) nor the whole "
                f"backup. Fix the cause (free space, disk errors), then run 'edge-node "
                f"restore {archive}' again to finish; init, up and serve refuse this home "
                "until then") from None
        mark.unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if original is not None:
        return RestoreResult(manifest, original, recovery, leftovers=aside)
    return RestoreResult(manifest, aside, recovery)


def _swap(cfg: Config, files: Path, aside: Path) -> None:
    """Move the home's database, keys and config to *aside*, then the backup's in place."""
    names = [cfg.db_path.name + s for s in ("", "-wal", "-shm")]
    names += list(HOME_FILES) + ["keys"]
    for name in names:
        if (cfg.home / name).exists():
            shutil.move(str(cfg.home / name), str(aside / name))
    for name in sorted(os.listdir(files)):
        if name == "attachments":
            continue
        target = cfg.db_path if name == DB_MEMBER else cfg.home / name
        shutil.move(str(files / name), str(target))
    # Attachments are added, never replaced: files of dossiers made after the backup
    # stay for the recovered dossiers to find.
    saved = files / "attachments"
    for path in sorted(saved.rglob("*")) if saved.is_dir() else ():
        target = cfg.home / path.relative_to(files)
        if path.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(target))
    for key in (cfg.home / "keys").glob("*") if (cfg.home / "keys").is_dir() else ():
        if key.is_file():
            os.chmod(key, 0o600)


def _write_durably(path: Path, text: str) -> None:
    """Replace *path* atomically: a failed write leaves the old file (or none), never half."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _mark_restored(cfg: Config, manifest: dict, archive: Path, now: datetime) -> bool:
    """Note the restore in the restored database; mark an enrolled node for recovery."""
    from edge_node.store import audit
    from edge_node.store.db import migrate, write_tx

    db = connect(cfg.db_path)
    try:
        migrate(db)  # an older backup comes up to this version's schema
        enrolled = settings.get(db, "sync.node_id") is not None
        with write_tx(db):
            settings.put(db, "backup.restored_at", to_iso(now))
            if enrolled:
                settings.put(db, "sync.recover", to_iso(now))
            audit.append(db, at=to_iso(now), actor="cli", action="backup.restored",
                         obj=archive.name, detail={"created_at": manifest.get("created_at"),
                                                   "schema_version": schema_version(db)})
    finally:
        db.conn.close()
    return enrolled
