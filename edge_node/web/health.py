"""``GET /healthz``: is the node up, its database sound, its disk, backups and sync in order."""

from __future__ import annotations

import shutil
import threading
import time

from flask import Blueprint, current_app, jsonify

from edge_node import __version__
from edge_node.domain.clock import now_utc, parse_iso
from edge_node.store import outbox, settings
from edge_node.store.db import quick_check
from edge_node.web.app import get_db

bp = Blueprint("health", __name__)
#: ``PRAGMA quick_check`` reads the whole file: run it at most this often per database.
INTEGRITY_CACHE_SECONDS = 300
_integrity: dict[str, tuple[float, str]] = {}
_integrity_lock = threading.Lock()


def _cached_integrity(db, key: str) -> str:
    with _integrity_lock:
        hit = _integrity.get(key)
        if hit and time.monotonic() - hit[0] < INTEGRITY_CACHE_SECONDS:
            return hit[1]
        result = quick_check(db)
        _integrity[key] = (time.monotonic(), result)
        return result


@bp.route("/healthz")
def healthz():
    cfg = current_app.config["EDGE"]
    body = {"version": __version__}
    try:
        db = get_db()
        db.conn.execute("SELECT count(*) FROM procedures").fetchone()
        body["db"] = "ok"
        body["integrity"] = _cached_integrity(db, str(cfg.db_path))
        last_at = settings.get(db, "backup.last_at")
        body["last_backup_at"] = last_at
        body["last_backup_age_seconds"] = (
            int((now_utc() - parse_iso(last_at)).total_seconds()) if last_at else None)
        body["sync_backlog"] = outbox.pending_count(db)
    except Exception as exc:  # a broken database must still give an answer
        body["db"] = f"error: {exc.__class__.__name__}"
    try:
        body["disk_free_bytes"] = shutil.disk_usage(cfg.home).free
    except OSError:
        body["disk_free_bytes"] = None
    healthy = body["db"] == "ok" and body.get("integrity") == "ok"
    body["status"] = "ok" if healthy else "degraded"
    return jsonify(body), 200 if healthy else 503
