"""Per-day digests both ends compute from the same acknowledged events.

A day is the Vietnam-time date of an event. For each day: how many events
and a hash of their ids in sequence order, and a hash of the states the
dossiers touched that day ended the day in. Equal digests on both sides
prove the province holds exactly what the node sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from edge_node.domain.clock import local, parse_iso


def day_digests(events: Iterable[tuple[str, str, str, dict]]) -> dict[str, dict]:
    """``events``: ``(at, event_id, kind, payload)`` in sequence order."""
    days: dict[str, dict] = {}
    status: dict[str, str] = {}
    touched: dict[str, dict[str, str]] = {}
    for at, event_id, kind, payload in events:
        try:
            day = local(parse_iso(at)).date().isoformat()
        except ValueError:
            day = "unknown"
        entry = days.setdefault(day, {"ids": hashlib.sha256(), "events": 0})
        entry["ids"].update(event_id.encode() + b"\n")
        entry["events"] += 1
        if kind == "dossier.event" and isinstance(payload, dict):
            code = str(payload.get("dossier_code", ""))
            new = (payload.get("set") or {}).get("status")
            if new:
                status[code] = new
            touched.setdefault(day, {})[code] = status.get(code, "")
    out = {}
    for day, entry in sorted(days.items()):
        states = touched.get(day, {})
        text = "\n".join(f"{code}:{state}" for code, state in sorted(states.items()))
        out[day] = {"events": entry["events"], "events_hash": entry["ids"].hexdigest()[:16],
                    "dossiers": len(states),
                    "states_hash": hashlib.sha256(text.encode()).hexdigest()[:16]}
    return out


def compare(node: dict[str, dict], hub: dict[str, dict]) -> dict:
    """``{match, days: [{date, node, hub, match}]}`` over the union of days."""
    days = []
    for day in sorted(set(node) | set(hub)):
        a, b = node.get(day), hub.get(day)
        days.append({"date": day, "node": a, "hub": b, "match": a == b})
    return {"match": all(d["match"] for d in days), "days": days}
