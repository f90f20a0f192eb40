"""Schema upgrades guarded by a verified backup: a failed migration puts the old database back."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from edge_node.config import Config
from edge_node.services import backup as backup_service
from edge_node.store import db as db_store


class UpgradeError(Exception):
    """A migration failed; the database was put back as it was (``backup`` names the copy)."""

    def __init__(self, message: str, backup: Path | None = None):
        super().__init__(message)
        self.backup = backup


def pending(cfg: Config) -> list[int]:
    """Migrations this version would apply to the home's database."""
    if not cfg.db_path.exists():
        return []
    db = db_store.connect(cfg.db_path)
    try:
        return db_store.pending_migrations(db)
    finally:
        db.conn.close()


def migrate_with_backup(cfg: Config) -> tuple[list[int], Path | None]:
    """Back up (verified), then apply pending migrations; on failure restore the backup.

    The caller holds the home lock. Returns ``(applied numbers, backup file)``;
    nothing is backed up when nothing is pending.

    :raises UpgradeError: a migration failed and the old database is back in place.
    :raises backup_service.BackupError: the backup could not be made (nothing migrated).
    """
    todo = pending(cfg)
    if not todo:
        return [], None
    made = backup_service.create_backup(cfg, prefix="edge-node-pre-migrate-")
    db = db_store.connect(cfg.db_path)
    try:
        applied = db_store.migrate(db)
    except (sqlite3.Error, RuntimeError) as exc:
        db.conn.close()
        _put_back(cfg, made.path)
        raise UpgradeError(f"migration failed ({exc.__class__.__name__}: {exc}); the database "
                           f"was restored from {made.path} and the previous version keeps "
                           "working", made.path) from None
    db.conn.close()
    return applied, made.path


def _put_back(cfg: Config, archive: Path) -> None:
    """Replace the database (only: keys and config did not change) with the backup's copy."""
    work = Path(tempfile.mkdtemp(prefix=".rollback-", dir=cfg.home))
    try:
        backup_service.verify_archive(archive, work / "files")
        for suffix in ("-wal", "-shm"):
            Path(str(cfg.db_path) + suffix).unlink(missing_ok=True)
        os.replace(work / "files" / backup_service.DB_MEMBER, cfg.db_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
