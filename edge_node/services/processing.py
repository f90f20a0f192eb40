"""Actions on a received dossier: one transaction each, with event, audit and outbox."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from edge_node.domain import lifecycle
from edge_node.domain.calendar import WorkCalendar
from edge_node.domain.clock import to_iso
from edge_node.services import province
from edge_node.store import audit, outbox
from edge_node.store import catalog as catalog_store
from edge_node.store import dossiers as dossier_store
from edge_node.store import users as users_store
from edge_node.store.db import write_tx

SYSTEM_ACTOR = {"id": None, "username": "system", "role": "clerk"}


class NotFound(LookupError):
    """No dossier with that code."""


def act(db: sqlite_utils.Database, code: str, action: str, params: dict, *, user: dict,
        now: datetime, calendar: WorkCalendar, ip: str = "") -> dict:
    """Apply *action* to dossier *code* and return the updated dossier.

    The dossier is read inside the write transaction, so two clerks acting at
    once are serialised and the second sees the first's result.

    :raises NotFound: for an unknown code.
    :raises lifecycle.TransitionError: when refused; nothing is written.
    """
    stamp = to_iso(now)
    with write_tx(db):
        dossier = dossier_store.get(db, code)
        if dossier is None:
            raise NotFound(code)
        history = dossier_store.events(db, code)
        procedure = catalog_store.get(db, dossier["procedure_code"]) or {}
        users = {u["username"]: u for u in users_store.list_all(db)}
        decision = lifecycle.decide(dossier, history, action, params, actor=user, now=now,
                                    cal=calendar, procedure=procedure, users=users)
        changes = dict(decision.set)
        if action == "accept" and not dossier.get("steps"):
            changes["steps"] = _online_steps(db, dossier, changes, calendar)
        if "status" in changes:
            changes["dvcqg_status"] = lifecycle.dvcqg_status(changes["status"])
        changes["updated_at"] = stamp
        dossier_store.update(db, code, changes)
        event_id = outbox.new_event_id()
        payload = {"set": changes, "data": decision.data}
        if decision.clock:
            payload["clock"] = decision.clock
        dossier_store.record_event(
            db, event_id=event_id, dossier_code=code, type=action, actor_id=user["id"],
            actor=user["username"], actor_role=user["role"], at=stamp, payload=payload)
        audit.append(db, at=stamp, actor=user["username"], action=f"dossier.{action}", obj=code,
                     detail={"status": changes.get("status", dossier["status"])}, ip=ip)
        # the applicant hears about it through the province (ND 118 art 14); never from here
        province.notify(db, dossier_store.get(db, code), action, decision.data, stamp)
    return dossier_store.get(db, code)


def _online_steps(db, dossier: dict, changes: dict, calendar: WorkCalendar) -> list[dict]:
    """The internal process of a dossier accepted from the "to receive" queue."""
    from edge_node.domain.clock import parse_iso
    from edge_node.services.intake import _steps

    start, due = parse_iso(changes["received_effective_at"]), parse_iso(changes["due_at"])
    return _steps(db, {"code": dossier["procedure_code"]}, start, due,
                  dossier["time_limit_value"], dossier["time_limit_unit"], calendar)


def close_expired(db: sqlite_utils.Database, *, now: datetime, calendar: WorkCalendar) -> list[str]:
    """Close dossiers whose 15-day supplement period ran out (ND 118 art 19.5)."""
    due = [r["code"] for r in db.query(
        "SELECT code FROM dossiers WHERE status = 'CHO_BO_SUNG' AND supplement_close_at <= ?",
        [to_iso(now)])]
    closed = []
    for code in due:
        try:
            act(db, code, "close", {}, user=SYSTEM_ACTOR, now=now, calendar=calendar)
        except lifecycle.TransitionError:
            continue  # a clerk received the supplement in between
        closed.append(code)
    return closed


def projection_matches_events(db: sqlite_utils.Database, code: str) -> bool:
    """True when the stored row equals the fold of the dossier's events."""
    row = dossier_store.get(db, code)
    rebuilt = lifecycle.rebuild(dossier_store.events(db, code))
    row.pop("applicant_fold")
    return rebuilt == row
