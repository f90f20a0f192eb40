"""The node's log: ``{home}/logs/edge-node.log``, rotated by size, never holding secrets."""

from __future__ import annotations

import logging
import re
from logging.handlers import RotatingFileHandler

from edge_node.config import Config

# key=value / key: value pairs and bearer tokens whose value must never reach a log file
_SECRET_RE = re.compile(
    r"(?i)(\b(?:password|passwd|mat_khau|token|secret|csrf_token|code)\b"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;]+)|(\b(?:Bearer|Basic)\s+)([A-Za-z0-9._~+/=-]+)")


def redact(text: str) -> str:
    """Mask the values of password/token/secret/code fields and bearer tokens in *text*."""
    return _SECRET_RE.sub(lambda m: (m.group(1) or m.group(3)) + "***", text)


class RedactingFormatter(logging.Formatter):
    """A formatter that runs :func:`redact` over the whole line (message and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(cfg: Config) -> RotatingFileHandler:
    """Send the root logger to the home's rotating log file; return the handler."""
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(cfg.log_dir / "edge-node.log", maxBytes=cfg.log_max_bytes,
                                  backupCount=cfg.log_backup_count, encoding="utf-8")
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(cfg.log_level.upper())
    root.addHandler(handler)
    return handler
