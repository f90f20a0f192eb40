"""Setting up a node home: folders, config, schema, seed catalog, first admin."""

from __future__ import annotations

from dataclasses import dataclass

from edge_node.config import CONFIG_FILE, Config, render_toml
from edge_node.domain.clock import now_utc
from edge_node.services import accounts
from edge_node.services import catalog as catalog_service
from edge_node.store import catalog as catalog_store
from edge_node.store import users as users_store
from edge_node.store.db import open_db
from edge_node.web.app import read_secret_key


@dataclass
class InitResult:
    created_home: bool
    seeded_procedures: int
    admin_password: str | None


def init_home(cfg: Config) -> InitResult:
    """Create or complete a home; safe to run again (it only adds what is missing).

    The first run writes ``config.toml``, creates the database, imports the
    seed catalog and an ``admin`` account with a random one-time password,
    which is returned so the caller can print it once.
    """
    from edge_node.runstate import check_restore

    check_restore(cfg)  # a restore cut short must not become a brand-new node
    created = not (cfg.home / CONFIG_FILE).exists()
    cfg.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    cfg.log_dir.mkdir(mode=0o700, exist_ok=True)
    if created:
        keep = ("agency_id", "office_name", "authority_name", "place_name", "working_hours",
                "host", "lan", "port")
        (cfg.home / CONFIG_FILE).write_text(render_toml({k: cfg.values[k] for k in keep}),
                                            encoding="utf-8")
    read_secret_key(cfg)
    from edge_node.services.sync import identity

    identity(cfg)  # the node's signing and encryption keys, owner-only files
    from edge_node.services.population import load_or_create_key

    load_or_create_key(cfg.home)  # the key of population answers at rest, owner-only
    db = open_db(cfg.db_path)
    try:
        seeded = 0
        if catalog_store.count(db) == 0:
            seeded = catalog_service.import_catalog(
                db, catalog_service.seed_catalog_bytes(), now=now_utc(), actor="system",
                source="seed")["procedures"]
        password = None
        if not users_store.list_all(db):
            _, password = accounts.create_user(db, username="admin", role="admin",
                                               full_name="", now=now_utc(),
                                               actor="system")
        return InitResult(created, seeded, password)
    finally:
        db.conn.close()
