"""Work that comes from the province, on the hub.

* Integration tokens (``sync-hub token create``): only their SHA-256 is stored.
* :func:`submit_dossier`: an online dossier as DVCQG forwards it, checked against
  the hub's communes, nodes and catalog, then routed into the commune node's feed
  as ``dossier.inbound``.
* :func:`submit_fact`: withdrawal / adjustment requests, online payments and
  identity results, routed as ``dossier.fact`` to the node that owns the dossier;
  a fact no node owns is kept as ``flagged`` with its reason, for a person.
* :func:`after_batch`: what a node's applied batch asks of the province:
  deliver the applicant notifications it carries (pluggable sender, report back
  as ``notification.status``) and verify the identities of counter dossiers
  (pluggable verifier, answered as a ``dossier.fact`` of kind identity).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import secrets
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from edge_node.domain import province as rules
from edge_node.domain import validation as v
from edge_node.domain.clock import to_iso
from sync.hub.service import HubError, commune_name
from sync.hub.store import HubStore

log = logging.getLogger(__name__)
TOKEN_PREFIX = "hubtok_"
FOLLOWUP_CHUNK = 500  # identity checks answered per transaction


class Refused(HubError):
    """A refused inbound request, with the reason for each bad field."""

    def __init__(self, code: str, message: str, status: int = 400, fields: dict | None = None):
        super().__init__(code, message, status)
        self.fields = fields or {}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def create_token(store: HubStore, label: str, *, now: datetime, days: int) -> tuple[str, str]:
    """Make an integration token; returns ``(token, expires_at)``. Shown once, kept hashed."""
    label = label.strip()[:100]
    if not label:
        raise HubError("bad_label", "a token needs a label saying who uses it")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = to_iso(now + timedelta(days=days))
    store.add_api_token(token_hash(token), label, to_iso(now), expires)
    return token, expires


def check_token(store: HubStore, token: str, now: datetime) -> dict | None:
    """The live integration token row for *token*, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = store.api_token(token_hash(token))
    if row is None or row["revoked_at"] or (row["expires_at"] and row["expires_at"] <= to_iso(
            now)):
        return None
    store.touch_api_token(row["token_hash"], to_iso(now))
    return row


# -- inbound dossiers ------------------------------------------------------------------

def _catalog_code(store: HubStore, ma_tthc: str) -> dict | None:
    """The catalog procedure for a DVCQG procedure code (or a local variant of it, such as
    ``1.001193.000.00.00.H18`` for ``1.001193``)."""
    catalog = store.latest_catalog() or {}
    procedures = {p.get("code"): p for p in catalog.get("procedures", [])}
    if ma_tthc in procedures:
        return procedures[ma_tthc]
    base = ".".join(ma_tthc.split(".")[:2])
    return procedures.get(base)


def dossier_key(code: str) -> str:
    """A dossier code as the hub stores and matches it: stripped, upper case.

    DVCQG's ``MaHoSo`` is ``{mã định danh cơ quan}-{date}-{number}`` and every agency
    identifier is upper case (``000.00.06.H56``, ``G22.99``), as are the nodes' own codes
    (``edge_node.domain.codes``): ``g22.99-…`` can only be ``G22.99-…`` typed by hand or
    lower-cased by an adapter, so it must reach the same dossier, not be flagged unknown.
    """
    return code.strip().upper()


def _refused(exc: rules.InboundError) -> Refused:
    return Refused(exc.code, "; ".join(f"{k}: {m}" for k, m in exc.errors.items()),
                   400, exc.errors)


def submit_dossier(store: HubStore, body: object, *, now: datetime, by: str = "") -> dict:
    """Check and route an online dossier; returns ``{MaHoSo, commune_code, node_id}``.

    :raises Refused: 400 bad fields, 422 unknown commune / no node / unknown
        procedure, 409 a ``MaHoSo`` already received.
    """
    try:
        clean = rules.parse_inbound(body, now=now)
    except rules.InboundError as exc:
        raise _refused(exc) from None
    clean["MaHoSo"] = dossier_key(clean["MaHoSo"])
    commune = clean["commune_code"]
    try:
        name = commune_name(commune)
    except HubError:
        raise Refused("unknown_commune", f"{commune} is not a 2025 commune code", 422,
                      {"commune_code": "unknown commune"}) from None
    node = store.live_node(commune)
    if node is None:
        raise Refused("unknown_commune", f"no node is enrolled for {name} ({commune})", 422,
                      {"commune_code": "no enrolled node"})
    procedure = _catalog_code(store, clean["MaTTHC"])
    if procedure is None:
        why = ("not in the hub's catalog" if store.latest_catalog()
               else "the hub has no catalog yet (sync-hub catalog import)")
        raise Refused("unknown_procedure", f"procedure {clean['MaTTHC']}: {why}", 422,
                      {"MaTTHC": why})
    if store.inbound(clean["MaHoSo"]) is not None:
        raise Refused("duplicate", f"dossier {clean['MaHoSo']} was already received", 409,
                      {"MaHoSo": "already received"})
    stamp = to_iso(now)
    dossier = {**clean, "MaTTHC": procedure["code"], "MaTTHC_goc": clean["MaTTHC"]}
    feed = {"dossier": dossier, "received_at": stamp, "agency_id": node["agency_id"]}
    row = {"national_code": clean["MaHoSo"], "commune_code": commune,
           "node_id": node["node_id"], "procedure_code": procedure["code"],
           "received_at": stamp, "received_by": by[:100],
           "payload": json.dumps(dossier, ensure_ascii=False, sort_keys=True)}
    if not store.add_inbound(row, feed, stamp):
        raise Refused("duplicate", f"dossier {clean['MaHoSo']} was already received", 409,
                      {"MaHoSo": "already received"})
    return {"MaHoSo": clean["MaHoSo"], "commune_code": commune, "commune_name": name,
            "node_id": node["node_id"], "received_at": stamp}


def _owner(store: HubStore, fact: dict) -> dict | None:
    """The live node of the commune that holds the dossier a fact names."""
    commune = None
    if fact.get("MaHoSo"):
        row = store.inbound(fact["MaHoSo"])
        commune = row["commune_code"] if row else None
        if commune is None:
            held = store.dossier(fact["MaHoSo"])
            commune = held["commune_code"] if held else None
    if commune is None and fact.get("dossier_code"):
        held = store.dossier(fact["dossier_code"])
        commune = held["commune_code"] if held else None
    return store.live_node(commune) if commune else None


def submit_fact(store: HubStore, body: object, *, now: datetime, by: str = "") -> dict:
    """Check a fact and route it to the dossier's node, or keep it flagged for a person.

    Returns ``{fact_id, status: routed|flagged, node_id, reason}``.
    :raises Refused: 400 for bad fields.
    """
    try:
        fact = rules.parse_fact(body)
    except rules.InboundError as exc:
        raise _refused(exc) from None
    for key in ("MaHoSo", "dossier_code"):
        if fact.get(key):
            fact[key] = dossier_key(fact[key])
    node = _owner(store, fact)
    reason = "" if node else ("no commune node holds this dossier (unknown MaHoSo / "
                              "dossier_code): kept for a person")
    row = {"fact_id": str(uuid.uuid4()), "kind": fact["kind"],
           "national_code": fact.get("MaHoSo"), "dossier_code": fact.get("dossier_code"),
           "node_id": node["node_id"] if node else None,
           "status": "routed" if node else "flagged", "reason": reason,
           "payload": json.dumps(fact, ensure_ascii=False, sort_keys=True),
           "received_at": to_iso(now), "received_by": by[:100]}
    store.add_fact(row, to_iso(now))
    return {"fact_id": row["fact_id"], "status": row["status"], "node_id": row["node_id"],
            "reason": reason}


# -- plug-ins: notification senders and identity verifiers -------------------------------

class FileSender:
    """Default sender: one JSON line per notification in ``<home>/notifications/``."""

    def __init__(self, cfg):
        self.folder = Path(cfg.home) / "notifications"

    def send(self, notification: dict) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{notification['channel']}.jsonl"
        line = json.dumps({k: notification[k] for k in (
            "notification_id", "channel", "recipient", "text", "dossier_code",
            "national_code", "event")}, ensure_ascii=False)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        return f"written to {path.name}"


class TestVerifier:
    """Default verifier: CCCD format, then a configurable deny / allow list."""

    __test__ = False  # not a pytest class

    def __init__(self, cfg):
        self.deny = {x.strip() for x in (cfg.identity_deny or "").split(",") if x.strip()}
        self.allow = {x.strip() for x in (cfg.identity_allow or "").split(",") if x.strip()}

    def verify(self, id_number: str, full_name: str) -> tuple[str, str]:
        try:
            v.id_number(id_number)
        except v.FieldError as exc:
            return "rejected", exc.message
        if id_number in self.deny:
            return "rejected", "Số định danh nằm trong danh sách không hợp lệ"
        if self.allow and id_number not in self.allow:
            return "rejected", "Không tìm thấy số định danh"
        return "verified", "Đã đối chiếu với hệ thống định danh (bộ kiểm tra thử nghiệm)"


def _plugin(spec: str, default, cfg):
    if spec in ("file", "test"):
        return default(cfg)
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)(cfg)


def sender(cfg):
    return _plugin(cfg.notification_sender, FileSender, cfg)


def verifier(cfg):
    return _plugin(cfg.identity_verifier, TestVerifier, cfg)


def deliver(store: HubStore, cfg, now: datetime) -> tuple[int, int]:
    """Send queued notifications; report each outcome to its node. Returns (sent, failed)."""
    out = sender(cfg)
    sent = failed = 0
    for row in store.notifications_to_send(cfg.notification_max_attempts):
        try:
            detail = str(out.send(dict(row)) or "sent")
            status = "sent"
            sent += 1
        except Exception as exc:  # a sender's failure must not stop the others
            log.warning("notification %s not delivered: %s", row["notification_id"], exc)
            detail, status = f"{exc.__class__.__name__}: {exc}", "failed"
            failed += 1
        store.notification_done(row["notification_id"], status, detail, to_iso(now))
    return sent, failed


def hook(cfg):
    """The ``after_apply`` callback of :func:`sync.hub.service.push` for this hub."""
    return lambda store, node_id, records, now: after_batch(store, cfg, node_id, records, now)


def pull_hook(cfg):
    """The ``follow_up`` callback of :func:`sync.hub.service.pull`: a node about to read
    its feed first gets the identity answers still queued for it (after a crash, or a
    verifier that failed the last time)."""
    return lambda store, node_id, now: check_identities(store, cfg, node_id, now)


def catch_up(store: HubStore, cfg, now: datetime) -> tuple[int, int]:
    """Do the follow-ups still queued (identity checks, population look-ups), queue any
    archived notification not queued yet, then deliver; returns (sent, failed)."""
    from sync.hub import population

    source = None
    # Each piece of follow-up work on its own: one that raises (a population source that
    # cannot be loaded, a busy database) stays queued for the next run and never keeps
    # applicants' notifications, or the other nodes' work, from being done.
    for node_id in store.followup_nodes():
        try:
            check_identities(store, cfg, node_id, now)
        except Exception:
            log.exception("identity checks of node %s failed (left queued)", node_id)
        try:
            source = source or population.load_source(cfg)
            population.answer_pending(store, node_id, source, to_iso(now))
        except Exception:
            log.exception("population look-ups of node %s failed (left queued)", node_id)
    for node_id, payload in store.archived_notifications():
        if isinstance(payload, dict) and payload.get("notification_id"):
            store.queue_notification(node_id, payload)
    return deliver(store, cfg, now)


def check_identities(store: HubStore, cfg, node_id: str, now: datetime) -> int:
    """Answer the identity checks queued for *node_id*; returns how many facts were sent.

    The batch that carried the dossier queued the check in its own transaction; here the
    verifier runs outside any transaction (it may be a remote service), then all answers
    are recorded together. A check the verifier fails on stays queued for the next try.
    """
    sent = 0
    while True:
        queued = store.identity_followups(node_id, FOLLOWUP_CHUNK)
        if not queued:
            return sent
        done = store.checked_identities([code for _, code, _, _ in queued])
        check, answers, failed = None, [], 0
        for seq, code, id_number, name in queued:
            if code in done:
                answers.append((seq, None, "", ""))  # nothing (more) to ask
                continue
            try:
                check = check or verifier(cfg)
                result, reason = check.verify(id_number, name)
            except Exception:  # left queued: the next push, pull or `sync-hub deliver` retries
                if not failed:
                    log.exception("identity check of %s failed (left queued)", code)
                failed += 1
                continue
            done.add(code)
            answers.append((seq, code, result, reason))
        sent += store.finish_identity_checks(node_id, answers, to_iso(now))
        if failed or len(queued) < FOLLOWUP_CHUNK:
            return sent


def after_batch(store: HubStore, cfg, node_id: str, records: list[dict],
                now: datetime) -> None:
    """Act on what an applied batch asks of the province: the identity checks it queued
    (see :func:`check_identities`), then the notifications it queued are delivered.

    *records* is the applied batch; what to do was recorded with it, in the same
    transaction (``hub_followups``, ``hub_notifications``), so work a crash interrupted
    here is still done later.
    """
    check_identities(store, cfg, node_id, now)
    deliver(store, cfg, now)
