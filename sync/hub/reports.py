"""The province view of the period report: the node's rules over the hub's synced events.

The hub keeps every ``dossier.event`` a node sent, with the same ``{"dossier_code", "type",
"at", "set", …}`` payload as the node's own ``dossier_events``, so folding them with
:mod:`edge_node.domain.reports` gives, for a commune, the very figures its node shows (for
the events the hub has received). The province table is the sum of its communes.

Costs: ``hub_events`` has no index by dossier, so a report reads every dossier event of the
chosen communes' nodes up to the period end (one range scan per node on the primary key,
fields picked out by ``json_extract`` in SQLite) and folds only the dossiers that can matter.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from edge_node.domain import reports
from edge_node.domain.calendar import Override, WorkCalendar, parse_working_hours
from edge_node.domain.clock import to_iso
from edge_node.domain.lifecycle import OPEN_STATES
from sync.hub.store import HubStore

# Each event as the fold's rows want it (domain.reports.ROW_FIELDS); the hub reads the
# intake facts from the acceptance's payload, having no intake columns to lean on.
_PATHS = ", ".join(["'$.dossier_code'", "'$.type'", "'$.set.status'", "'$.set.due_at'"]
                   + [f"'$.set.{k}'" for k in reports.ATTRIBUTES])
_OPEN = ", ".join(f"'{s}'" for s in OPEN_STATES)
# The projection's updated_at is when the hub applied the event (after it happened on the
# node); a day of margin covers a node clock running ahead of the hub's.
SKEW_MARGIN = timedelta(days=1)


def _fields_sql(dialect: str) -> str:
    """The event fields as one JSON array text (SQLite's multi-path json_extract)."""
    if dialect == "sqlite":
        return f"json_extract(payload, {_PATHS})"
    paths = [p.strip().strip("'")[2:].split(".") for p in _PATHS.split(", ")]
    return ("json_build_array(" + ", ".join(
        "payload::json #> '{" + ",".join(p) + "}'" for p in paths) + ")::text")


class UnknownCommune(LookupError):
    """No node is enrolled for that commune code."""


def communes(store: HubStore) -> list[dict]:
    """Communes with at least one enrolled node: ``{code, name, node_ids}``, by code."""
    out: dict[str, dict] = {}
    for n in store.nodes():
        c = out.setdefault(n["commune_code"], {"code": n["commune_code"],
                                               "name": n["commune_name"], "node_ids": []})
        c["node_ids"].append(n["node_id"])
    return [out[k] for k in sorted(out)]


def calendar_for(store: HubStore, node_ids: list[str] | None) -> WorkCalendar:
    """The working calendar as the nodes have it: the province's feed (overrides, working
    hours), then, for one commune, the overrides its own node recorded and synced.

    Working hours set only in a node's ``config.toml`` never reach the hub; such a node's
    average processing time may then differ slightly from the hub's.
    """
    overrides: dict[date, Override | None] = {}
    hours = None
    for kind, text in store.db.conn.execute(
            "SELECT kind, payload FROM feed WHERE kind IN ('calendar.override', 'working_hours')"
            " ORDER BY created_at, seq"):
        payload = json.loads(text)
        if kind == "working_hours":
            hours = payload.get("text") or hours
        else:
            day = date.fromisoformat(payload["date"])
            overrides[day] = (None if payload.get("working") is None else
                              Override(day, bool(payload["working"]), payload.get("note", "")))
    if node_ids:
        marks = ", ".join("?" for _ in node_ids)
        for kind, text in store.db.conn.execute(
                "SELECT kind, payload FROM hub_events WHERE node_id IN (" + marks + ") AND kind"
                " IN ('calendar.override_set', 'calendar.override_removed') ORDER BY at, seq",
                node_ids):
            payload = json.loads(text)
            day = date.fromisoformat(payload["date"])
            overrides[day] = (Override(day, bool(payload.get("working")),
                                       payload.get("note", ""))
                              if kind == "calendar.override_set" else None)
    kept = [o for o in overrides.values() if o is not None]
    return WorkCalendar(kept, parse_working_hours(hours)) if hours else WorkCalendar(kept)


def load_facts(store: HubStore, period: reports.Period, node_ids: list[str]
               ) -> list[reports.DossierFacts]:
    """Every dossier of these nodes the period may involve, folded up to its end."""
    if not node_ids:
        return []
    t0, t1 = to_iso(period.start_at), to_iso(period.end_at)
    marks = ", ".join("?" for _ in node_ids)
    owners = {code: node for code, node in store.db.conn.execute(
        f"SELECT code, node_id FROM hub_dossiers WHERE node_id IN ({marks})"
        " AND received_at < ? AND (received_at >= ? OR updated_at >= ?"
        f" OR status IN ({_OPEN}))",
        [*node_ids, t1, t0, to_iso(period.start_at - SKEW_MARGIN)])}
    grouped: dict[str, list[tuple]] = {}
    rows = store.db.conn.execute(
        f"SELECT node_id, seq, at, {_fields_sql(store.dialect)} FROM hub_events"
        f" WHERE node_id IN ({marks}) AND kind = 'dossier.event' AND at < ?",
        [*node_ids, t1])
    for node_id, seq, at, fields in rows:
        code, etype, status, due, *intake = json.loads(fields)
        if owners.get(code) != node_id or etype in reports.IRRELEVANT_EVENT_TYPES:
            continue  # outside the period, a second owner's event, or of no use here
        grouped.setdefault(code, []).append((code, seq, etype, at, status, due, *intake))
    facts = []
    for events in grouped.values():
        events.sort()
        fact = reports.fold_rows(events, t1)
        if fact is not None:
            facts.append(fact)
    return facts


def province_report(store: HubStore, period: reports.Period, *, now: datetime,
                    commune: str = "", charts: bool = False) -> dict:
    """One commune's report (``commune`` given), or the province's with a ``by_commune`` list
    (same columns; the rows add up to the province's total).

    :raises UnknownCommune: for a commune without an enrolled node.
    """
    known = communes(store)
    if commune:
        chosen = [c for c in known if c["code"] == commune]
        if not chosen:
            raise UnknownCommune(commune)
        c = chosen[0]
        facts = load_facts(store, period, c["node_ids"])
        report = reports.period_report(facts, period, now=now,
                                       cal=calendar_for(store, c["node_ids"]))
        report["commune"] = {"code": c["code"], "name": c["name"]}
    else:
        per_commune = [(c, load_facts(store, period, c["node_ids"])) for c in known]
        facts = [f for _, fs in per_commune for f in fs]
        cal = calendar_for(store, None)
        report = reports.period_report(facts, period, now=now, cal=cal)
        report["commune"] = None
        report["by_commune"] = []
        for c, fs in per_commune:
            one = reports.period_report(fs, period, now=now, cal=cal)
            report["by_commune"].append({
                "commune_code": c["code"], "commune_name": c["name"],
                **{g: one[g] for g, _, _ in reports.GROUPS}})
    if charts:
        report["charts"] = reports.chart_series(facts, period, now=now)
    return report
