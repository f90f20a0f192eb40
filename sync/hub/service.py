"""What the provincial hub does with envelopes: enroll, apply batches, serve feeds.

Transport-free: the Flask app and the USB import both call these functions
with bytes and get bytes back.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import uuid
from datetime import datetime, timedelta

from vietnam_provinces import Ward

from edge_node.domain.clock import to_iso
from edge_node.domain.codes import AGENCY_RE
from sync import protocol
from sync.hub.store import HubStore

NODE_ID_RE = re.compile(r"^[0-9]{5}-[0-9]{1,4}$")
CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY3479"


class HubError(Exception):
    """A refused request: ``code`` is stable, ``status`` the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class _Duplicate(Exception):
    """The very same batch again: answer with the ack, without decrypting or applying."""


# Refusal codes of open_envelope and what HTTP status they answer with.
STATUS_OF = {"too_large": 413, "unknown_sender": 403, "revoked_sender": 403,
             "unknown_key": 403, "bad_signature": 403, "wrong_receiver": 400,
             "batch_conflict": 409}


def commune_name(code: str) -> str:
    """Name of a 2025 commune-level unit, or raise HubError."""
    try:
        return Ward.from_code(int(code)).name
    except (ValueError, TypeError):
        raise HubError("unknown_commune", f"{code!r} is not a 2025 commune code") from None


def new_enroll_code(store: HubStore, *, commune_code: str, agency_id: str, now: datetime,
                    hours: int) -> tuple[str, str]:
    """Create a one-time enrollment code; returns ``(code, expires_at)``."""
    commune_code = commune_code.strip().zfill(5)
    commune_name(commune_code)
    if agency_id and not AGENCY_RE.match(agency_id):
        raise HubError("bad_agency_id", f"{agency_id!r} is not an agency identifier")
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    code = "-".join(raw[i:i + 4] for i in range(0, 12, 4))
    expires = to_iso(now + timedelta(hours=hours))
    store.add_enroll_code(code, commune_code, agency_id, to_iso(now), expires)
    return code, expires


def enroll(store: HubStore, *, hub_id: str, identity: protocol.Identity, body: dict,
           now: datetime) -> dict:
    """Exchange keys with a node that presents a valid one-time code.

    Every enrollment is a new node identity linked to its commune: a node
    re-installed on the same PC never silently takes over the old one.
    """
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        raise HubError("bad_request", "body must be JSON {code, node_bundle, label}")
    try:
        keys = protocol.PeerKeys.from_bundle(body.get("node_bundle") or {})
    except (ValueError, TypeError, KeyError):
        raise HubError("bad_bundle", "node_bundle is not a valid public key bundle") from None
    label = str(body.get("label") or "")[:100]
    stamp = to_iso(now)

    def make_node(code_row: dict) -> dict:
        number = store.count_nodes(code_row["commune_code"]) + 1
        return {"node_id": f"{code_row['commune_code']}-{number}",
                "commune_code": code_row["commune_code"],
                "commune_name": commune_name(code_row["commune_code"]),
                "agency_id": code_row["agency_id"], "label": label,
                "bundle": json.dumps(keys.to_bundle()), "enrolled_at": stamp}

    try:
        node = store.enroll(body["code"], stamp, make_node)
    except LookupError as exc:
        reason = str(exc.args[0])
        messages = {"unknown_code": "unknown enrollment code", "code_used": "code already used",
                    "code_expired": "code expired"}
        raise HubError(reason, messages.get(reason, reason), 403) from None
    catalog = store.latest_catalog()
    if catalog:
        store.publish("catalog", catalog, stamp, [node["node_id"]])
    return {"node_id": node["node_id"], "hub_id": hub_id,
            "hub_bundle": protocol.public_bundle(identity),
            "commune_code": node["commune_code"], "commune_name": node["commune_name"],
            "agency_id": node["agency_id"], "protocol_version": protocol.PROTOCOL_VERSION}


def _peer(store: HubStore):
    def lookup(sender_id: str) -> protocol.PeerKeys | None:
        node = store.node(sender_id)
        if node is None:
            return None
        return protocol.PeerKeys.from_bundle(json.loads(node["bundle"]),
                                             revoked=node["revoked_at"] is not None)
    return lookup


def _reply(store, identity, hub_id, node_id, kind, records, first, last, now,
           prev_hash: str = protocol.GENESIS_HASH) -> bytes:
    node = store.node(node_id)
    keys = protocol.PeerKeys.from_bundle(json.loads(node["bundle"]))
    return protocol.seal(records, sender=identity, receiver=keys, sender_id=hub_id,
                         receiver_id=node_id, batch_id=uuid.uuid4().hex, first_seq=first,
                         last_seq=last, prev_hash=prev_hash,
                         created_at=now.isoformat(), kind=kind)


def _claimed_sender(data: bytes) -> str:
    """The sender an unverified envelope claims, for the log only (never trusted)."""
    try:
        size = int.from_bytes(data[8:12], "big")
        if data[:8] != protocol.MAGIC or size > protocol.MAX_HEADER_BYTES:
            return ""
        sender = json.loads(data[12:12 + size]).get("sender", "")
        return f"?{sender}"[:64] if isinstance(sender, str) and sender else ""
    except (ValueError, AttributeError):
        return ""


def _open(store, identity, hub_id, data, max_bytes, remote, now, before=None):
    header = {}
    try:
        def hook(h):
            header.update(h)
            if before:
                before(h)
        return protocol.open_envelope(data, receiver=identity, receiver_id=hub_id,
                                      expected_sender=_peer(store), max_bytes=max_bytes,
                                      before_decrypt=hook)
    except protocol.ProtocolError as exc:
        sender = header.get("sender") or _claimed_sender(data)
        store.log_rejection(to_iso(now), sender, exc.code, exc.message, remote)
        raise HubError(exc.code, exc.message, STATUS_OF.get(exc.code, 400)) from None


def push(store: HubStore, *, hub_id: str, identity: protocol.Identity, data: bytes,
         now: datetime, max_bytes: int, remote: str = "", after_apply=None) -> bytes:
    """Verify, apply once and acknowledge a batch; returns the sealed ack.

    *after_apply(store, node_id, records, now)* runs once after a batch is applied
    (the province's follow-up work: notifications, identity checks); its failure is
    logged and never costs the node its acknowledgement.
    """
    digest = protocol.envelope_digest(data)

    def check(header: dict) -> None:
        if header["kind"] != protocol.KIND_BATCH:
            raise protocol.ProtocolError("wrong_kind", f"expected a batch, got {header['kind']}")
        known = store.batch_digest(header["sender"], header["batch_id"])
        if known is not None and known != digest:
            raise protocol.ProtocolError(
                "batch_conflict", "same batch id, different content: refused and flagged")
        if known == digest:
            raise _Duplicate(header["sender"])

    try:
        opened = _open(store, identity, hub_id, data, max_bytes, remote, now, check)
    except _Duplicate as dup:
        node = store.node(str(dup.args[0]))
        ack = {"status": "duplicate", "acked_seq": node["acked_seq"],
               "acked_event_id": store.event_id_at(node["node_id"], node["acked_seq"]),
               "last_digest": node["last_digest"] or protocol.GENESIS_HASH,
               "hub_time": to_iso(now)}
        store.seen(node["node_id"], to_iso(now))
        return _reply(store, identity, hub_id, node["node_id"], protocol.KIND_ACK, [ack],
                      node["acked_seq"], node["acked_seq"], now)
    header, records = opened.header, opened.records
    seqs = [r.get("seq") for r in records]
    if seqs != list(range(header["first_seq"], header["last_seq"] + 1)):
        store.log_rejection(to_iso(now), header["sender"], "bad_sequence",
                            "records do not carry the header's sequence numbers", remote)
        raise HubError("bad_sequence", "records do not carry the header's sequence numbers")
    try:
        sent = datetime.fromisoformat(header["created_at"])
        store.save_skew(header["sender"], int((sent - now).total_seconds()))
    except ValueError:
        pass
    result = store.apply_batch(header["sender"], header, records, opened.digest, to_iso(now))
    if result.status == "seq_reused":
        store.log_rejection(to_iso(now), header["sender"], "seq_reused",
                            "sequence numbers reused for other events (node restored from an "
                            "old copy?)", remote)
        raise HubError("seq_reused", "these sequence numbers already hold other events; the "
                       "node's database went back in time: re-enroll it as a new node", 409)
    if after_apply is not None and result.status == "applied":
        try:
            after_apply(store, header["sender"], records, now)
        except Exception:  # the batch is committed; `sync-hub deliver` catches up later
            logging.getLogger(__name__).exception("follow-up of batch %s failed",
                                                  header["batch_id"])
    ack = {"status": result.status, "acked_seq": result.acked_seq,
           "acked_event_id": store.event_id_at(header["sender"], result.acked_seq),
           "last_digest": result.last_digest, "hub_time": to_iso(now),
           "applied": result.applied, "conflicts": result.conflicts}
    if result.resend_from is not None:
        ack["resend_from"] = result.resend_from
    return _reply(store, identity, hub_id, header["sender"], protocol.KIND_ACK, [ack],
                  result.acked_seq, result.acked_seq, now)


def pull(store: HubStore, *, hub_id: str, identity: protocol.Identity, data: bytes,
         now: datetime, limit: int, remote: str = "") -> bytes:
    """Answer a signed pull request ``{since}`` with the node's feed items after it."""
    def check(header: dict) -> None:
        if header["kind"] != "pull":
            raise protocol.ProtocolError("wrong_kind", f"expected a pull, got {header['kind']}")

    opened = _open(store, identity, hub_id, data, 64 * 1024, remote, now, check)
    node_id = opened.header["sender"]
    since = opened.records[0].get("since") if opened.records else None
    if type(since) is not int or since < 0:
        raise HubError("bad_request", "pull needs {since: int >= 0}")
    store.mark_feed_read(node_id, since)
    store.seen(node_id, to_iso(now))
    items = store.feed_since(node_id, since, limit)
    last = items[-1]["seq"] if items else since
    at_cursor = store.feed_since(node_id, since - 1, 1) if since else []
    anchor = (protocol.feed_item_hash(at_cursor[0]) if at_cursor and at_cursor[0]["seq"] == since
              else protocol.GENESIS_HASH)
    return _reply(store, identity, hub_id, node_id, protocol.KIND_FEED, items, since + 1, last,
                  now, prev_hash=anchor)


def import_file(store: HubStore, *, hub_id: str, identity: protocol.Identity, data: bytes,
                now: datetime, max_bytes: int, feed_limit: int,
                after_apply=None) -> tuple[bytes, int]:
    """Apply a node's USB file and return ``(reply file, batches applied)``.

    Every envelope is verified (signature, sender, receiver) before any batch
    is applied, so a damaged or foreign file changes nothing. Batches then go
    through :func:`push` exactly as over HTTP (duplicates are acknowledged, not
    re-applied), and a pull request is answered with the node's feed.
    """
    from sync.files import read_bundle, write_bundle

    try:
        envelopes = read_bundle(data)
    except protocol.ProtocolError as exc:
        raise HubError(exc.code, exc.message) from None
    for env in envelopes:
        try:
            protocol.open_envelope(env, receiver=identity, receiver_id=hub_id,
                                   expected_sender=_peer(store), max_bytes=max_bytes)
        except protocol.ProtocolError as exc:
            store.log_rejection(to_iso(now), "", exc.code, f"file: {exc.message}", "usb")
            raise HubError(exc.code, exc.message, STATUS_OF.get(exc.code, 400)) from None
    replies, applied = [], 0
    for env in envelopes:
        kind = json.loads(env[12:12 + int.from_bytes(env[8:12], "big")])["kind"]
        if kind == protocol.KIND_BATCH:
            replies.append(push(store, hub_id=hub_id, identity=identity, data=env, now=now,
                                max_bytes=max_bytes, remote="usb", after_apply=after_apply))
            applied += 1
        elif kind == "pull":
            replies.append(pull(store, hub_id=hub_id, identity=identity, data=env, now=now,
                                limit=feed_limit, remote="usb"))
    return write_bundle(replies), applied


def reconcile(store: HubStore, *, hub_id: str, identity: protocol.Identity, data: bytes,
              now: datetime, remote: str = "") -> bytes:
    """Compare a node's per-day digests with the hub's; store the result; reply with ours."""
    from sync.reconcile import compare, day_digests

    def check(header: dict) -> None:
        if header["kind"] != "reconcile":
            raise protocol.ProtocolError("wrong_kind", "expected a reconcile request")

    opened = _open(store, identity, hub_id, data, 4 * 1024 * 1024, remote, now, check)
    node_id = opened.header["sender"]
    theirs = {r["date"]: r["digest"] for r in opened.records if isinstance(r, dict)
              and isinstance(r.get("date"), str) and isinstance(r.get("digest"), dict)}
    ours = day_digests(store.node_events(node_id))
    store.save_reconcile(node_id, compare(theirs, ours), to_iso(now))
    records = [{"date": day, "digest": digest} for day, digest in ours.items()]
    return _reply(store, identity, hub_id, node_id, "reconcile", records, 0, 0, now)
