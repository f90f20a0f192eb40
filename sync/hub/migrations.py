"""Hub schema, for SQLite and PostgreSQL from this one list.

Accounts, sessions and the audit chain are the node's own tables. Statements are written
for SQLite in portable SQL; :func:`sync.hub.db.translate` adapts them for PostgreSQL
(``INTEGER PRIMARY KEY`` → identity, ``INTEGER`` → ``BIGINT``). A statement that must differ
is ``PerDialect(sqlite=..., postgresql=...)``. See docs/hub.md, "Writing a new HubStore method".
"""

from edge_node.store.migrations import M1
from sync.hub.db import PerDialect  # noqa: F401  (for migrations that differ per engine)

_SHARED = [sql for sql in M1 if sql.split("(")[0].split()[-1] in ("users", "sessions", "audit")
           or sql.startswith("CREATE INDEX sessions_user")]

H1 = _SHARED + [
    """CREATE TABLE nodes (
        node_id TEXT PRIMARY KEY,
        commune_code TEXT NOT NULL,
        commune_name TEXT NOT NULL DEFAULT '',
        agency_id TEXT NOT NULL DEFAULT '',
        label TEXT NOT NULL DEFAULT '',
        bundle TEXT NOT NULL,
        enrolled_at TEXT NOT NULL,
        revoked_at TEXT,
        last_seen_at TEXT,
        acked_seq INTEGER NOT NULL DEFAULT 0,
        last_digest TEXT NOT NULL DEFAULT '',
        feed_acked INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX nodes_commune ON nodes(commune_code)",
    """CREATE TABLE enroll_codes (
        code_hash TEXT PRIMARY KEY,
        commune_code TEXT NOT NULL,
        agency_id TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT,
        used_by TEXT
    )""",
    """CREATE TABLE hub_batches (
        node_id TEXT NOT NULL REFERENCES nodes(node_id),
        batch_id TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        digest TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (node_id, batch_id)
    )""",
    """CREATE TABLE hub_events (
        node_id TEXT NOT NULL REFERENCES nodes(node_id),
        seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        payload TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (node_id, seq)
    )""",
    """CREATE TABLE hub_dossiers (
        code TEXT PRIMARY KEY,
        node_id TEXT NOT NULL,
        commune_code TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT '',
        dvcqg_status INTEGER,
        procedure_code TEXT NOT NULL DEFAULT '',
        procedure_name TEXT NOT NULL DEFAULT '',
        applicant_name TEXT NOT NULL DEFAULT '',
        received_at TEXT,
        due_at TEXT,
        completed_at TEXT,
        updated_at TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX hub_dossiers_commune ON hub_dossiers(commune_code, received_at)",
    """CREATE TABLE conflicts (
        id INTEGER PRIMARY KEY,
        node_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        at TEXT NOT NULL
    )""",
    """CREATE TABLE feed (
        node_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (node_id, seq)
    )""",
    """CREATE TABLE hub_catalog (
        version INTEGER PRIMARY KEY,
        label TEXT NOT NULL DEFAULT '',
        procedures INTEGER NOT NULL,
        payload TEXT NOT NULL,
        imported_at TEXT NOT NULL
    )""",
    """CREATE TABLE rejections (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        node_id TEXT NOT NULL DEFAULT '',
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        remote TEXT NOT NULL DEFAULT ''
    )""",
]

H2 = [
    "ALTER TABLE nodes ADD COLUMN reconcile TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE nodes ADD COLUMN reconciled_at TEXT",
    "ALTER TABLE nodes ADD COLUMN clock_skew_seconds INTEGER",
]

# Attachments (issue #6), portable SQL. ``hub_attachments`` holds what nodes announced
# (``attachment.added`` / ``attachment.removed`` events); ``hub_files`` the bytes the hub
# verified and stored by hash. An attachment is present only when both exist.
# ``hub_uploads`` tracks the staging of a transfer in progress (bounded and cleaned).
H4 = [
    """CREATE TABLE hub_attachments (
        node_id TEXT NOT NULL,
        attachment_id TEXT NOT NULL,
        dossier_code TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size BIGINT NOT NULL,
        mime TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        label TEXT NOT NULL DEFAULT '',
        uploaded_at TEXT NOT NULL,
        uploaded_by TEXT NOT NULL DEFAULT '',
        announced_seq INTEGER NOT NULL,
        removed_at TEXT,
        removed_by TEXT NOT NULL DEFAULT '',
        removed_reason TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (node_id, attachment_id)
    )""",
    "CREATE INDEX hub_attachments_dossier ON hub_attachments(dossier_code)",
    "CREATE INDEX hub_attachments_sha ON hub_attachments(node_id, sha256)",
    """CREATE TABLE hub_files (
        sha256 TEXT PRIMARY KEY,
        size BIGINT NOT NULL,
        first_node_id TEXT NOT NULL,
        verified_at TEXT NOT NULL
    )""",
    """CREATE TABLE hub_uploads (
        node_id TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size BIGINT NOT NULL,
        received BIGINT NOT NULL DEFAULT 0,
        chunks INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (node_id, sha256)
    )""",
]

# Security (issue 10): scoped API tokens (same columns as the node's sessions), and which
# population look-ups the hub has answered, so an answer is published exactly once.
H3 = [
    "ALTER TABLE sessions ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read write'",
    "ALTER TABLE sessions ADD COLUMN label TEXT NOT NULL DEFAULT ''",
    """CREATE TABLE hub_population_answers (
        node_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        officer TEXT NOT NULL DEFAULT '',
        found INTEGER NOT NULL,
        answered_at TEXT NOT NULL,
        PRIMARY KEY (node_id, seq)
    )""",
]

# Work from the province (issue 7): integration tokens (only their hash is kept),
# online dossiers received from DVCQG, facts about dossiers, applicant notifications
# to deliver and identity checks answered. Portable SQL (text keys, no rowid).
H5 = [
    """CREATE TABLE hub_api_tokens (
        token_hash TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT,
        last_used_at TEXT
    )""",
    """CREATE TABLE hub_inbound (
        national_code TEXT PRIMARY KEY,
        commune_code TEXT NOT NULL,
        node_id TEXT NOT NULL,
        procedure_code TEXT NOT NULL,
        received_at TEXT NOT NULL,
        received_by TEXT NOT NULL DEFAULT '',
        payload TEXT NOT NULL
    )""",
    """CREATE TABLE hub_facts (
        fact_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        national_code TEXT,
        dossier_code TEXT,
        node_id TEXT,
        status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        payload TEXT NOT NULL,
        received_at TEXT NOT NULL,
        received_by TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX hub_facts_status ON hub_facts(status, received_at)",
    """CREATE TABLE hub_notifications (
        notification_id TEXT PRIMARY KEY,
        node_id TEXT NOT NULL,
        dossier_code TEXT NOT NULL,
        national_code TEXT,
        event TEXT NOT NULL,
        channel TEXT NOT NULL,
        recipient TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'queued',
        attempts INTEGER NOT NULL DEFAULT 0,
        detail TEXT NOT NULL DEFAULT '',
        delivered_at TEXT
    )""",
    "CREATE INDEX hub_notifications_status ON hub_notifications(status, created_at)",
    """CREATE TABLE hub_identity_checks (
        dossier_code TEXT PRIMARY KEY,
        node_id TEXT NOT NULL,
        result TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        checked_at TEXT NOT NULL
    )""",
]

# Follow-up work of applied batches (issue #12): an identity check or a population look-up
# is recorded here in the batch's own transaction (so a hub killed right after the commit
# still does it) and done after the apply; the row is deleted in the transaction that
# records the answer, so each is done once. ``detail``: what the task needs (JSON), when
# it is not read from the event itself. Look-ups already waiting are carried over.
H6 = [
    """CREATE TABLE hub_followups (
        node_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        task TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        queued_at TEXT NOT NULL,
        PRIMARY KEY (node_id, seq)
    )""",
    "INSERT INTO hub_followups (node_id, seq, task, queued_at) SELECT e.node_id, e.seq,"
    " 'population', e.received_at FROM hub_events e WHERE e.kind = 'population.lookup' AND"
    " NOT EXISTS (SELECT 1 FROM hub_population_answers a WHERE a.node_id = e.node_id AND"
    " a.seq = e.seq)",
]

# What the province's administrator must see (docs/hub.md, "Pages"): the facts a commune node
# could not apply (its audit entries ``province.flagged``, projected as they arrive), keyed by
# the entry's hash so a re-enrolled node re-sending its history adds nothing; and indexes
# for listing notifications newest first. Existing archives are projected once here.
H7 = [
    """CREATE TABLE hub_node_flags (
        entry_hash TEXT PRIMARY KEY,
        node_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at TEXT NOT NULL,
        dossier TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX hub_node_flags_at ON hub_node_flags(at)",
    "CREATE INDEX hub_node_flags_node ON hub_node_flags(node_id, at)",
    "CREATE INDEX hub_notifications_created ON hub_notifications(created_at)",
    "CREATE INDEX hub_notifications_node ON hub_notifications(node_id, created_at)",
    """INSERT INTO hub_node_flags (entry_hash, node_id, seq, at, dossier, detail)
       SELECT coalesce(json_extract(payload, '$.entry.hash'), node_id || ':' || seq), node_id,
              seq, coalesce(json_extract(payload, '$.entry.at'), ''),
              coalesce(json_extract(payload, '$.entry.object'), ''),
              coalesce(json_extract(payload, '$.entry.detail'), '{}')
       FROM hub_events WHERE kind = 'audit.entry'
        AND json_extract(payload, '$.entry.action') = 'province.flagged'
       ON CONFLICT (entry_hash) DO NOTHING""",
]

HUB_MIGRATIONS: list[tuple[int, list[str]]] = [(1, H1), (2, H2), (3, H3), (4, H4),
                                              (5, H5), (6, H6), (7, H7)]
