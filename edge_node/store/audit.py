"""Append-only audit log kept as a hash chain, shipped to the province.

Each entry stores the hash of the previous one, so an edited, deleted or
reordered entry breaks the chain at a point :func:`verify_chain` can name.
Entries are written inside the caller's transaction, and on a node each one
also takes an outbox slot (kind ``audit.entry``) in that same transaction,
so the sync sequence stays gap-free. The slot records the entry's id and
hash at writing time; the entry's fields are read into it when its batch is
sealed (:func:`sealed_payload`), so a change made to the table before then
reaches the hub as a broken link, and one made after is caught by the slot's
recorded hash here and by the copy the hub already holds.
"""

from __future__ import annotations

import hashlib
import json

import sqlite_utils

GENESIS = "0" * 64
KIND = "audit.entry"
FIELDS = ("at", "actor", "action", "object", "detail", "ip")


def entry_hash(prev_hash: str, at: str, actor: str, action: str, obj: str, detail: str,
               ip: str) -> str:
    """SHA-256 of one entry's fields chained to the previous entry's hash."""
    body = json.dumps([prev_hash, at, actor, action, obj, detail, ip], ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


_entry_hash = entry_hash  # older name


def _has_outbox(db: sqlite_utils.Database) -> bool:
    # The hub keeps the same audit table but has no outbox: its chain stays home.
    if getattr(db, "dialect", "sqlite") != "sqlite":
        return False  # only the hub runs on PostgreSQL (sync.hub.db.PgDatabase)
    if getattr(db, "_edge_has_outbox", False):
        return True  # asked once per connection: a table, once made, stays
    found = db.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                            " AND name = 'outbox'").fetchone() is not None
    if found:
        db._edge_has_outbox = True
    return found


def append(db: sqlite_utils.Database, *, at: str, actor: str, action: str, obj: str = "",
           detail: dict | None = None, ip: str = "") -> int:
    """Append one audit entry (and its outbox slot); call inside a write transaction."""
    if not db.conn.in_transaction:
        raise RuntimeError("audit.append must run inside a write transaction")
    row = db.conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS
    detail_text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True)
    digest = entry_hash(prev, at, actor, action, obj, detail_text, ip)
    cur = db.conn.execute(
        "INSERT INTO audit (at, actor, action, object, detail, ip, prev_hash, hash)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (at, actor, action, obj, detail_text, ip, prev, digest),
    )
    if _has_outbox(db):
        from edge_node.store import outbox

        try:
            outbox.add(db, kind=KIND, payload={"id": cur.lastrowid, "hash": digest}, at=at)
        except outbox.RecoveryPending:
            # A node restored from a backup must not number anything before the hub has
            # told it what it holds (edge_node.services.recovery); until then the entry
            # waits without its slot and recovery re-chains it on top of the hub's entries.
            pass
    return cur.lastrowid


def unslotted(db: sqlite_utils.Database) -> list[dict]:
    """Entries written while a restored node waited for recovery (no outbox slot yet)."""
    return [dict(r) for r in db.query(
        "SELECT * FROM audit a WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = ?"
        " AND json_extract(o.payload, '$.id') = a.id) ORDER BY id", [KIND])]


def put_back(db: sqlite_utils.Database, entry_id: int, entry: dict) -> bool:
    """Re-insert an entry the hub holds (from its sealed slot) under its own id."""
    if db.conn.execute("SELECT 1 FROM audit WHERE id = ?", (entry_id,)).fetchone():
        return False
    db.conn.execute(
        "INSERT INTO audit (id, at, actor, action, object, detail, ip, prev_hash, hash)"
        " VALUES (?,?,?,?,?,?,?,?,?)", (entry_id, *(entry[f] for f in FIELDS),
                                        entry["prev_hash"], entry["hash"]))
    return True


def sealed_payload(db: sqlite_utils.Database, slot: dict) -> dict:
    """The outbox slot of an entry with the entry as the table holds it now.

    ``entry`` is None when the row is gone (deleted or truncated): the hub
    then names that entry as the first broken link.
    """
    if "entry" in slot:
        return slot  # sealed once already: frozen
    row = db.conn.execute("SELECT at, actor, action, object, detail, ip, prev_hash, hash"
                          " FROM audit WHERE id = ?", (slot.get("id"),)).fetchone()
    entry = dict(zip((*FIELDS, "prev_hash", "hash"), row, strict=True)) if row else None
    return {"id": slot.get("id"), "hash": slot.get("hash"), "entry": entry}


def check_entries(entries) -> tuple[int, int | None, str]:
    """Walk sealed slots in order; returns ``(count, first_broken_id, reason)``.

    Shared by the node and the hub: ids must run 1, 2, 3… without a hole,
    each entry must link to the previous hash, hash to what it says, and
    match the hash recorded when it was written.
    """
    prev, expected, count = GENESIS, 1, 0
    for slot in entries:
        count += 1
        entry_id = slot.get("id")
        entry = slot.get("entry")
        if entry_id != expected:
            return count, expected, "missing" if isinstance(entry_id, int) and \
                entry_id > expected else "reordered"
        if entry is None:
            return count, entry_id, "missing"
        if entry.get("prev_hash") != prev:
            return count, entry_id, "bad_link"
        fields = [entry.get(f) for f in FIELDS]
        if not all(isinstance(v, str) for v in fields) or entry_hash(prev, *fields) != entry.get(
                "hash"):
            return count, entry_id, "edited"
        if slot.get("hash") != entry.get("hash"):
            return count, entry_id, "rewritten"
        prev, expected = entry["hash"], expected + 1
    return count, None, ""


def verify_chain(db: sqlite_utils.Database) -> int | None:
    """Return the id of the first entry whose link is broken, or None if intact.

    Besides the chain itself, every outbox slot must still find its entry
    with the hash it had when written: that catches a truncated tail and a
    chain rewritten from some point on with fresh hashes.
    """
    prev = GENESIS
    first = None
    for row in db.conn.execute(
        "SELECT id, at, actor, action, object, detail, ip, prev_hash, hash FROM audit ORDER BY id"
    ):
        entry_id, at, actor, action, obj, detail, ip, prev_hash, digest = row
        if prev_hash != prev or entry_hash(prev, at, actor, action, obj, detail, ip) != digest:
            first = entry_id
            break
        prev = digest
    if _has_outbox(db):
        # streamed (a node may hold millions of entries): each slot joined to its row
        for slot_id, recorded, held in db.conn.execute(
                "SELECT json_extract(o.payload, '$.id'), json_extract(o.payload, '$.hash'),"
                " a.hash FROM outbox o LEFT JOIN audit a ON a.id = json_extract(o.payload,"
                " '$.id') WHERE o.kind = ? ORDER BY o.seq", (KIND,)):
            if held is None or held != recorded:
                if first is None or (isinstance(slot_id, int) and slot_id < first):
                    first = slot_id
                break
    return first


def recent(db: sqlite_utils.Database, limit: int = 100) -> list[dict]:
    """Return the newest audit entries first."""
    return list(db.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", [limit]))
