"""The queue's field filter lists the fields of the dossiers held, new ones included."""

from __future__ import annotations

import re

from tests.conftest import login
from tests.integration.lifecycle_helpers import World, vn


def _options(client) -> list[str]:
    html = client.get("/queues/open").get_data(as_text=True)
    select = re.search(r'<select name="field">(.*?)</select>', html, re.S).group(1)
    return re.findall(r"<option[^>]*>([^<]+)</option>", select)[1:]  # after "(tất cả)"


def test_field_filter_follows_new_dossiers(app, db):
    world = World(db, vn(2026, 12, 7, 8, 0))
    client = app.test_client()
    assert login(client, "canbo").status_code == 302
    assert _options(client) == []
    world.receive()  # Đăng ký khai sinh: Hộ tịch
    assert _options(client) == ["Hộ tịch"]
    world.receive(procedure_code="1.013967")  # a land procedure, after the list was read
    assert _options(client) == ["Hộ tịch", "Đất đai"]
    world.receive()
    assert _options(client) == ["Hộ tịch", "Đất đai"]


def test_field_filter_of_another_home_is_its_own(app, db, tmp_path):
    from edge_node.config import load_config
    from edge_node.services.node import init_home
    from edge_node.store import dossiers as dossier_store
    from edge_node.store.db import open_db

    World(db, vn(2026, 12, 7, 8, 0)).receive(procedure_code="1.013967")
    other_cfg = load_config(tmp_path / "other", environ={})
    init_home(other_cfg)
    other = open_db(other_cfg.db_path)
    try:
        assert dossier_store.fields_in_use(db) == ["Đất đai"]
        assert dossier_store.fields_in_use(other) == []
    finally:
        other.conn.close()
