"""What the provincial hub does with envelopes: enroll, apply batches, serve feeds.

Transport-free: the Flask app and the USB import both call these functions
with bytes and get bytes back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path

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
    version = body.get("protocol_version", 1)  # nodes from before the field speak version 1
    if type(version) is not int or version not in protocol.SUPPORTED_VERSIONS:
        raise HubError("unsupported_version", protocol.version_problem(
            version if type(version) is int else -1), 400)

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
         now: datetime, max_bytes: int, remote: str = "", population=None,
         after_apply=None) -> bytes:
    """Verify, apply once and acknowledge a batch; returns the sealed ack.

    With a *population* source, look-ups the node sent are answered into its feed.
    *after_apply(store, node_id, records, now)* runs once after a batch is applied
    (the province's follow-up work: notifications, identity checks); its failure is
    logged and never costs the node its acknowledgement. That work is recorded by the
    apply itself, in its transaction, so what a failure or a crash leaves undone is
    done on the node's next push or pull, or by ``sync-hub deliver``.
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
    texts = ([protocol.payload_text(line, r) for line, r in zip(opened.lines, records, strict=True)]
             if len(opened.lines) == len(records) else None)
    result = store.apply_batch(header["sender"], header, records, opened.digest, to_iso(now),
                               payload_texts=texts)
    if result.status == "seq_reused":
        store.log_rejection(to_iso(now), header["sender"], "seq_reused",
                            "sequence numbers reused for other events (node restored from an "
                            "old copy?)", remote)
        raise HubError("seq_reused", "these sequence numbers already hold other events; the "
                       "node's database went back in time: re-enroll it as a new node", 409)
    if population is not None:
        from sync.hub.population import answer_pending

        answer_pending(store, header["sender"], population, to_iso(now))
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


def _expect(kind: str):
    """The header check of a request that must be of one *kind* (for :func:`_open`)."""
    def check(header: dict) -> None:
        if header["kind"] != kind:
            raise protocol.ProtocolError("wrong_kind", f"expected {kind}, got {header['kind']}")
    return check


# A feed page stops growing past this much payload text (JSON, before zlib), so a page of
# processes or overrides stays a few hundred KB on the wire however many items it may hold.
FEED_PAGE_BYTES = 1024 * 1024


def pull(store: HubStore, *, hub_id: str, identity: protocol.Identity, data: bytes,
         now: datetime, limit: int, remote: str = "", population=None,
         follow_up=None) -> bytes:
    """Answer a signed pull request ``{since}`` with the node's feed items after it.

    Follow-up work of the node's batches still queued is done first, so its answers
    are in this reply: population look-ups (with a *population* source) and
    *follow_up(store, node_id, now)* (the identity checks); a failure there is logged
    and the feed is served all the same.
    """
    opened = _open(store, identity, hub_id, data, 64 * 1024, remote, now, _expect("pull"))
    node_id = opened.header["sender"]
    since = opened.records[0].get("since") if opened.records else None
    if type(since) is not int or since < 0:
        raise HubError("bad_request", "pull needs {since: int >= 0}")
    try:
        if population is not None:
            from sync.hub.population import answer_pending

            answer_pending(store, node_id, population, to_iso(now))
        if follow_up is not None:
            follow_up(store, node_id, now)
    except Exception:  # the feed still answers; the work stays queued
        logging.getLogger(__name__).exception("follow-up for %s before its pull failed",
                                              node_id)
    store.mark_feed_read(node_id, since)
    store.seen(node_id, to_iso(now))
    items = store.feed_since(node_id, since, limit, FEED_PAGE_BYTES)
    last = items[-1]["seq"] if items else since
    at_cursor = store.feed_since(node_id, since - 1, 1) if since else []
    anchor = (protocol.feed_item_hash(at_cursor[0]) if at_cursor and at_cursor[0]["seq"] == since
              else protocol.GENESIS_HASH)
    return _reply(store, identity, hub_id, node_id, protocol.KIND_FEED, items, since + 1, last,
                  now, prev_hash=anchor)


def import_file(store: HubStore, *, hub_id: str, identity: protocol.Identity, data: bytes,
                now: datetime, max_bytes: int, feed_limit: int, cfg=None,
                population=None, after_apply=None, follow_up=None) -> tuple[bytes, int]:
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
    replies, applied, states = [], 0, {}
    for env in envelopes:
        kind = json.loads(env[12:12 + int.from_bytes(env[8:12], "big")])["kind"]
        if kind == protocol.KIND_BATCH:
            replies.append(push(store, hub_id=hub_id, identity=identity, data=env, now=now,
                                max_bytes=max_bytes, remote="usb", population=population,
                                after_apply=after_apply))
            applied += 1
        elif kind == KIND_CHUNK and cfg is not None:
            # attachment chunks (after the batches that announce them); one refused chunk
            # is logged and skipped, the rest of the file still applies
            try:
                node_id, state = _chunk_state(store, cfg, identity, env, now, "usb")
            except HubError:
                continue
            states.setdefault(node_id, {})[state["sha256"]] = state
        elif kind == "pull":
            replies.append(pull(store, hub_id=hub_id, identity=identity, data=env, now=now,
                                limit=feed_limit, remote="usb", population=population,
                                follow_up=follow_up))
    for node_id, by_file in states.items():  # one answer per file: where the hub stands
        replies.append(_reply(store, identity, hub_id, node_id, KIND_STATE,
                              list(by_file.values()), 0, 0, now))
    return write_bundle(replies), applied


def reconcile(store: HubStore, *, hub_id: str, identity: protocol.Identity, data: bytes,
              now: datetime, remote: str = "") -> bytes:
    """Compare a node's per-day digests with the hub's; store the result; reply with ours."""
    from sync.reconcile import compare, day_digests

    opened = _open(store, identity, hub_id, data, 4 * 1024 * 1024, remote, now,
                   _expect("reconcile"))
    node_id = opened.header["sender"]
    theirs = {r["date"]: r["digest"] for r in opened.records if isinstance(r, dict)
              and isinstance(r.get("date"), str) and isinstance(r.get("digest"), dict)}
    ours = day_digests(store.node_events(node_id))
    store.save_reconcile(node_id, compare(theirs, ours), to_iso(now))
    records = [{"date": day, "digest": digest} for day, digest in ours.items()]
    return _reply(store, identity, hub_id, node_id, "reconcile", records, 0, 0, now)


# -- attachments: chunked, resumable, verified before they are recorded --------------------

KIND_OFFER, KIND_CHUNK, KIND_STATE = "att_offer", "att_chunk", "att_state"
CHUNK_BYTES = 1024 * 1024  # the node's edge_node.domain.attachments.CHUNK_BYTES
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_B64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
# One transfer step at a time per hub process: a chunk is written, flushed and counted
# before the next one (even a duplicated request) looks at the offset.
_UPLOAD_LOCK = threading.Lock()


def _staging(cfg, node_id: str, sha256: str) -> Path:
    return cfg.home / "staging" / "attachments" / node_id / f"{sha256}.part"


def files_root(cfg) -> Path:
    """Where the hub keeps verified attachment files by hash: ``{home}/attachments``."""
    return cfg.home / "attachments"


def clean_staging(store: HubStore, cfg, now: datetime) -> int:
    """Remove uploads untouched for ``staging_keep_days`` (row and staging file)."""
    before = to_iso(now - timedelta(days=cfg.staging_keep_days))
    stale = store.stale_uploads(before)
    for row in stale:
        _staging(cfg, row["node_id"], row["sha256"]).unlink(missing_ok=True)
        store.drop_upload(row["node_id"], row["sha256"])
    return len(stale)


def _state(sha256: str, status: str, next_offset: int, message: str = "") -> dict:
    out = {"sha256": sha256, "status": status, "next_offset": next_offset}
    if message:
        out["message"] = message
    return out


def _finish(store: HubStore, cfg, node_id: str, sha256: str, size: int, now: datetime,
            remote: str) -> dict:
    """Whole file staged: verify its hash, then store it by hash and record it."""
    from edge_node.store import blobs

    part = _staging(cfg, node_id, sha256)
    if blobs.file_sha256(part) != sha256:
        part.unlink(missing_ok=True)
        store.drop_upload(node_id, sha256)
        store.log_rejection(to_iso(now), node_id, "hash_mismatch",
                            f"attachment {sha256[:16]}…: the bytes do not match the hash; "
                            "staging discarded", remote)
        return _state(sha256, "mismatch", 0, "whole-file sha256 differs; send it again")
    blobs.commit_temp(files_root(cfg), part, sha256)  # the file first, then the row
    store.finish_upload(node_id, sha256, size, to_iso(now))
    return _state(sha256, "complete", size)


def _prepare(store: HubStore, cfg, node_id: str, sha256: str, size, now: datetime,
             remote: str) -> dict:
    """Where the hub stands for this file: complete, unknown, or partial at an offset."""
    from edge_node.store import blobs

    if not isinstance(sha256, str) or not _SHA_RE.match(sha256) or type(size) is not int \
            or size <= 0:
        raise HubError("bad_request", "attachment record needs sha256 (hex) and size > 0")
    if store.hub_file(sha256) is not None and blobs.path_for(files_root(cfg), sha256).exists():
        return _state(sha256, "complete", size)
    announced = store.announced_size(node_id, sha256)
    if announced is None:
        return _state(sha256, "unknown", 0, "no attachment.added event for this file yet")
    if announced != size:
        raise HubError("size_mismatch", "size differs from the announced one")
    if size > cfg.attachment_max_mb * 1024 * 1024:
        raise HubError("too_large", f"attachment over {cfg.attachment_max_mb} MB", 413)
    upload = store.upload(node_id, sha256)
    part = _staging(cfg, node_id, sha256)
    if upload is None:
        clean_staging(store, cfg, now)
        if store.staging_bytes() + size > cfg.staging_max_mb * 1024 * 1024:
            raise HubError("staging_full", "the hub's upload staging is full; try later", 503)
        store.start_upload(node_id, sha256, size, to_iso(now))
        upload = store.upload(node_id, sha256)
    part.parent.mkdir(parents=True, exist_ok=True)
    received = upload["received"]
    have = part.stat().st_size if part.exists() else 0
    if have < received:  # staging lost (disk trouble, restore): start over, never guess
        received = 0
        store.reset_upload(node_id, sha256, 0, to_iso(now))
    if have != received:  # a chunk half-written when the process died: cut it off
        with open(part, "ab") as handle:
            handle.truncate(received)
            blobs.fsync_close(handle)
    if not part.exists():
        part.touch()
    if received == size:
        return _finish(store, cfg, node_id, sha256, size, now, remote)
    return _state(sha256, "partial", received)


def _att_open(store, cfg, identity, data, now, remote, kind: str) -> protocol.Opened:
    limit = CHUNK_BYTES * 2 + 64 * 1024  # base64 of one chunk, compressed, with its header
    opened = _open(store, identity, cfg.hub_id, data, limit, remote, now, _expect(kind))
    if len(opened.records) != 1:
        raise HubError("bad_request", "one attachment record per envelope")
    return opened


def attachment_offer(store: HubStore, *, cfg, identity: protocol.Identity, data: bytes,
                     now: datetime, remote: str = "") -> bytes:
    """Answer ``{sha256, size}`` with the hub's state for that file (offset to send from)."""
    opened = _att_open(store, cfg, identity, data, now, remote, KIND_OFFER)
    node_id, record = opened.header["sender"], opened.records[0]
    with _UPLOAD_LOCK:
        state = _prepare(store, cfg, node_id, record.get("sha256"), record.get("size"), now,
                         remote)
    store.seen(node_id, to_iso(now))
    return _reply(store, identity, cfg.hub_id, node_id, KIND_STATE, [state], 0, 0, now)


def attachment_chunk(store: HubStore, *, cfg, identity: protocol.Identity, data: bytes,
                     now: datetime, remote: str = "") -> bytes:
    """Verify one chunk (its own sha256), append it at the expected offset, answer the next.

    A chunk at another offset (a duplicate, a replay) writes nothing and is answered with
    the offset the hub expects. The last chunk triggers the whole-file check.
    """
    node_id, state = _chunk_state(store, cfg, identity, data, now, remote)
    return _reply(store, identity, cfg.hub_id, node_id, KIND_STATE, [state], 0, 0, now)


def _chunk_state(store: HubStore, cfg, identity, data: bytes, now: datetime,
                 remote: str) -> tuple[str, dict]:
    from edge_node.store import blobs

    opened = _att_open(store, cfg, identity, data, now, remote, KIND_CHUNK)
    node_id, record = opened.header["sender"], opened.records[0]
    sha256, size, offset = record.get("sha256"), record.get("size"), record.get("offset")
    text = record.get("data")
    if type(offset) is not int or offset < 0 or not isinstance(text, str) \
            or not _B64_RE.match(text) or len(text) > (CHUNK_BYTES * 4) // 3 + 4:
        raise HubError("bad_request", "chunk needs offset >= 0 and base64 data")
    chunk = base64.b64decode(text, validate=True)
    if hashlib.sha256(chunk).hexdigest() != record.get("chunk_sha256"):
        store.log_rejection(to_iso(now), node_id, "chunk_mismatch",
                            f"attachment chunk at {offset}: bytes differ from their sha256",
                            remote)
        raise HubError("chunk_mismatch", "chunk bytes do not match chunk_sha256; send it again")
    with _UPLOAD_LOCK:
        state = _prepare(store, cfg, node_id, sha256, size, now, remote)
        if state["status"] == "partial" and offset == state["next_offset"]:
            if len(chunk) != min(CHUNK_BYTES, size - offset):
                raise HubError("bad_chunk", "chunks are 1 MiB each except the last")
            part = _staging(cfg, node_id, sha256)
            with open(part, "r+b") as handle:
                handle.seek(offset)
                handle.write(chunk)
                handle.truncate(offset + len(chunk))
                blobs.fsync_close(handle)  # bytes on disk before the offset moves
            store.advance_upload(node_id, sha256, offset + len(chunk), to_iso(now))
            state = (_finish(store, cfg, node_id, sha256, size, now, remote)
                     if offset + len(chunk) == size else
                     _state(sha256, "partial", offset + len(chunk)))
    store.seen(node_id, to_iso(now))
    return node_id, state
RECOVER_LIMIT = 500


def recover(store: HubStore, *, hub_id: str, identity: protocol.Identity, data: bytes,
            now: datetime, remote: str = "") -> bytes:
    """Tell a node restored from a backup what the hub holds of it.

    The request ``{after}`` names the node's last sequence number; the reply's
    first record is the hub's state (``acked_seq``, ``acked_event_id``,
    ``last_digest``) and the rest are the node's own records after *after*
    (at most :data:`RECOVER_LIMIT`, or the request's ``limit`` if lower: a node
    that only wants the state, to learn whether a batch whose ack it lost was
    applied, sends ``limit: 0``; the node asks again from the last one).
    Nothing changes on the hub: the node resumes the chain where the hub stands.
    """
    opened = _open(store, identity, hub_id, data, 64 * 1024, remote, now, _expect("recover"))
    node_id = opened.header["sender"]
    request = opened.records[0] if opened.records else {}
    after, limit = request.get("after"), request.get("limit", RECOVER_LIMIT)
    if type(after) is not int or after < 0:
        raise HubError("bad_request", "recover needs {after: int >= 0}")
    if type(limit) is not int or limit < 0:
        raise HubError("bad_request", "recover limit must be an int >= 0")
    state = store.recovery_state(node_id)
    limit = min(limit, RECOVER_LIMIT)
    events = store.events_after(node_id, after, limit) if limit else []
    store.seen(node_id, to_iso(now))
    last = events[-1]["seq"] if events else after
    return _reply(store, identity, hub_id, node_id, "recover", [state, *events], after + 1,
                  last, now)
