"""Flask app factory: config, per-request database, security, blueprints."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, g

from edge_node import __version__
from edge_node.config import Config, load_config
from edge_node.domain.clock import now_utc
from edge_node.store.db import connect, open_db
from edge_node.web import filters

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 2 * 1024 * 1024
UPLOAD_FRAMING_BYTES = 64 * 1024


def _static_folder() -> str:
    # In a source checkout static/ sits beside the package; an installed wheel
    # carries it as edge_node/static (see package-dir in pyproject.toml).
    source = Path(__file__).resolve().parents[2] / "static"
    if source.is_dir():
        return str(source)
    return str(Path(__file__).resolve().parents[1] / "static")


def read_secret_key(cfg: Config) -> bytes:
    """Return the home's secret key, creating it (owner-only) the first time."""
    path: Path = cfg.secret_key_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # owner-only from the first byte: no moment where the umask's mode applies
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o600)
        except FileExistsError:
            return path.read_bytes()  # another process made it meanwhile
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), 0o600)
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def create_app(cfg: Config | None = None, *, home: str | None = None) -> Flask:
    """Create the node's web app for one home folder.

    The schema is migrated here, once; each request opens its own SQLite
    connection (cheap) so waitress threads never share one.
    """
    cfg = cfg or load_config(home)
    cfg.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    open_db(cfg.db_path).conn.close()
    app = Flask("edge_node", static_folder=_static_folder(), static_url_path="/static",
                template_folder=str(Path(__file__).resolve().parents[1] / "templates"))
    app.config.update(
        EDGE=cfg,
        SECRET_KEY=read_secret_key(cfg),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        SESSION_IDLE=timedelta(minutes=cfg.session_idle_minutes),
        JSON_AS_ASCII=False,
        CLOCK=now_utc,  # tests replace it to receive dossiers at chosen instants
        # Attachment uploads may be as large as the configured limit plus the multipart
        # framing; everything else keeps MAX_CONTENT_LENGTH.
        UPLOAD_LIMITS={endpoint: cfg.attachment_max_mb * 1024 * 1024 + UPLOAD_FRAMING_BYTES
                       for endpoint in ("dossiers.attach", "api.create_attachment")},
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    filters.register(app)

    @app.teardown_appcontext
    def _close_db(exc):
        db = g.pop("db", None)
        if db is not None:
            db.conn.close()

    @app.context_processor
    def _inject():
        return {"version": __version__, "cfg": cfg, "sync_badge": _sync_badge,
                "province_waiting": _province_waiting}

    from edge_node.web import (
        admin,
        api,
        auth,
        catalog,
        dossiers,
        errors,
        health,
        population,
        reports,
        security,
    )

    errors.register(app)
    auth.register(app)
    security.register(app)
    for bp in (auth.bp, auth.session_api, dossiers.bp, catalog.bp, admin.bp, api.bp, health.bp,
               reports.bp, population.bp, population.api):
        app.register_blueprint(bp)
    return app


def _sync_badge() -> str:
    """``online`` / ``offline`` / ``not_enrolled`` for the top bar (two small reads)."""
    from edge_node.store import settings

    state = settings.get_all(get_db(), "sync.")
    if "sync.node_id" not in state:
        return "not_enrolled"
    ok = state.get("sync.last_success_at") and not state.get("sync.last_error")
    return "online" if ok else "offline"


def _province_waiting() -> dict:
    """Online dossiers to receive, citizens' requests and flagged facts, for the top bar."""
    from edge_node.store.province import waiting_counts

    return waiting_counts(get_db())


def request_now():
    """The current instant as the app sees it (UTC)."""
    from flask import current_app

    return current_app.config["CLOCK"]()


def get_db():
    """The request's database connection (opened on first use)."""
    if "db" not in g:
        from flask import current_app

        g.db = connect(current_app.config["EDGE"].db_path)
    return g.db

