"""The hub's typed option spec (same rules as the node's: defaults < config.toml < env)."""

from __future__ import annotations

from edge_node.config import OPTIONS as NODE_OPTIONS
from edge_node.config import Config, Option, _positive, load_config

HOME_ENV = "SYNC_HUB_HOME"


def _plugin(v: str) -> str | None:
    import re

    if v in ("file", "test") or re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", v):
        return None
    return "must be 'file'/'test' or 'package.module:factory'"


def _population_source(v: str) -> str | None:
    # checked when the config loads: a typo would otherwise fail every push and pull
    scheme, _, arg = v.partition(":")
    if scheme == "file" and "/" not in arg and "\\" not in arg and arg not in (".", ".."):
        return None
    return "must be 'file:NAME' (a JSON file in the hub home)"


DEFAULT_HOME = "hub-home"

def _database_url(v: str) -> str | None:
    from sync.hub.db import is_postgres_url

    return None if not v or is_postgres_url(v) else \
        "must be empty (the home's SQLite file) or a postgresql://user@host:port/db URL"


OPTIONS: tuple[Option, ...] = (
    Option("host", str, "127.0.0.1", "SYNC_HUB_HOST", "Address to listen on."),
    Option("port", int, 8090, "SYNC_HUB_PORT", "TCP port of the hub."),
    Option("threads", int, 8, "SYNC_HUB_THREADS", "Worker threads of the waitress server."),
    Option("hub_id", str, "hub-tinh", "SYNC_HUB_ID",
           "The hub's id in envelopes (letters, digits, . _ : -)."),
    Option("province_name", str, "Tỉnh (bản dùng thử)", "SYNC_HUB_PROVINCE_NAME",
           "Province shown on the hub's pages."),
    Option("enroll_code_hours", int, 72, "SYNC_HUB_ENROLL_CODE_HOURS",
           "How long a one-time enrollment code stays valid.", _positive),
    Option("max_batch_bytes", int, 8 * 1024 * 1024, "SYNC_HUB_MAX_BATCH_BYTES",
           "Largest envelope the hub accepts."),
    # Each pull costs ~1.5 KB of envelope, signature and HTTP whatever it carries: a catch-up
    # after weeks offline brings back one identity answer per dossier, and pages of 50 made
    # the feed a tenth of the wire bytes on a thin link (bench/bench_sync_catchup.py).
    Option("feed_batch_items", int, 500, "SYNC_HUB_FEED_BATCH_ITEMS",
           "Most feed items per envelope sent to a node (a page also stops at 1 MiB of"
           " payload text)."),
    Option("session_idle_minutes", int, 60, "SYNC_HUB_SESSION_IDLE_MINUTES",
           "Minutes of inactivity after which a browser session ends."),
    Option("login_max_failures", int, 5, "SYNC_HUB_LOGIN_MAX_FAILURES",
           "Failed logins in a row that lock an account."),
    Option("lockout_minutes", int, 15, "SYNC_HUB_LOCKOUT_MINUTES",
           "How long an account stays locked after too many failed logins."),
    Option("api_token_hours", int, 12, "SYNC_HUB_API_TOKEN_HOURS", "Lifetime of an API token."),
    Option("log_level", str, "INFO", "SYNC_HUB_LOG_LEVEL", "Logging level."),
    Option("database_url", str, "", "SYNC_HUB_DATABASE_URL",
           "PostgreSQL database of the hub (postgresql://user@host:5432/hub; the password "
           "may come from ~/.pgpass or PGPASSWORD). Empty: the SQLite file hub.db in the "
           "home. Several `sync-hub serve` processes may share one PostgreSQL database.",
           _database_url),
    Option("attachment_max_mb", int, 20, "SYNC_HUB_ATTACHMENT_MAX_MB",
           "Largest attachment the hub takes from a node, in MB.", _positive),
    Option("staging_max_mb", int, 1024, "SYNC_HUB_STAGING_MAX_MB",
           "Room for attachment uploads in progress (all nodes); more is refused until "
           "uploads finish or are cleaned.", _positive),
    Option("staging_keep_days", int, 7, "SYNC_HUB_STAGING_KEEP_DAYS",
           "Uploads untouched this many days are abandoned and their staging removed.",
           _positive),
    *(Option(o.name, o.type, o.default, o.env.replace("EDGE_NODE_", "SYNC_HUB_"),
             o.description, o.check) for o in NODE_OPTIONS
      if o.name in ("login_rate_per_minute", "api_rate_per_minute")),
    Option("population_source", str, "file:population.json", "SYNC_HUB_POPULATION_SOURCE",
           "Where population look-ups are answered from: 'file:NAME' reads a JSON list of "
           "(test) citizens in the hub home; nothing found is answered 'not found'.",
           _population_source),
    Option("notification_sender", str, "file", "SYNC_HUB_NOTIFICATION_SENDER",
           "How applicant notifications leave the hub: 'file' (JSON lines under "
           "<home>/notifications/) or 'package.module:factory' (factory(cfg) returns an object "
           "with send(notification) -> detail, raising on failure).", _plugin),
    Option("notification_max_attempts", int, 5, "SYNC_HUB_NOTIFICATION_MAX_ATTEMPTS",
           "Delivery attempts per notification before it is left for a person.", _positive),
    Option("identity_verifier", str, "test", "SYNC_HUB_IDENTITY_VERIFIER",
           "Who answers identity checks of counter dossiers: 'test' (format + the lists "
           "below) or 'package.module:factory' (factory(cfg) returns an object with "
           "verify(id_number, full_name) -> (result, reason)).", _plugin),
    Option("identity_deny", str, "", "SYNC_HUB_IDENTITY_DENY",
           "Test verifier: ID numbers answered 'rejected' (comma separated)."),
    Option("identity_allow", str, "", "SYNC_HUB_IDENTITY_ALLOW",
           "Test verifier: when set, only these ID numbers are 'verified' (comma separated)."),
    Option("api_token_days", int, 365, "SYNC_HUB_API_TOKEN_DAYS",
           "Default lifetime of an integration token made by 'sync-hub token create'.",
           _positive),
)


def load_hub_config(home=None, overrides=None, environ=None) -> Config:
    """Effective configuration of a hub home (``--home``, env ``SYNC_HUB_HOME``, ./hub-home)."""
    return load_config(home, overrides, environ, options=OPTIONS, home_env=HOME_ENV,
                       default_home=DEFAULT_HOME, name="hub")
