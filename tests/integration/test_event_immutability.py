"""Dossier events are append-only: no route, API call or command edits or deletes one
(Art. 5: altering or deleting dossier data is prohibited; corrections are new events)."""

import re
from pathlib import Path

from edge_node.cli import cli as node_cli_group
from sync.cli import cli as hub_cli_group
from tests.conftest import REPO, add_user, api_token, csrf_from, login, valid_dossier

EVENTS = "SELECT id, event_id, dossier_code, type, actor, at, payload FROM dossier_events"


def _command_names(group, prefix=()):
    for name, command in getattr(group, "commands", {}).items():
        yield (*prefix, name)
        yield from _command_names(command, (*prefix, name))


def test_no_route_or_command_can_change_or_remove_an_event(app, db):
    add_user(db, "canbo1", "clerk")
    add_user(db, "quantri", "admin")
    client = app.test_client()
    clerk = api_token(client, "canbo1")
    code = client.post("/api/v1/dossiers", json=valid_dossier(), headers=clerk).get_json()[
        "code"]
    client.post(f"/api/v1/dossiers/{code}/actions", json={"action": "transfer"}, headers=clerk)
    before = db.conn.execute(EVENTS).fetchall()
    assert len(before) >= 2
    admin = app.test_client()
    login(admin, "quantri")
    csrf = csrf_from(admin.get("/admin/users").get_data(as_text=True))
    web_clerk = app.test_client()
    login(web_clerk, "canbo1")
    clerk_csrf = csrf_from(web_clerk.get("/").get_data(as_text=True))
    tried = 0
    for rule in app.url_map.iter_rules():
        unsafe = rule.methods - {"GET", "HEAD", "OPTIONS"}
        if "dossier" in rule.rule:
            assert not unsafe & {"PUT", "PATCH", "DELETE"}, rule.rule
        if not unsafe or rule.endpoint == "auth.logout":
            continue
        path = re.sub(r"<(?:int:)?(\w+)>", lambda m: "1" if m.group(1) in (
            "user_id", "lookup_id") else code, rule.rule)
        for method in unsafe:
            for who, token in ((admin, csrf), (web_clerk, clerk_csrf)):
                getattr(who, method.lower())(path, data={
                    "csrf_token": token, "action": "delete", "event_id": before[0][1],
                    "type": "edited", "payload": "{}"})
            getattr(client, method.lower())(path, headers=clerk, json={
                "action": "delete_event", "event_id": before[0][1], "type": "edited"})
            tried += 1
    assert tried >= 10
    after = db.conn.execute(EVENTS).fetchall()
    assert after[:len(before)] == before  # later actions may add events, never change one
    # and no command of either CLI is about editing or deleting
    names = {" ".join(n) for g in (node_cli_group, hub_cli_group) for n in _command_names(g)}
    assert not [n for n in names if re.search(r"event|delete|edit|purge", n)], names


def test_no_code_updates_or_deletes_dossier_events():
    pattern = re.compile(r"(UPDATE\s+dossier_events|DELETE\s+FROM\s+dossier_events)", re.I)
    offenders = [str(p.relative_to(REPO)) for base in ("edge_node", "sync")
                 for p in Path(REPO, base).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
