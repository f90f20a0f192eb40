"""The hub's storage behind one interface, on SQLite (a file) or PostgreSQL (a URL).

Every method that changes state runs in one transaction (:meth:`HubStore.tx`), so a
batch is applied whole or not at all, and its ``(node_id, seq)`` rows are unique:
applying the same events twice is impossible by construction. On SQLite the transaction
is ``BEGIN IMMEDIATE`` (one writer at a time); on PostgreSQL several hub processes write
at once, and :meth:`HubStore.lock` serialises what must be (one node's batches, the
enrollments, the catalog numbers). Dialect differences live in :mod:`sync.hub.db`;
docs/hub.md says how to write a new method.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlite_utils

from edge_node.domain.clock import now_utc, parse_iso, to_iso
from edge_node.domain.codes import DOSSIER_CODE_RE
from edge_node.store.db import connect, open_db, schema_version, write_tx
from sync.hub import db as hubdb
from sync.hub.migrations import HUB_MIGRATIONS
from sync.protocol import GENESIS_HASH

ONE_OWNER_KINDS = ("dossier.event",)
ATTACHMENT_KINDS = ("attachment.added", "attachment.removed")
_ATTACHMENT_MIMES = ("application/pdf", "image/jpeg", "image/png")
_SCALAR = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALAR)
_TIME_FIELDS = ("received_at", "due_at", "completed_at", "returned_at", "updated_at")


def _event_problem(payload, agency_id: str, others: frozenset = frozenset()) -> str | None:
    """Why a dossier event cannot be shown to the province, or None."""
    if not isinstance(payload, dict):
        return "bad_event"
    changes = payload.get("set", {})
    if not isinstance(changes, dict):
        return "bad_event"
    code = payload.get("dossier_code")
    if not isinstance(code, str) or len(code) > 64 or not code:
        return "bad_event"
    issued = DOSSIER_CODE_RE.match(code)
    if not (issued or code.startswith("PN-")):
        return "bad_event"
    if issued:
        prefix = code.rsplit("-", 2)[0]
        if prefix != agency_id and prefix in others:
            return "foreign_code"  # another node's agency: codes are not ours to issue
    # Runs over every key of every event: one pass in C over the value types first (decoded
    # JSON holds exact types), then only the lists are looked into.
    types = set(map(type, changes.values()))
    if not _SCALAR_TYPES.issuperset(types):
        lists_only = types <= _SCALAR_TYPES | {list}
        for value in changes.values():
            if lists_only and type(value) is not list:
                continue
            if not isinstance(value, _SCALAR) and not (
                    isinstance(value, list) and all(isinstance(v, _SCALAR + (dict,))
                                                    for v in value)):
                return "bad_event"
    for key in _TIME_FIELDS:
        value = changes.get(key)
        if value is not None:
            try:
                parse_iso(str(value))
            except ValueError:
                return "bad_event"
    return None


#: A clock skew within this many seconds of the stored one is not written again.
SKEW_TOLERANCE_SECONDS = 5


def _followup_task(kind, payload) -> str | None:
    """What an applied record asks of the province after the apply, or None.

    ``notification``: queued for delivery (in ``hub_notifications``); ``identity``: a counter
    dossier whose applicant's identity the province checks; ``population``: a look-up.
    """
    if not isinstance(payload, dict):
        return None
    if kind == "dossier.event":
        changes = payload.get("set")
        if (isinstance(changes, dict) and changes.get("identity_status") == "chua_xac_thuc"
                and changes.get("id_number") and isinstance(payload.get("dossier_code"), str)):
            return "identity"
    elif kind == "notification":
        return "notification" if payload.get("notification_id") else None
    elif kind == "population.lookup":
        return "population"
    return None


_QUEUE_NOTIFICATION = (
    "INSERT INTO hub_notifications (notification_id, node_id, dossier_code, national_code,"
    " event, channel, recipient, text, created_at) VALUES (?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (notification_id) DO NOTHING")


def _notification_row(node_id: str, payload: dict) -> tuple:
    return (str(payload["notification_id"])[:64], node_id,
            str(payload.get("dossier_code", ""))[:64], payload.get("national_code"),
            str(payload.get("event", ""))[:40], str(payload.get("channel", ""))[:10],
            str(payload.get("recipient", ""))[:254], str(payload.get("text", ""))[:2000],
            str(payload.get("created_at", ""))[:40])


_DOSSIER_COLUMNS = ("status", "dvcqg_status", "procedure_code", "procedure_name",
                    "applicant_name", "received_at", "due_at", "completed_at")
_NOT_NULL_COLUMNS = frozenset(("status", "procedure_code", "procedure_name", "applicant_name"))


def _dossier_fields(data: dict) -> dict:
    """The projection's columns from a dossier's merged snapshot."""
    out = {}
    for k in _DOSSIER_COLUMNS:
        v = data.get(k)
        out[k] = v if v is not None else ("" if k in _NOT_NULL_COLUMNS else None)
    return out


@dataclass
class ApplyResult:
    status: str  # "applied" | "duplicate" | "gap" | "chain_broken" | "seq_reused"
    acked_seq: int
    last_digest: str = GENESIS_HASH
    resend_from: int | None = None
    applied: int = 0
    conflicts: int = 0


def sqlite_migrations() -> list[tuple[int, list[str]]]:
    """The hub's migrations with each statement in its SQLite form."""
    return [(n, hubdb.statements_for(stmts, hubdb.SQLITE)) for n, stmts in HUB_MIGRATIONS]


def open_store(cfg, *, migrate: bool = True) -> HubStore:
    """The store of a hub config: ``database_url`` when set, else the home's SQLite file."""
    return HubStore(cfg.database_url or cfg.db_path, migrate=migrate,
                    pool_size=cfg.threads + 2)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


class ProvinceStore:
    """Hub SQL for work from the province (issue 7), in portable SQL.

    Mixed into :class:`HubStore` below so the existing methods stay untouched.
    """

    db: sqlite_utils.Database

    # -- integration tokens --------------------------------------------------------------

    def add_api_token(self, token_hash: str, label: str, now: str, expires_at: str | None
                      ) -> None:
        with write_tx(self.db):
            self.db.conn.execute("INSERT INTO hub_api_tokens (token_hash, label, created_at,"
                                 " expires_at) VALUES (?,?,?,?)",
                                 (token_hash, label, now, expires_at))

    def api_token(self, token_hash: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM hub_api_tokens WHERE token_hash = ?",
                                  [token_hash]))
        return rows[0] if rows else None

    def api_tokens(self) -> list[dict]:
        return list(self.db.query("SELECT * FROM hub_api_tokens ORDER BY created_at"))

    def revoke_api_token(self, prefix: str, now: str) -> int:
        with write_tx(self.db):
            return self.db.conn.execute(
                "UPDATE hub_api_tokens SET revoked_at = ? WHERE token_hash LIKE ? AND"
                " revoked_at IS NULL", (now, prefix + "%")).rowcount

    def touch_api_token(self, token_hash: str, now: str) -> None:
        with write_tx(self.db):
            self.db.conn.execute("UPDATE hub_api_tokens SET last_used_at = ? WHERE"
                                 " token_hash = ?", (now, token_hash))

    # -- inbound dossiers and facts --------------------------------------------------------

    def live_node(self, commune_code: str) -> dict | None:
        """The commune's node that receives its feed (the latest live enrollment)."""
        rows = list(self.db.query("SELECT * FROM nodes WHERE commune_code = ? AND revoked_at"
                                  " IS NULL ORDER BY enrolled_at DESC", [commune_code]))
        return rows[0] if rows else None

    def inbound(self, national_code: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM hub_inbound WHERE national_code = ?",
                                  [national_code]))
        return rows[0] if rows else None

    def inbound_all(self) -> dict[str, dict]:
        return {r["national_code"]: {**r, "payload": json.loads(r["payload"])}
                for r in self.db.query("SELECT * FROM hub_inbound")}

    def add_inbound(self, row: dict, feed_payload: dict, now: str) -> bool:
        """Record an online dossier and put it in its node's feed; False if already held."""
        with write_tx(self.db):
            cur = self.db.conn.execute(
                "INSERT INTO hub_inbound (national_code, commune_code, node_id, procedure_code,"
                " received_at, received_by, payload) VALUES (:national_code, :commune_code,"
                " :node_id, :procedure_code, :received_at, :received_by, :payload)"
                " ON CONFLICT (national_code) DO NOTHING", row)
            if cur.rowcount != 1:
                return False
            self._publish("dossier.inbound", feed_payload, now, [row["node_id"]])
            return True

    def add_fact(self, row: dict, now: str) -> None:
        """Record a fact; a routed one goes into its node's feed in the same transaction."""
        with write_tx(self.db):
            self.db.conn.execute(
                "INSERT INTO hub_facts (fact_id, kind, national_code, dossier_code, node_id,"
                " status, reason, payload, received_at, received_by) VALUES (:fact_id, :kind,"
                " :national_code, :dossier_code, :node_id, :status, :reason, :payload,"
                " :received_at, :received_by)", row)
            if row["status"] == "routed":
                self._publish("dossier.fact", json.loads(row["payload"]), now,
                              [row["node_id"]])

    def facts(self, status: str = "") -> list[dict]:
        sql, params = "SELECT * FROM hub_facts", []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        return [{**r, "payload": json.loads(r["payload"])}
                for r in self.db.query(sql + " ORDER BY received_at DESC LIMIT 500", params)]

    def flags_page(self, node_id: str = "", limit: int = 50, offset: int = 0
                   ) -> tuple[int, list[dict]]:
        """Facts the province sent that nothing applied, newest first: ``(total, rows)``.

        Two sources: facts the hub kept because no node holds the dossier (``node_id`` "",
        ``code`` ``no_node``) and facts a node could not apply (its ``province.flagged``
        audit entries: wrong amount, after a decision, unknown dossier…). With *node_id*,
        that node's only. Rows: ``{at, node_id, dossier, kind, code, reason, known}``
        (``known``: the hub holds a dossier of that code).
        """
        hub_part = ("SELECT received_at AS at, '' AS node_id, coalesce(national_code,"
                    " dossier_code, '') AS dossier, kind, reason, '' AS detail, fact_id AS k"
                    " FROM hub_facts WHERE status = 'flagged'")
        node_part = ("SELECT at, node_id, dossier, '' AS kind, '' AS reason, detail,"
                     " entry_hash AS k FROM hub_node_flags")
        if node_id:
            union, params = node_part + " WHERE node_id = ?", [node_id]
            total = self.execute("SELECT count(*) FROM hub_node_flags WHERE node_id = ?",
                                 (node_id,)).fetchone()[0]
        else:
            union, params = f"{hub_part} UNION ALL {node_part}", []
            total = self.execute(
                "SELECT (SELECT count(*) FROM hub_facts WHERE status = 'flagged') +"
                " (SELECT count(*) FROM hub_node_flags)").fetchone()[0]
        rows = self.query(
            "SELECT f.at, f.node_id, f.dossier, f.kind, f.reason, f.detail, CASE WHEN d.code"
            f" IS NULL THEN 0 ELSE 1 END AS known FROM ({union}) f LEFT JOIN hub_dossiers d"
            " ON d.code = f.dossier ORDER BY f.at DESC, f.k LIMIT ? OFFSET ?",
            [*params, limit, offset])
        out = []
        for r in rows:
            if r["node_id"]:  # the node's own words, from its audit entry
                try:
                    detail = json.loads(r["detail"])
                except ValueError:
                    detail = {}
                detail = detail if isinstance(detail, dict) else {}
                kind, code = str(detail.get("kind", "")), str(detail.get("code", ""))
                reason = str(detail.get("reason", ""))
            else:
                kind, code, reason = r["kind"], "no_node", r["reason"]
            out.append({"at": r["at"], "node_id": r["node_id"], "dossier": r["dossier"],
                        "kind": kind, "code": code, "reason": reason,
                        "known": bool(r["known"])})
        return int(total), out

    def _note_flag(self, node_id: str, seq: int, payload) -> None:
        """Keep a node's ``province.flagged`` audit entry where the province's page finds it
        (part of the batch's transaction)."""
        entry = payload.get("entry") if isinstance(payload, dict) else None
        if not isinstance(entry, dict) or entry.get("action") != "province.flagged":
            return
        self.execute(
            "INSERT INTO hub_node_flags (entry_hash, node_id, seq, at, dossier, detail)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (entry_hash) DO NOTHING",
            (str(entry.get("hash") or f"{node_id}:{seq}")[:64], node_id, seq,
             str(entry.get("at") or "")[:40], str(entry.get("object") or "")[:64],
             str(entry.get("detail") or "{}")[:4000]))

    # -- notifications -------------------------------------------------------------------

    def queue_notification(self, node_id: str, payload: dict) -> None:
        with write_tx(self.db):
            self.db.conn.execute(_QUEUE_NOTIFICATION, _notification_row(node_id, payload))

    def archived_notifications(self):
        for r in self.db.query("SELECT node_id, payload FROM hub_events WHERE"
                               " kind = 'notification' ORDER BY node_id, seq"):
            yield r["node_id"], json.loads(r["payload"])

    def notifications_to_send(self, max_attempts: int, limit: int = 200) -> list[dict]:
        return list(self.db.query(
            "SELECT * FROM hub_notifications WHERE status IN ('queued', 'failed') AND"
            " attempts < ? ORDER BY created_at LIMIT ?", [max_attempts, limit]))

    def notifications(self, dossier_code: str = "") -> list[dict]:
        sql, params = "SELECT * FROM hub_notifications", []
        if dossier_code:
            sql += " WHERE dossier_code = ?"
            params.append(dossier_code)
        return list(self.db.query(sql + " ORDER BY created_at", params))

    def notifications_page(self, node_id: str = "", status: str = "", limit: int = 50,
                           offset: int = 0) -> tuple[int, list[dict]]:
        """Applicant notifications newest first, optionally of one node / one delivery
        status: ``(total, rows)``; each row says whether the hub holds its dossier."""
        clauses, params = [], []
        if node_id:
            clauses.append("n.node_id = ?")
            params.append(node_id)
        if status:
            clauses.append("n.status = ?")
            params.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        total = self.execute(f"SELECT count(*) FROM hub_notifications n{where}",
                             params).fetchone()[0]
        rows = self.query(
            "SELECT n.*, CASE WHEN d.code IS NULL THEN 0 ELSE 1 END AS known FROM"
            f" hub_notifications n LEFT JOIN hub_dossiers d ON d.code = n.dossier_code{where}"
            " ORDER BY n.created_at DESC, n.notification_id LIMIT ? OFFSET ?",
            [*params, limit, offset])
        return int(total), [{**r, "known": bool(r["known"])} for r in rows]

    def notification_done(self, notification_id: str, status: str, detail: str, now: str
                          ) -> None:
        """Record one delivery attempt and report it to the node's feed, together."""
        with write_tx(self.db):
            row = self.db.conn.execute("SELECT node_id FROM hub_notifications WHERE"
                                       " notification_id = ?", (notification_id,)).fetchone()
            self.db.conn.execute(
                "UPDATE hub_notifications SET status = ?, attempts = attempts + 1, detail = ?,"
                " delivered_at = ? WHERE notification_id = ?",
                (status, detail[:500], now if status == "sent" else None, notification_id))
            self._publish("notification.status", {"notification_id": notification_id,
                                                  "status": status, "at": now,
                                                  "detail": detail[:500]}, now, [row[0]])

    # -- follow-up work of applied batches (identity checks, population look-ups) ---------

    def followups(self, node_id: str, task: str, limit: int = 500) -> list[dict]:
        """Queued follow-ups of one node and *task*, oldest first: ``{seq, payload}``."""
        return [{"seq": r[0], "payload": json.loads(r[1])} for r in self.db.conn.execute(
            "SELECT f.seq, e.payload FROM hub_followups f JOIN hub_events e ON e.node_id ="
            " f.node_id AND e.seq = f.seq WHERE f.node_id = ? AND f.task = ? ORDER BY f.seq"
            " LIMIT ?", (node_id, task, limit)).fetchall()]

    def identity_followups(self, node_id: str, limit: int = 500) -> list[tuple]:
        """Queued identity checks of one node, oldest first: ``(seq, dossier_code, id_number,
        applicant_name)``."""
        return [(r[0], *json.loads(r[1])) for r in self.db.conn.execute(
            "SELECT seq, detail FROM hub_followups WHERE node_id = ? AND task = 'identity'"
            " ORDER BY seq LIMIT ?", (node_id, limit)).fetchall()]

    def followup_nodes(self) -> list[str]:
        """Nodes with follow-up work still queued."""
        return [r[0] for r in self.db.conn.execute(
            "SELECT DISTINCT node_id FROM hub_followups ORDER BY node_id")]

    def checked_identities(self, dossier_codes: list[str]) -> set[str]:
        """Which of *dossier_codes* the hub has already checked (one query: pass a few hundred)."""
        if not dossier_codes:
            return set()
        marks = ",".join("?" * len(dossier_codes))
        return {r[0] for r in self.db.conn.execute(
            f"SELECT dossier_code FROM hub_identity_checks WHERE dossier_code IN ({marks})",
            tuple(dossier_codes))}

    def finish_identity_checks(self, node_id: str, answers: list[tuple], now: str) -> int:
        """Record verifier answers ``(seq, dossier_code, result, reason)`` in one transaction.

        Each ends its queued follow-up; a dossier's first answer is kept and sent to the
        node as a fact, later ones (the same dossier again) only end theirs. An answer
        whose follow-up another process already ended is dropped. ``dossier_code`` None
        ends the follow-up without an answer. Returns how many facts were sent.
        """
        def run() -> int:
            sent = 0
            with self.tx():
                for seq, code, result, reason in answers:
                    if self.db.conn.execute(
                            "DELETE FROM hub_followups WHERE node_id = ? AND seq = ?",
                            (node_id, seq)).rowcount != 1 or code is None:
                        continue
                    if self.db.conn.execute(
                            "INSERT INTO hub_identity_checks (dossier_code, node_id, result,"
                            " reason, checked_at) VALUES (?,?,?,?,?)"
                            " ON CONFLICT (dossier_code) DO NOTHING",
                            (code, node_id, result, reason, now)).rowcount == 1:
                        self._publish("dossier.fact", {
                            "kind": "identity", "dossier_code": code, "result": result,
                            "reason": reason}, now, [node_id])
                        sent += 1
            return sent
        return self._retrying(run)

    # -- DVCQG export --------------------------------------------------------------------

    def dossier_rows(self, since: str = "") -> list[dict]:
        sql, params = "SELECT * FROM hub_dossiers", []
        if since:
            sql += " WHERE updated_at >= ?"
            params.append(since)
        return [{**r, "data": json.loads(r["data"])}
                for r in self.db.query(sql + " ORDER BY code", params)]

    def dossier_event_rows(self) -> list[dict]:
        return [{**r, "payload": json.loads(r["payload"])} for r in self.db.query(
            "SELECT node_id, seq, at, payload FROM hub_events WHERE kind = 'dossier.event'"
            " ORDER BY node_id, seq")]


class HubStore(ProvinceStore):
    """Nodes, enrollment codes, applied events, dossier projection and per-node feeds."""

    def __init__(self, target, *, migrate: bool = True, pool_size: int = 10):
        """Open the hub database: a SQLite file path, or a ``postgresql://`` URL.

        :param migrate: bring the schema up to date first (the web app does it once at
            start, then opens one store per request without it).
        :param pool_size: most PostgreSQL connections this process keeps.
        """
        self.db: sqlite_utils.Database | hubdb.PgDatabase
        if hubdb.is_postgres_url(target):
            self.dialect = hubdb.POSTGRESQL
            self.db = hubdb.PgDatabase(target, pool_size)
            if migrate:
                hubdb.pg_migrate(self.db, HUB_MIGRATIONS, to_iso(now_utc()))
        else:
            self.dialect = hubdb.SQLITE
            self.db = (open_db(target, sqlite_migrations()) if migrate else connect(target))

    def close(self) -> None:
        self.db.conn.close()

    # -- the adapter every method uses (portable SQL with ? placeholders) ----------------

    def execute(self, sql: str, params=()):
        """Run one statement; returns a cursor (``fetchone``, ``fetchall``, ``rowcount``)."""
        return self.db.conn.execute(sql, params)

    def query(self, sql: str, params=()) -> list[dict]:
        """Rows of a query as dicts."""
        return list(self.db.query(sql, params))

    @contextmanager
    def tx(self) -> Iterator[HubStore]:
        """One write transaction: ``BEGIN IMMEDIATE`` on SQLite, READ COMMITTED on
        PostgreSQL (take :meth:`lock` first for anything read-then-written)."""
        if self.dialect == hubdb.SQLITE:
            with write_tx(self.db):
                yield self
        else:
            with hubdb.pg_tx(self.db):
                yield self

    def lock(self, key: str) -> None:
        """Serialise transactions on *key* until commit (e.g. ``"node:03325-1"``).

        A no-op on SQLite, whose write transaction already excludes every other writer;
        a transaction-scoped advisory lock on PostgreSQL.
        """
        if self.dialect == hubdb.POSTGRESQL:
            self.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (key,))

    def _retrying(self, fn, attempts: int = 5):
        """Run ``fn()`` (one whole transaction) again when PostgreSQL picked it as a
        deadlock victim or refused it for a serialisation conflict."""
        if self.dialect == hubdb.SQLITE:
            return fn()
        from psycopg import errors

        for attempt in range(attempts):
            try:
                return fn()
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))

    def schema_version(self) -> int:
        if self.dialect == hubdb.SQLITE:
            return schema_version(self.db)
        return hubdb.pg_schema_version(self.db)

    def health(self) -> dict:
        """``{backend, reachable, schema_version, expected_version}`` for ``/healthz``."""
        out = {"backend": self.dialect, "reachable": False, "schema_version": None,
               "expected_version": HUB_MIGRATIONS[-1][0]}
        self.execute("SELECT count(*) FROM nodes").fetchone()
        out["reachable"] = True
        out["schema_version"] = self.schema_version()
        return out

    # -- nodes and enrollment ------------------------------------------------------------

    def node(self, node_id: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM nodes WHERE node_id = ?", [node_id]))
        return rows[0] if rows else None

    def nodes(self, commune_code: str = "") -> list[dict]:
        sql = ("SELECT n.*, (SELECT count(*) FROM hub_dossiers d WHERE d.node_id = n.node_id)"
               " AS dossiers FROM nodes n")
        params = []
        if commune_code:
            sql += " WHERE commune_code = ?"
            params.append(commune_code)
        return list(self.db.query(sql + " ORDER BY commune_code, enrolled_at, node_id",
                                  params))

    def add_enroll_code(self, code: str, commune_code: str, agency_id: str, created_at: str,
                        expires_at: str) -> None:
        with self.tx():
            self.db.conn.execute(
                "INSERT INTO enroll_codes (code_hash, commune_code, agency_id, created_at,"
                " expires_at) VALUES (?,?,?,?,?)",
                (code_hash(code), commune_code, agency_id, created_at, expires_at))

    def enroll(self, code: str, now: str, make_node) -> dict:
        """Use a one-time code and create the node ``make_node(code_row)`` returns."""
        with self.tx():
            # one enrollment at a time: a code is used once, node numbers never collide
            self.lock("enroll")
            rows = list(self.db.query("SELECT * FROM enroll_codes WHERE code_hash = ?",
                                      [code_hash(code)]))
            if not rows:
                raise LookupError("unknown_code")
            row = rows[0]
            if row["used_at"]:
                raise LookupError("code_used")
            if row["expires_at"] <= now:
                raise LookupError("code_expired")
            node = make_node(row)
            cols = ", ".join(node)
            self.db.conn.execute(f"INSERT INTO nodes ({cols}) VALUES "
                                 f"({', '.join(':' + k for k in node)})", node)
            self.db.conn.execute("UPDATE enroll_codes SET used_at = ?, used_by = ?"
                                 " WHERE code_hash = ?", (now, node["node_id"], row["code_hash"]))
            return node

    def count_nodes(self, commune_code: str) -> int:
        return self.db.conn.execute("SELECT count(*) FROM nodes WHERE commune_code = ?",
                                    (commune_code,)).fetchone()[0]

    def revoke(self, node_id: str, now: str) -> bool:
        with self.tx():
            cur = self.db.conn.execute(
                "UPDATE nodes SET revoked_at = ? WHERE node_id = ? AND revoked_at IS NULL",
                (now, node_id))
            return cur.rowcount == 1

    def seen(self, node_id: str, now: str, error: str = "") -> None:
        with self.tx():
            self.db.conn.execute("UPDATE nodes SET last_seen_at = ?, last_error = ?"
                                 " WHERE node_id = ?", (now, error, node_id))

    def log_rejection(self, now: str, node_id: str, code: str, message: str, remote: str) -> None:
        with self.tx():
            self.db.conn.execute(
                "INSERT INTO rejections (at, node_id, code, message, remote) VALUES (?,?,?,?,?)",
                (now, node_id[:64], code, message[:500], remote[:64]))
            if node_id:
                self.db.conn.execute("UPDATE nodes SET last_error = ? WHERE node_id = ?",
                                     (code, node_id))

    def rejections(self, limit: int = 100) -> list[dict]:
        return list(self.db.query("SELECT * FROM rejections ORDER BY id DESC LIMIT ?", [limit]))

    # -- batches -------------------------------------------------------------------------

    def event_id_at(self, node_id: str, seq: int) -> str | None:
        row = self.db.conn.execute("SELECT event_id FROM hub_events WHERE node_id = ? AND"
                                   " seq = ?", (node_id, seq)).fetchone()
        return row[0] if row else None

    def batch_digest(self, node_id: str, batch_id: str) -> str | None:
        row = self.db.conn.execute("SELECT digest FROM hub_batches WHERE node_id = ? AND"
                                   " batch_id = ?", (node_id, batch_id)).fetchone()
        return row[0] if row else None

    def apply_batch(self, node_id: str, header: dict, records: list[dict], digest: str,
                    now: str, payload_texts: list[str | None] | None = None) -> ApplyResult:
        """Apply a verified batch exactly once, in order, in one transaction.

        One node's batches are applied one at a time (a lock on the node, taken before
        its ``acked_seq`` is read); batches of different nodes apply side by side.
        *payload_texts*: each record's payload as JSON text where the envelope had it
        (:func:`sync.protocol.payload_text`), archived as is; None: encoded here.
        """
        return self._retrying(lambda: self._apply_batch(node_id, header, records, digest, now,
                                                        payload_texts))

    def _apply_batch(self, node_id, header, records, digest, now,
                     payload_texts=None) -> ApplyResult:
        with self.tx():
            self.lock(f"node:{node_id}")
            node = self.node(node_id)
            acked = node["acked_seq"]
            chain = node["last_digest"] or GENESIS_HASH
            first, last = header["first_seq"], header["last_seq"]
            if first <= acked:
                # Numbers we already hold: the same events again (a retry), or a node whose
                # database went back in time and reuses numbers for new events. The second
                # must be refused loudly, never acknowledged as a duplicate and lost.
                held = dict(self.db.conn.execute(
                    "SELECT seq, event_id FROM hub_events WHERE node_id = ? AND seq BETWEEN ?"
                    " AND ?",
                    (node_id, first, min(last, acked))).fetchall())
                if any(held.get(r.get("seq")) != str(r.get("event_id", ""))[:64]
                       for r in records if r.get("seq", 0) <= acked):
                    return ApplyResult("seq_reused", acked, last_digest=chain)
                if last <= acked:
                    return ApplyResult("duplicate", acked, last_digest=chain)
            if first != acked + 1:
                return ApplyResult("gap", acked, resend_from=acked + 1, last_digest=chain)
            if header["prev_hash"] != chain:
                return ApplyResult("chain_broken", acked, resend_from=acked + 1,
                                   last_digest=chain)
            applied = conflicts = 0
            rows: list[tuple] = []
            followups: list[tuple] = []
            notifications: list[tuple] = []
            others = self._other_agencies(node)  # once per batch, not once per event
            # dossiers this batch already wrote: later events of the same dossier merge here
            # and are written once at the end (no read, decode and encode per event)
            owned: dict[str, dict] = {}
            dirty: set[str] = set()
            for index, record in enumerate(records):
                seq = record.get("seq")
                kind = str(record.get("kind", ""))[:64]
                payload = record.get("payload", {})
                if kind == "dossier.event" and self._project(
                        node, seq, payload, now, str(record.get("event_id", ""))[:64],
                        others=others, owned=owned, dirty=dirty):
                    # kept in the archive under another kind: reports and the dossier view
                    # never read it, the reconciliation shows the day as different
                    kind = "quarantined"
                    conflicts += 1
                payload_text = payload_texts[index] if payload_texts else None
                if payload_text is None:
                    try:
                        payload_text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
                    except (TypeError, ValueError):
                        payload_text, kind, payload = "{}", "quarantined", None
                rows.append((node_id, seq, str(record.get("event_id", ""))[:64], kind,
                             str(record.get("at", ""))[:40], payload_text, header["batch_id"],
                             now))
                if kind in ATTACHMENT_KINDS:
                    self._note_attachment(node_id, seq, kind, payload)
                elif kind == "audit.entry":
                    self._note_flag(node_id, seq, payload)
                else:
                    task = _followup_task(record.get("kind"), payload)
                    if task == "notification":
                        notifications.append(_notification_row(node_id, payload))
                    elif task == "identity":  # what the verifier needs, not the snapshot
                        changes = payload["set"]
                        followups.append((node_id, seq, task, json.dumps(
                            [payload["dossier_code"], str(changes["id_number"]),
                             str(changes.get("applicant_name") or "")], ensure_ascii=False),
                            now))
                    elif task:
                        followups.append((node_id, seq, task, "", now))
                applied += 1
            if dirty:
                self._write_dossiers(node, [(code, owned[code]) for code in sorted(dirty)],
                                     now)
            # one statement for the batch's events (PostgreSQL pipelines it: one round trip)
            self.db.conn.executemany(
                "INSERT INTO hub_events (node_id, seq, event_id, kind, at, payload, batch_id,"
                " received_at) VALUES (?,?,?,?,?,?,?,?)", rows)
            if followups:  # done after the commit (sync.hub.province), each once
                self.db.conn.executemany("INSERT INTO hub_followups (node_id, seq, task,"
                                         " detail, queued_at) VALUES (?,?,?,?,?)", followups)
            if notifications:  # sent after the commit by sync.hub.province.deliver
                self.db.conn.executemany(_QUEUE_NOTIFICATION, notifications)
            self.db.conn.execute(
                "INSERT INTO hub_batches (node_id, batch_id, first_seq, last_seq, digest,"
                " received_at) VALUES (?,?,?,?,?,?)",
                (node_id, header["batch_id"], first, last, digest, now))
            self.db.conn.execute(
                "UPDATE nodes SET acked_seq = ?, last_digest = ?, last_seen_at = ?,"
                " last_error = '' WHERE node_id = ?", (last, digest, now, node_id))
            return ApplyResult("applied", last, last_digest=digest, applied=applied,
                               conflicts=conflicts)

    def _other_agencies(self, node: dict) -> frozenset:
        """One-stop identifiers of the other communes' nodes (their codes are not ours)."""
        return frozenset(r[0] for r in self.db.conn.execute(
            "SELECT DISTINCT agency_id FROM nodes WHERE agency_id != '' AND commune_code != ?",
            (node["commune_code"],)))

    def _project(self, node: dict, seq: int, payload: dict, now: str, event_id: str = "",
                 others: frozenset | None = None, owned: dict | None = None,
                 dirty: set | None = None) -> int:
        """Fold a dossier event into the hub's view; a second owner is flagged, not merged.

        Malformed events are quarantined (listed for a person, not projected), so one
        bad event from a node never breaks pages or reports for the province.

        With *owned* and *dirty* (one batch's, in its transaction): a dossier this batch
        already wrote is merged in *owned* only and named in *dirty*; the caller writes
        those rows once with :meth:`_write_dossiers` before the commit. The row is this
        node's for the rest of the transaction (the write lock on SQLite, the row lock
        on PostgreSQL), so the result is the same as writing after every event.
        """
        if others is None:
            others = self._other_agencies(node)
        problem = _event_problem(payload, node.get("agency_id") or "", others)
        if problem:
            self._conflict(node["node_id"], seq, problem, {"event_id": event_id}, now)
            return 1
        code = payload["dossier_code"]
        changes = payload.get("set") or {}
        if owned is not None and code in owned:
            owned[code].update(changes)
            dirty.add(code)
            return 0
        row = self.db.conn.execute("SELECT node_id, data FROM hub_dossiers WHERE code = ?",
                                   (code,)).fetchone()
        if row and row[0] != node["node_id"]:
            same_history = self.db.conn.execute(
                "SELECT 1 FROM hub_events e JOIN nodes o ON o.node_id = e.node_id"
                " WHERE e.node_id = ? AND e.event_id = ? AND o.commune_code = ?",
                (row[0], event_id, node["commune_code"])).fetchone()
            if not same_history:
                self._conflict(node["node_id"], seq, "second_owner",
                               {"code": code, "owner": row[0]}, now)
                return 1
            # The commune's node was re-enrolled and re-sent its history: it owns it now.
            self.db.conn.execute("UPDATE hub_dossiers SET node_id = ? WHERE code = ?",
                                 (node["node_id"], code))
        data = json.loads(row[1]) if row else {}
        data.update(changes)
        if not self._upsert_dossier(node, code, data, now):
            # another node's process created this code a moment ago (seen only now)
            self._conflict(node["node_id"], seq, "second_owner", {"code": code}, now)
            return 1
        if owned is not None:
            owned[code] = data
        return 0

    def _upsert_dossier(self, node: dict, code: str, data: dict, now: str) -> bool:
        """Write the projection row; False when another node owns the code."""
        cur = self.db.conn.execute(
            "INSERT INTO hub_dossiers (code, node_id, commune_code, status, dvcqg_status,"
            " procedure_code, procedure_name, applicant_name, received_at, due_at, completed_at,"
            " updated_at, data) VALUES (:code, :node, :commune, :status, :dvcqg_status,"
            " :procedure_code, :procedure_name, :applicant_name, :received_at, :due_at,"
            " :completed_at, :now, :data) ON CONFLICT(code) DO UPDATE SET status=:status,"
            " dvcqg_status=:dvcqg_status, procedure_code=:procedure_code,"
            " procedure_name=:procedure_name, applicant_name=:applicant_name,"
            " received_at=:received_at, due_at=:due_at, completed_at=:completed_at,"
            " updated_at=:now, data=:data WHERE hub_dossiers.node_id = :node",
            {**_dossier_fields(data), "code": code, "node": node["node_id"],
             "commune": node["commune_code"], "now": now,
             "data": json.dumps(data, ensure_ascii=False, sort_keys=True)})
        return cur.rowcount == 1

    def _write_dossiers(self, node: dict, items: list[tuple[str, dict]], now: str) -> None:
        """Rewrite projection rows this transaction already holds for *node* (see _project)."""
        self.db.conn.executemany(
            "UPDATE hub_dossiers SET status = :status, dvcqg_status = :dvcqg_status,"
            " procedure_code = :procedure_code, procedure_name = :procedure_name,"
            " applicant_name = :applicant_name, received_at = :received_at, due_at = :due_at,"
            " completed_at = :completed_at, updated_at = :now, data = :data"
            " WHERE code = :code AND node_id = :node",
            [{**_dossier_fields(data), "code": code, "node": node["node_id"], "now": now,
              "data": json.dumps(data, ensure_ascii=False, sort_keys=True)}
             for code, data in items])

    def _conflict(self, node_id: str, seq: int, kind: str, detail: dict, now: str) -> None:
        self.db.conn.execute(
            "INSERT INTO conflicts (node_id, seq, kind, detail, at) VALUES (?,?,?,?,?)",
            (node_id, seq, kind, json.dumps(detail, ensure_ascii=False), now))

    # -- reads ---------------------------------------------------------------------------

    def dossiers(self, commune_code: str = "", limit: int = 500, offset: int = 0) -> list[dict]:
        sql = "SELECT * FROM hub_dossiers"
        params: list = []
        if commune_code:
            sql += " WHERE commune_code = ?"
            params.append(commune_code)
        # NULLs last on both engines (PostgreSQL would put them first in a DESC order)
        sql += " ORDER BY received_at IS NULL, received_at DESC, code LIMIT ? OFFSET ?"
        return list(self.db.query(sql, [*params, limit, offset]))

    def dossier(self, code: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM hub_dossiers WHERE code = ?", [code]))
        return rows[0] if rows else None

    def dossier_events(self, node_id: str, code: str) -> list[dict]:
        return [{**r, "payload": json.loads(r["payload"])} for r in self.db.query(
            "SELECT * FROM hub_events WHERE node_id = ? AND kind = 'dossier.event'"
            " AND json_extract(payload, '$.dossier_code') = ? ORDER BY seq", [node_id, code])]

    def conflicts(self) -> list[dict]:
        return list(self.db.query("SELECT * FROM conflicts ORDER BY id DESC LIMIT 200"))

    def node_events(self, node_id: str):
        for r in self.db.query("SELECT at, event_id, kind, payload FROM hub_events WHERE"
                               " node_id = ? ORDER BY seq", [node_id]):
            yield r["at"], r["event_id"], r["kind"], json.loads(r["payload"])

    # -- recovery of a node restored from a backup (portable SQL) -------------------------

    def recovery_state(self, node_id: str) -> dict:
        """What the hub holds of a node: last applied seq, its event id and the chain digest."""
        row = self.db.conn.execute(
            "SELECT n.acked_seq, n.last_digest, e.event_id FROM nodes n LEFT JOIN hub_events e"
            " ON e.node_id = n.node_id AND e.seq = n.acked_seq WHERE n.node_id = ?",
            (node_id,)).fetchone()
        return {"acked_seq": row[0], "last_digest": row[1] or GENESIS_HASH,
                "acked_event_id": row[2]}

    def events_after(self, node_id: str, after: int, limit: int) -> list[dict]:
        """The node's own records the hub holds after *after*, in order, as it sent them."""
        return [{"seq": r[0], "event_id": r[1], "kind": r[2], "at": r[3],
                 "payload": json.loads(r[4])} for r in self.db.conn.execute(
            "SELECT seq, event_id, kind, at, payload FROM hub_events WHERE node_id = ?"
            " AND seq > ? ORDER BY seq LIMIT ?", (node_id, after, limit)).fetchall()]

    def save_reconcile(self, node_id: str, result: dict, now: str) -> None:
        with self.tx():
            self.db.conn.execute("UPDATE nodes SET reconcile = ?, reconciled_at = ? WHERE"
                                 " node_id = ?", (json.dumps(result), now, node_id))

    def save_skew(self, node_id: str, seconds: int) -> None:
        # Most pushes find the same skew: skip the write transaction (and its wait for the
        # write lock behind other nodes' batches, and its fsync) unless it moved.
        row = self.db.conn.execute("SELECT clock_skew_seconds FROM nodes WHERE node_id = ?",
                                   (node_id,)).fetchone()
        if row and row[0] is not None and abs(row[0] - seconds) < SKEW_TOLERANCE_SECONDS:
            return
        with self.tx():
            self.db.conn.execute("UPDATE nodes SET clock_skew_seconds = ? WHERE node_id = ?",
                                 (seconds, node_id))

    # -- feed ----------------------------------------------------------------------------

    def publish(self, kind: str, payload: dict, now: str, node_ids: list[str] | None = None
                ) -> int:
        """Append an item to the feed of each node (all live nodes by default)."""
        def run():
            with self.tx():
                return self._publish(kind, payload, now, node_ids)
        return self._retrying(run)

    def _publish(self, kind, payload, now, node_ids) -> int:
        if node_ids is None:
            node_ids = [r[0] for r in self.db.conn.execute(
                "SELECT node_id FROM nodes WHERE revoked_at IS NULL")]
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        # always in the same order, so two publishers never wait on each other in a circle
        for node_id in sorted(node_ids):
            # The next number of this node's feed, race-free without a lock: a concurrent
            # publisher's uncommitted item with the same number makes this insert wait;
            # once it commits we do nothing and take the number after it. So an item
            # never becomes visible after a higher-numbered one was read by the node.
            while self.db.conn.execute(
                    "INSERT INTO feed (node_id, seq, kind, payload, created_at)"
                    " SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ? FROM feed WHERE node_id = ?"
                    " ON CONFLICT (node_id, seq) DO NOTHING",
                    (node_id, kind, text, now, node_id)).rowcount != 1:
                pass
        return len(node_ids)

    def feed_since(self, node_id: str, since: int, limit: int,
                   max_bytes: int | None = None) -> list[dict]:
        """The node's feed items after *since*: at most *limit*, and no more than
        *max_bytes* of payload text once the first item is in (a whole catalog is
        one item and always goes, alone if it must)."""
        items, size = [], 0
        # read whole (as before): leaving the query's generator half-way would keep its
        # savepoint open on this connection
        for r in list(self.db.query("SELECT * FROM feed WHERE node_id = ? AND seq > ?"
                                    " ORDER BY seq LIMIT ?", [node_id, since, limit])):
            size += len(r["payload"])
            if items and max_bytes is not None and size > max_bytes:
                break
            items.append({"seq": r["seq"], "kind": r["kind"],
                          "payload": json.loads(r["payload"]), "created_at": r["created_at"]})
        return items

    def feed_backlog(self, node_id: str, since: int) -> int:
        return self.db.conn.execute("SELECT count(*) FROM feed WHERE node_id = ? AND seq > ?",
                                    (node_id, since)).fetchone()[0]

    def mark_feed_read(self, node_id: str, seq: int) -> None:
        with self.tx():
            self.db.conn.execute("UPDATE nodes SET feed_acked = CASE WHEN feed_acked > ? THEN"
                                 " feed_acked ELSE ? END WHERE node_id = ?",
                                 (seq, seq, node_id))

    def add_catalog(self, label: str, procedures: list[dict], now: str) -> int:
        """Store a catalog version and put it in every live node's feed."""
        return self._retrying(lambda: self._add_catalog(label, procedures, now))

    def _add_catalog(self, label: str, procedures: list[dict], now: str) -> int:
        with self.tx():
            self.lock("hub_catalog")
            version = self.db.conn.execute("SELECT coalesce(max(version), 0) + 1 FROM"
                                           " hub_catalog").fetchone()[0]
            payload = {"format": "edge-node-catalog/1", "version": f"hub-{version}",
                       "label": label, "procedures": procedures}
            self.db.conn.execute("INSERT INTO hub_catalog (version, label, procedures, payload,"
                                 " imported_at) VALUES (?,?,?,?,?)",
                                 (version, label, len(procedures),
                                  json.dumps(payload, ensure_ascii=False), now))
            self._publish("catalog", payload, now, None)
            return version

    def latest_catalog(self) -> dict | None:
        row = self.db.conn.execute("SELECT payload FROM hub_catalog ORDER BY version DESC"
                                   " LIMIT 1").fetchone()
        return json.loads(row[0]) if row else None

    # -- attachments (issue #6; portable SQL for the PostgreSQL port) ----------------------

    def _note_attachment(self, node_id: str, seq: int, kind: str, payload) -> None:
        """Record what a node announced; never marks the bytes present (see hub_files).

        A malformed announcement is only archived (in hub_events), never raised: one bad
        record must not block the batch.
        """
        if not isinstance(payload, dict):
            return
        text = {k: payload.get(k) for k in ("attachment_id", "dossier_code", "sha256")}
        if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in text.values()):
            return
        if kind == "attachment.removed":
            self.db.conn.execute(
                "UPDATE hub_attachments SET removed_at = ?, removed_by = ?, removed_reason = ?"
                " WHERE node_id = ? AND attachment_id = ? AND removed_at IS NULL",
                (str(payload.get("removed_at", ""))[:40], str(payload.get("removed_by", ""))[:64],
                 str(payload.get("reason", ""))[:500], node_id, text["attachment_id"]))
            return
        size = payload.get("size")
        if type(size) is not int or size <= 0 or payload.get("mime") not in _ATTACHMENT_MIMES:
            return
        self.db.conn.execute(
            "INSERT INTO hub_attachments (node_id, attachment_id, dossier_code, sha256, size,"
            " mime, name, label, uploaded_at, uploaded_by, announced_seq) VALUES"
            " (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (node_id, attachment_id) DO NOTHING",
            (node_id, text["attachment_id"], text["dossier_code"], text["sha256"], size,
             payload["mime"], str(payload.get("name", ""))[:200],
             str(payload.get("label", ""))[:300], str(payload.get("uploaded_at", ""))[:40],
             str(payload.get("uploaded_by", ""))[:64], seq))

    def announced_size(self, node_id: str, sha256: str) -> int | None:
        """The size *node_id* announced for a file, or None if it never announced it."""
        row = self.db.conn.execute("SELECT max(size) FROM hub_attachments WHERE node_id = ?"
                                   " AND sha256 = ?", (node_id, sha256)).fetchone()
        return row[0] if row else None

    def hub_file(self, sha256: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM hub_files WHERE sha256 = ?", [sha256]))
        return rows[0] if rows else None

    def upload(self, node_id: str, sha256: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM hub_uploads WHERE node_id = ? AND sha256 = ?",
                                  [node_id, sha256]))
        return rows[0] if rows else None

    def start_upload(self, node_id: str, sha256: str, size: int, now: str) -> None:
        with write_tx(self.db):
            self.db.conn.execute(
                "INSERT INTO hub_uploads (node_id, sha256, size, received, chunks, started_at,"
                " updated_at) VALUES (?,?,?,0,0,?,?) ON CONFLICT (node_id, sha256) DO NOTHING",
                (node_id, sha256, size, now, now))

    def advance_upload(self, node_id: str, sha256: str, received: int, now: str) -> None:
        """Record a chunk written and flushed to staging (called after the fsync)."""
        with write_tx(self.db):
            self.db.conn.execute(
                "UPDATE hub_uploads SET received = ?, chunks = chunks + 1, updated_at = ?"
                " WHERE node_id = ? AND sha256 = ?", (received, now, node_id, sha256))

    def reset_upload(self, node_id: str, sha256: str, received: int, now: str) -> None:
        with write_tx(self.db):
            self.db.conn.execute(
                "UPDATE hub_uploads SET received = ?, updated_at = ? WHERE node_id = ? AND"
                " sha256 = ?", (received, now, node_id, sha256))

    def drop_upload(self, node_id: str, sha256: str) -> None:
        with write_tx(self.db):
            self.db.conn.execute("DELETE FROM hub_uploads WHERE node_id = ? AND sha256 = ?",
                                 (node_id, sha256))

    def finish_upload(self, node_id: str, sha256: str, size: int, now: str) -> None:
        """The verified file is in place: record it and end the upload, in one transaction."""
        with write_tx(self.db):
            self.db.conn.execute(
                "INSERT INTO hub_files (sha256, size, first_node_id, verified_at) VALUES"
                " (?,?,?,?) ON CONFLICT (sha256) DO NOTHING", (sha256, size, node_id, now))
            self.db.conn.execute("DELETE FROM hub_uploads WHERE node_id = ? AND sha256 = ?",
                                 (node_id, sha256))

    def staging_bytes(self) -> int:
        row = self.db.conn.execute("SELECT coalesce(sum(size), 0) FROM hub_uploads").fetchone()
        return int(row[0])

    def stale_uploads(self, before: str) -> list[dict]:
        return list(self.db.query("SELECT * FROM hub_uploads WHERE updated_at < ?", [before]))

    def dossier_attachments(self, code: str) -> list[dict]:
        """A dossier's announced attachments; ``verified_at`` is set once the bytes are in."""
        return list(self.db.query(
            "SELECT a.*, f.verified_at, f.size AS stored_size FROM hub_attachments a"
            " LEFT JOIN hub_files f ON f.sha256 = a.sha256 WHERE a.dossier_code = ?"
            " ORDER BY a.uploaded_at, a.attachment_id", [code]))
    # -- audit chains and population look-ups (issue 10) ---------------------------------

    def audit_slots(self, node_id: str):
        """A node's ``audit.entry`` records in the order they arrived."""
        for (payload,) in self.db.conn.execute(
                "SELECT payload FROM hub_events WHERE node_id = ? AND kind = ? ORDER BY seq",
                (node_id, "audit.entry")):
            yield json.loads(payload)

    def unanswered_lookups(self, node_id: str) -> list[dict]:
        """Population look-ups of a node the hub has not answered yet (queued follow-ups)."""
        return self.followups(node_id, "population")

    def answer_lookup(self, node_id: str, seq: int, request_id: str, officer: str,
                      answer: dict, now: str) -> bool:
        """Record the answer to one look-up and put it in that node's feed, once."""
        with write_tx(self.db):
            self.db.conn.execute("DELETE FROM hub_followups WHERE node_id = ? AND seq = ?",
                                 (node_id, seq))
            cur = self.db.conn.execute(
                "INSERT INTO hub_population_answers (node_id, seq, request_id, officer, found,"
                " answered_at) VALUES (?,?,?,?,?,?) ON CONFLICT (node_id, seq) DO NOTHING",
                (node_id, seq, request_id[:64], officer[:64], int(bool(answer.get("found"))),
                 now))
            if cur.rowcount != 1:
                return False
            self._publish("population.answer", answer, now, [node_id])
            return True

    def population_answers(self, node_id: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM hub_population_answers", []
        if node_id:
            sql, params = sql + " WHERE node_id = ?", [node_id]
        return list(self.db.query(sql + " ORDER BY answered_at, node_id, seq", params))
