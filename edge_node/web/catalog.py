"""Procedure catalog pages."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from edge_node.services import catalog as catalog_service
from edge_node.store import catalog as catalog_store
from edge_node.web.app import get_db
from edge_node.web.auth import roles
from edge_node.web.dossiers import ALL_ROLES

bp = Blueprint("catalog", __name__)


@bp.route("/procedures")
@roles(*ALL_ROLES)
def search():
    q = request.args.get("q", "")
    db = get_db()
    results = catalog_service.search(db, q, limit=50)
    return render_template("catalog/search.html", q=q, results=results,
                           total=catalog_store.count(db),
                           catalog_version=catalog_store.current_version(db))


@bp.route("/procedures/<code>")
@roles(*ALL_ROLES)
def detail(code: str):
    procedure = catalog_store.get(get_db(), code)
    if procedure is None:
        abort(404)
    return render_template("catalog/detail.html", p=procedure)
