"""One typed option spec for the node's configuration.

Every option has a name, a type, a default, an environment variable and a
description. Values come from (lowest to highest priority) the defaults,
``config.toml`` in the home folder, then the environment. This is the only
module that reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOME_ENV = "EDGE_NODE_HOME"
DEFAULT_HOME = "edge-home"
CONFIG_FILE = "config.toml"


@dataclass(frozen=True)
class Option:
    """One configuration option."""

    name: str
    type: type
    default: Any
    env: str
    description: str
    check: Any = None  # value -> error text or None


def _port(v: int) -> str | None:
    return None if 1 <= v <= 65535 else "must be a port from 1 to 65535"


def _positive(v: int) -> str | None:
    return None if v >= 1 else "must be at least 1"


def _not_negative(v: int) -> str | None:
    return None if v >= 0 else "must not be negative"


def _mb(v: int) -> str | None:
    return None if 1 <= v <= 200 else "must be from 1 to 200 (MB)"


def _hours(v: str) -> str | None:
    from edge_node.domain.calendar import parse_working_hours

    try:
        parse_working_hours(v)
    except ValueError as exc:
        return str(exc)
    return None


def _agency(v: str) -> str | None:
    from edge_node.domain.codes import AGENCY_RE

    return None if AGENCY_RE.match(v) else "must look like 000.25.33.H18"


def _hour(v: int) -> str | None:
    return None if 0 <= v <= 23 else "must be an hour from 0 to 23"


def _flag(v: int) -> str | None:
    return None if v in (0, 1) else "must be 1 (on) or 0 (off)"


def _level(v: str) -> str | None:
    return None if v.upper() in ("DEBUG", "INFO", "WARNING", "ERROR") else \
        "must be DEBUG, INFO, WARNING or ERROR"


OPTIONS: tuple[Option, ...] = (
    Option("host", str, "127.0.0.1", "EDGE_NODE_HOST",
           "Address to listen on; 127.0.0.1 keeps the node on this PC only."),
    Option("port", int, 8080, "EDGE_NODE_PORT", "TCP port of the web interface.", _port),
    Option("threads", int, 8, "EDGE_NODE_THREADS", "Worker threads of the waitress server.",
           _positive),
    Option("agency_id", str, "DEM.00.00.Z00", "EDGE_NODE_AGENCY_ID",
           "Electronic identifier of this One-stop (dossier code prefix). The default is a "
           "visibly fake demo value until the province enrolls the node.", _agency),
    Option("office_name", str, "Bộ phận Một cửa xã (bản dùng thử)", "EDGE_NODE_OFFICE_NAME",
           "Name of the One-stop printed on forms."),
    Option("authority_name", str, "ỦY BAN NHÂN DÂN XÃ (bản dùng thử)", "EDGE_NODE_AUTHORITY_NAME",
           "Name of the governing People's Committee printed in form headers."),
    Option("place_name", str, "Xã dùng thử", "EDGE_NODE_PLACE_NAME",
           "Place name used in the date line of forms (e.g. 'Mường Phăng')."),
    Option("working_hours", str, "07:00-11:30,13:30-17:00", "EDGE_NODE_WORKING_HOURS",
           "Working sessions, e.g. '07:00-11:30,13:30-17:00' or seasonal "
           "'04-16..10-15=07:00-11:30,13:30-17:00;10-16..04-15=07:30-12:00,13:30-17:00'.",
           _hours),
    Option("session_idle_minutes", int, 60, "EDGE_NODE_SESSION_IDLE_MINUTES",
           "Minutes of inactivity after which a browser session ends."),
    Option("login_max_failures", int, 5, "EDGE_NODE_LOGIN_MAX_FAILURES",
           "Failed logins in a row that lock an account."),
    Option("lockout_minutes", int, 15, "EDGE_NODE_LOCKOUT_MINUTES",
           "How long an account stays locked after too many failed logins."),
    Option("api_token_hours", int, 12, "EDGE_NODE_API_TOKEN_HOURS",
           "Lifetime of an API token from POST /api/v1/session."),
    Option("login_rate_per_minute", int, 20, "EDGE_NODE_LOGIN_RATE_PER_MINUTE",
           "Login attempts (web and API) allowed per client address in any minute.",
           _positive),
    Option("api_rate_per_minute", int, 600, "EDGE_NODE_API_RATE_PER_MINUTE",
           "Requests allowed per API token in any minute.", _positive),
    Option("log_level", str, "INFO", "EDGE_NODE_LOG_LEVEL", "Logging level.", _level),
    Option("sync_interval_seconds", int, 60, "EDGE_NODE_SYNC_INTERVAL_SECONDS",
           "Seconds between background sync rounds while the link is up (0 turns it off).",
           _not_negative),
    Option("sync_backoff_max_seconds", int, 900, "EDGE_NODE_SYNC_BACKOFF_MAX_SECONDS",
           "Longest wait between attempts after repeated failures."),
    Option("attachment_max_mb", int, 20, "EDGE_NODE_ATTACHMENT_MAX_MB",
           "Largest scanned document (PDF, JPEG, PNG) a clerk may attach, in MB.", _mb),
    Option("backup_enabled", int, 1, "EDGE_NODE_BACKUP_ENABLED",
           "1: the serving node makes a verified backup every day (0 turns it off).", _flag),
    Option("backup_hour", int, 12, "EDGE_NODE_BACKUP_HOUR",
           "Local hour (Asia/Ho_Chi_Minh) from which the daily backup is made; a PC switched "
           "on later makes it as soon as it serves.", _hour),
    Option("backup_dir", str, "", "EDGE_NODE_BACKUP_DIR",
           "Folder for backups (empty: the home's backups/ folder; a relative path is "
           "inside the home). Best on another disk or a USB drive."),
)

class ConfigError(ValueError):
    """A configuration value has the wrong type or an unknown name."""


def _coerce(option: Option, value: Any, source: str) -> Any:
    if option.type is int:
        if isinstance(value, bool) or isinstance(value, float):
            raise ConfigError(f"{option.name} from {source}: expected an integer, got {value!r}")
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{option.name} from {source}: expected an integer, got {value!r}") from None
    elif not isinstance(value, str):
        raise ConfigError(f"{option.name} from {source}: expected text, got {value!r}")
    problem = option.check(value) if option.check else None
    if problem:
        raise ConfigError(f"{option.name} from {source}: {value!r} {problem}")
    return value


@dataclass(frozen=True)
class Config:
    """Effective configuration of one node home."""

    home: Path
    values: dict[str, Any]
    sources: dict[str, str]
    name: str = "edge-node"  # file names in the home: {name}.db, {name}.lock

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def db_path(self) -> Path:
        return self.home / f"{self.name}.db"

    @property
    def lock_path(self) -> Path:
        return self.home / f"{self.name}.lock"

    @property
    def secret_key_path(self) -> Path:
        return self.home / "secret_key"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def backups_path(self) -> Path:
        """Where backups go: ``backup_dir`` when set, else ``{home}/backups``."""
        chosen = self.values.get("backup_dir") or ""
        # a relative folder is taken inside the home, whatever the service's working folder
        return self.home / Path(chosen).expanduser() if chosen else self.home / "backups"


def resolve_home(home: str | os.PathLike | None = None, environ=None, *, home_env: str = HOME_ENV,
                 default_home: str = DEFAULT_HOME) -> Path:
    """Return the home folder: the argument, else ``EDGE_NODE_HOME``, else ``./edge-home``."""
    env = os.environ if environ is None else environ
    chosen = home or env.get(home_env) or default_home
    return Path(chosen).expanduser().resolve()


def load_config(home: str | os.PathLike | None = None, overrides: dict | None = None,
                environ: dict[str, str] | None = None, *, options: tuple[Option, ...] = OPTIONS,
                home_env: str = HOME_ENV, default_home: str = DEFAULT_HOME,
                name: str = "edge-node") -> Config:
    """Load the effective configuration of *home*.

    :param overrides: values given on the command line; they win over everything.
    :param environ: the environment to read (defaults to ``os.environ``).
    :param options: the option spec (the hub passes its own; same rules).
    """
    env = os.environ if environ is None else environ
    home_path = resolve_home(home, env, home_env=home_env, default_home=default_home)
    by_name = {o.name: o for o in options}
    values = {o.name: o.default for o in options}
    sources = {o.name: "default" for o in options}
    cfg_file = home_path / CONFIG_FILE
    if cfg_file.exists():
        try:
            data = tomllib.loads(cfg_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{cfg_file}: not valid TOML ({exc})") from exc
        for key, value in data.items():
            if key not in by_name:
                raise ConfigError(f"{cfg_file}: unknown option {key!r}")
            values[key] = _coerce(by_name[key], value, str(cfg_file))
            sources[key] = str(cfg_file)
    for option in options:
        if option.env in env:
            values[option.name] = _coerce(option, env[option.env], option.env)
            sources[option.name] = f"env {option.env}"
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in by_name:
            raise ConfigError(f"unknown option {key!r}")
        values[key] = _coerce(by_name[key], value, "command line")
        sources[key] = "command line"
    return Config(home=home_path, values=values, sources=sources, name=name)


def render_toml(values: dict[str, Any], options: tuple[Option, ...] = OPTIONS) -> str:
    """Render *values* as a commented ``config.toml``."""
    lines = ["# Configuration. Every option, its value and source: config show", ""]
    for option in options:
        if option.name not in values:
            continue
        value = values[option.name]
        lines.append(f"# {option.description}")
        if option.type is int:
            lines.append(f"{option.name} = {int(value)}")
        else:
            escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{option.name} = "{escaped}"')
        lines.append("")
    return "\n".join(lines)
