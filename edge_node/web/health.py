"""``GET /healthz``: is the node up and its database readable."""

from __future__ import annotations

from flask import Blueprint, jsonify

from edge_node import __version__
from edge_node.web.app import get_db

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    try:
        get_db().conn.execute("SELECT count(*) FROM procedures").fetchone()
        db_state = "ok"
    except Exception as exc:  # a broken database must still give an answer
        db_state = f"error: {exc.__class__.__name__}"
    status = 200 if db_state == "ok" else 503
    return jsonify({"status": "ok" if status == 200 else "degraded", "version": __version__,
                    "db": db_state}), status
