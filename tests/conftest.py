"""Fixtures: a real node home in a temporary folder, its app and logged-in clients."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from edge_node.config import load_config
from edge_node.domain.clock import now_utc
from edge_node.services import accounts
from edge_node.services.node import init_home
from edge_node.store.db import open_db
from edge_node.web.app import create_app

REPO = Path(__file__).resolve().parents[1]
# The project's reference data (read at test time, never copied): beside the clone, or
# wherever EDGE_SHARED_DIR points when the clone lives elsewhere.
SHARED = Path(os.environ.get("EDGE_SHARED_DIR") or REPO.parent / "shared")
REFERENCE = SHARED / "data" / "reference"
PASSWORD = "mat-khau-thu-nghiem"
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def cfg(tmp_path):
    """Configuration of a fresh home; the real environment is ignored."""
    return load_config(tmp_path / "home", environ={})


@pytest.fixture
def initialised(cfg):
    """The home after ``edge-node init`` (seed catalog, admin with a one-time password)."""
    return init_home(cfg)


@pytest.fixture
def db(cfg, initialised):
    database = open_db(cfg.db_path)
    yield database
    database.conn.close()


@pytest.fixture
def app(cfg, initialised):
    application = create_app(cfg)
    application.config["TESTING"] = True
    return application


def add_user(db, username: str, role: str, password: str = PASSWORD) -> int:
    """An account that has already chosen its own password."""
    user_id, _ = accounts.create_user(db, username=username, role=role, password=password,
                                      must_change=False, now=now_utc(), actor="test")
    return user_id


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


@pytest.fixture
def clerk_client(app, db):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    assert login(client, "canbo1").status_code == 302
    return client


@pytest.fixture
def admin_client(app, db):
    add_user(db, "quantri", "admin")
    client = app.test_client()
    assert login(client, "quantri").status_code == 302
    return client


def api_token(client, username: str, password: str = PASSWORD) -> dict:
    resp = client.post("/api/v1/session", json={"username": username, "password": password})
    assert resp.status_code == 201, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['token']}"}


def valid_dossier(**changes) -> dict:
    body = {
        "procedure_code": "1.001193",
        "applicant": {"full_name": "Lò Văn Thành", "id_number": "011090001234",
                      "phone": "0912345678", "address": "Bản Phăng, xã Mường Phăng"},
        "documents_received": [],
        "return_method": "counter",
    }
    body.update(changes)
    return body


# ------------------------------------------------------------------ the hub's two backends


@pytest.fixture(scope="session")
def pg_admin_url():
    """A PostgreSQL server for the hub tests: ``EDGE_TEST_PG_URL`` (CI starts one), else a
    throwaway server of this test session (Debian's packages)."""
    import os

    from tests import pg_server

    url = os.environ.get("EDGE_TEST_PG_URL")
    if url:
        yield url
        return
    if pg_server.bin_dir() is None:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql) and no "
                    "EDGE_TEST_PG_URL: the PostgreSQL half of the hub tests cannot run")
    server = pg_server.PgServer().start()
    try:
        yield server.url()
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_backend(request, monkeypatch):
    """Run a hub test once on the SQLite file and once on a fresh PostgreSQL database;
    every :class:`~tests.integration.sync_helpers.Hub` made in the test uses it."""
    from sync.hub.db import close_pools
    from tests import pg_server
    from tests.integration import sync_helpers

    if request.param == "sqlite":
        monkeypatch.setattr(sync_helpers, "HUB_DATABASE_URL", "")
        yield ""
        return
    admin = request.getfixturevalue("pg_admin_url")
    url = pg_server.create_database(admin)
    monkeypatch.setattr(sync_helpers, "HUB_DATABASE_URL", url)
    try:
        yield url
    finally:
        close_pools()
        pg_server.drop_database(admin, url)
