"""Recovery of a node restored from a backup: learn from the hub what it already holds.

A restored database is behind the hub: the hub holds events the node sent
after the backup was made, under numbers the restored outbox would give again
(the hub refuses that with ``seq_reused``). ``edge-node restore`` marks the
node (``sync.recover``); the next sync round first runs :func:`recover`, which
asks the hub (a signed ``recover`` envelope) for its last applied number and
the node's own records after the node's last one, puts them back into the
outbox as acknowledged (same number, event id and payload), re-applies the
dossier events so the dossiers made after the backup come back, moves the
outbox and dossier-code counters past them, and drops sealed batches the hub
no longer needs. Then push resumes from where the hub stands. Events made on
the node after the backup and never sent are lost with the restore.
"""

from __future__ import annotations

import json

import requests

from edge_node.config import Config
from edge_node.domain.clock import to_iso
from edge_node.domain.codes import code_counter
from edge_node.domain.text import fold
from edge_node.store import audit, settings
from edge_node.store import dossiers as dossier_store
from edge_node.store import outbox as outbox_store
from edge_node.store import users as users_store
from edge_node.store.db import write_tx

MAX_ROUNDS = 10_000


def pending(db) -> bool:
    """True while a restored node has not yet learnt what the hub holds."""
    return settings.get(db, "sync.recover") is not None


def _apply_dossier_event(db, record: dict) -> bool:
    """Re-create one dossier event (and its projection) from the record the hub holds."""
    payload = record["payload"]
    code = payload.get("dossier_code")
    if not isinstance(code, str) or dossier_store.has_event(db, record["event_id"]):
        return False
    known = dossier_store.columns(db)
    changes = {k: v for k, v in (payload.get("set") or {}).items() if k in known}
    if dossier_store.get(db, code) is None:
        changes["code"] = code
        changes["applicant_fold"] = fold(changes.get("applicant_name") or "")
        dossier_store.insert(db, changes)
    else:
        changes.pop("code", None)
        if "applicant_name" in changes:
            changes["applicant_fold"] = fold(changes["applicant_name"] or "")
        dossier_store.update(db, code, changes)
    user = users_store.get_by_username(db, str(payload.get("actor", "")))
    body = {k: payload[k] for k in ("set", "data", "clock") if k in payload}
    dossier_store.add_event(db, {
        "event_id": record["event_id"], "dossier_code": code,
        "type": str(payload.get("type", "")), "actor_id": user["id"] if user else None,
        "actor": str(payload.get("actor", "")), "actor_role": str(payload.get("role", "")),
        "at": str(payload.get("at") or record["at"]), "payload": body})
    counter = code_counter(code)
    if counter:
        dossier_store.raise_seq(db, *counter)
    return True


def apply_records(db, records: list[dict], stamp: str) -> dict:
    """Put the hub's records back into the outbox (acknowledged) and re-apply dossier events.

    One transaction. A number the node holds with another event means the
    backup is not this node's past: nothing is applied and ``seq_reused`` raised.
    """
    with write_tx(db):
        return _apply_records(db, records, stamp)


def _apply_records(db, records: list[dict], stamp: str) -> dict:
    from edge_node.services.sync import SyncError

    counts = {"events": 0, "dossier_events": 0}
    for record in records:
        held = outbox_store.event_id_at(db, record["seq"])
        if held is not None:
            if held != record["event_id"]:
                raise SyncError("seq_reused", f"event {record['seq']} differs from the hub's")
            continue
        payload = record["payload"]
        if record["kind"] == outbox_store.DOSSIER_EVENT:
            if _apply_dossier_event(db, record):
                counts["dossier_events"] += 1
            if dossier_store.has_event(db, record["event_id"]):
                payload = outbox_store.EVENT_REF  # as the node wrote it: the event is the payload
        elif record["kind"] == audit.KIND and isinstance(payload.get("entry"), dict):
            audit.put_back(db, int(payload["id"]), payload["entry"])
        outbox_store.insert_acked(db, seq=record["seq"], event_id=record["event_id"],
                                  kind=record["kind"], payload=payload, at=record["at"],
                                  acked_at=stamp)
        counts["events"] += 1
    return counts


def recover(db, cfg: Config, *, now_fn, http=requests) -> dict:
    """Ask the hub what it holds of this node and catch up with it (see the module doc).

    :returns: ``{events, dossier_events, hub_seq}``.
    :raises SyncError: offline, refused, or a hub holding other events under our numbers.
    """
    from edge_node.services import sync

    state = sync.enrolled(db)
    if state is None:
        raise sync.SyncError("not_enrolled")
    me = sync.identity(cfg)
    totals = {"events": 0, "dossier_events": 0}
    after = outbox_store.last_seq(db)
    hub = None
    fetched: list[dict] = []
    for _ in range(MAX_ROUNDS):
        records = sync.ask_hub(http, state, me, after=after, limit=None, now=now_fn())
        hub, events = records[0], records[1:]
        if [e.get("seq") for e in events] != list(range(after + 1, after + 1 + len(events))):
            raise sync.SyncError("bad_reply", "recover reply out of order")
        fetched.extend(events)
        if not events or events[-1]["seq"] >= int(hub["acked_seq"]):
            break
        after = events[-1]["seq"]
    hub_seq = int(hub["acked_seq"])
    stamp = to_iso(now_fn())
    with write_tx(db):
        # Entries written since the restore (logins, the restore itself) took ids the hub
        # may hold for entries made after the backup: set them aside, put the hub's back,
        # then chain them again on top with their slots.
        waiting = audit.unslotted(db)
        if waiting:
            db.conn.execute(f"DELETE FROM audit WHERE id IN ({','.join('?' * len(waiting))})",
                            [e["id"] for e in waiting])
        done = _apply_records(db, fetched, stamp)
        for key in totals:
            totals[key] += done[key]
        held = hub.get("acked_event_id")
        if hub_seq and held and outbox_store.event_id_at(db, hub_seq) != held:
            raise sync.SyncError("seq_reused", "the hub's last event is not ours")
        # What the hub holds is acknowledged; sealed batches were chained to a past the
        # hub does not share, so the next push seals afresh from the hub's digest.
        db.conn.execute("UPDATE outbox SET acked_at = ? WHERE seq <= ? AND acked_at IS NULL",
                        (stamp, hub_seq))
        # ...and anything after it is sent (again): never assume the hub has it.
        db.conn.execute("UPDATE outbox SET acked_at = NULL WHERE seq > ?", (hub_seq,))
        db.conn.execute("DELETE FROM sync_batches WHERE acked_at IS NULL")
        settings.put(db, "sync.prev_hash", hub["last_digest"])
        settings.put(db, "sync.acked_seq", hub_seq)
        settings.put(db, "sync.recover", None)
        settings.put(db, "sync.recovered_at", stamp)
        for entry in waiting:
            audit.append(db, at=entry["at"], actor=entry["actor"], action=entry["action"],
                         obj=entry["object"], detail=json.loads(entry["detail"] or "{}"),
                         ip=entry["ip"])
        audit.append(db, at=stamp, actor="system", action="sync.recovered", obj=str(hub_seq),
                     detail=totals)
    return {**totals, "hub_seq": hub_seq}
