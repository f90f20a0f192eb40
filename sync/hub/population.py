"""Where the hub answers population look-ups from: a pluggable source.

The hub config's ``population_source`` names it. ``file:NAME`` (the default,
``file:population.json``) reads a small JSON list of fake citizens from the
hub home, for tests and training; a real connection to the national
population database (through DVCQG or C06) registers another scheme in
:data:`SOURCES` with the same ``lookup(query) -> dict | None`` method. A
look-up that finds nothing is answered "not found"; the hub never sends
more than the one citizen asked for.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge_node.domain.text import fold

CITIZEN_FIELDS = ("full_name", "id_number", "birth_date", "gender", "permanent_address")


class FileSource:
    """Citizens from a JSON file: ``[{full_name, id_number, birth_date, ...}]``."""

    name = "file"

    def __init__(self, path: Path):
        self.path = Path(path)

    def _people(self) -> list[dict]:
        if not self.path.exists():
            return []
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return [p for p in data if isinstance(p, dict)] if isinstance(data, list) else []

    def lookup(self, query: dict) -> dict | None:
        number = str(query.get("id_number") or "").strip()
        for person in self._people():
            if number and str(person.get("id_number", "")) == number:
                name = query.get("full_name")
                if name and fold(str(name)) != fold(str(person.get("full_name", ""))):
                    return None  # the number exists but not with that name: say nothing
                return {k: person.get(k) for k in CITIZEN_FIELDS if k in person}
        return None


SOURCES = {"file": lambda home, arg: FileSource(Path(home) / (arg or "population.json"))}


def load_source(cfg):
    """The source the hub config names (``scheme:argument``)."""
    scheme, _, arg = str(cfg.population_source).partition(":")
    if scheme not in SOURCES:
        raise ValueError(f"unknown population source {scheme!r}")
    return SOURCES[scheme](cfg.home, arg)


def answer(source, record_payload: dict) -> dict:
    """The ``population.answer`` feed item for one ``population.lookup`` record."""
    payload = record_payload if isinstance(record_payload, dict) else {}
    query = payload.get("query") if isinstance(payload.get("query"), dict) else {}
    try:
        citizen = source.lookup(query) if query else None
    except (OSError, ValueError) as exc:
        return {"request_id": str(payload.get("request_id", ""))[:64], "found": False,
                "refused": True, "citizen": None, "note": f"source error: {exc.__class__.__name__}"}
    return {"request_id": str(payload.get("request_id", ""))[:64], "found": citizen is not None,
            "citizen": citizen, "source": getattr(source, "name", "")}


def answer_pending(store, node_id: str, source, now: str) -> int:
    """Answer every look-up of *node_id* the hub holds but has not answered; returns how many."""
    done = 0
    for row in store.unanswered_lookups(node_id):
        item = answer(source, row["payload"])
        officer = str((row["payload"] or {}).get("officer", "")) if isinstance(
            row["payload"], dict) else ""
        if store.answer_lookup(node_id, row["seq"], item["request_id"], officer, item, now):
            done += 1
    return done
