"""Scanned documents on a dossier: attach, remove, and send the bytes to the province.

Attaching writes the file by content hash (temporary file, fsync, rename) *before* the
transaction that records the row, its audit entry and its ``attachment.added`` outbox
event, so a crash never leaves a row without its file. Rows are never deleted: removal is
a new event that marks the row.

The bytes travel apart from the event batches, in chunks of at most
:data:`~edge_node.domain.attachments.CHUNK_BYTES`, each sealed like a batch (encrypted to
the hub, signed by the node) and carrying its own sha256. The node first asks the hub
which offset it holds (``att_offer``) and sends only the rest (``att_chunk``); the hub
answers every chunk with the next offset it expects, so an interrupted transfer resumes
from the chunk it reached. See ``docs/sync-protocol.md``.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from datetime import datetime
from pathlib import Path

import requests
import sqlite_utils

from edge_node.config import Config
from edge_node.domain import attachments as rules
from edge_node.domain.attachments import AttachmentError
from edge_node.domain.clock import to_iso
from edge_node.store import attachments as store
from edge_node.store import audit, blobs, outbox
from edge_node.store import dossiers as dossier_store
from edge_node.store.db import write_tx
from sync import protocol

KIND_OFFER = "att_offer"
KIND_CHUNK = "att_chunk"
KIND_STATE = "att_state"
#: Damaged envelopes (either way) are retried this many times in a row before the round
#: gives up; a link that is down ends the round at once and the next one resumes.
CHUNK_RETRIES = 3
RETRYABLE = {"bad_signature", "bad_reply", "chunk_mismatch", "decrypt_failed", "truncated",
             "bad_magic", "trailing_data", "bad_payload", "bad_header", "hub_error"}
#: Errors that end the round (the link or the enrollment); others stay with their file.
ROUND_ENDING = {"offline", "not_enrolled", "revoked_sender", "unknown_sender", "unknown_key",
                "seq_reused"}
ORPHAN_SECONDS = 24 * 3600
MISMATCH_MESSAGE = ("Tỉnh nhận tệp nhưng mã kiểm tra (SHA-256) không khớp nên đã bỏ; tệp sẽ "
                    "được gửi lại từ đầu ở lần đồng bộ sau.")
DAMAGED_MESSAGE = ("Tệp trên máy này bị hỏng hoặc bị mất (không khớp mã kiểm tra); không gửi "
                   "được lên tỉnh. Báo bộ phận CNTT.")


def root(cfg: Config) -> Path:
    """Where the node keeps attachment files: ``{home}/attachments``."""
    return cfg.home / "attachments"


def max_bytes(cfg: Config) -> int:
    return int(cfg.attachment_max_mb) * 1024 * 1024


def _spool(cfg: Config, stream, limit: int) -> tuple[Path, str, int, str]:
    """Copy *stream* to a flushed temporary file: ``(path, sha256, size, mime)``.

    Refuses (and removes the temporary file) when the type is wrong or the size passes
    *limit*: nothing is left behind by a refused upload.
    """
    handle = blobs.temp_file(root(cfg))
    path = Path(handle.name)
    try:
        digest, size, head = hashlib.sha256(), 0, b""
        while True:
            block = stream.read(256 * 1024)
            if not block:
                break
            if len(head) < rules.SNIFF_BYTES:
                head += block[: rules.SNIFF_BYTES - len(head)]
                if len(head) >= rules.SNIFF_BYTES:
                    rules.check_type(head)  # refuse a wrong type before reading it all
            size += len(block)
            if size > limit:
                raise rules.too_large(limit)
            digest.update(block)
            handle.write(block)
        mime = rules.check_type(head)
        blobs.fsync_close(handle)
    except BaseException:
        handle.close()
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size, mime


def attach(db: sqlite_utils.Database, cfg: Config, code: str, stream, *, filename: str | None,
           label: str | None, user: dict, now: datetime, ip: str = "") -> dict:
    """Attach the file read from *stream* to dossier *code*; returns the new row.

    :raises AttachmentError: unknown dossier (404), wrong type (415), too large (413), the
        same file already attached (409). Nothing is written then.
    """
    clean_label = rules.clean_label(label)
    if dossier_store.get(db, code) is None:
        raise AttachmentError("not_found", f"Không có hồ sơ {code}.", 404)
    temp, sha256, size, mime = _spool(cfg, stream, max_bytes(cfg))
    try:
        blobs.commit_temp(root(cfg), temp, sha256)  # the file first, then the row
    finally:
        temp.unlink(missing_ok=True)
    stamp = to_iso(now)
    row = {"id": uuid.uuid4().hex, "dossier_code": code, "sha256": sha256, "size": size,
           "mime": mime, "original_name": rules.clean_name(filename, mime),
           "label": clean_label, "uploaded_at": stamp, "uploaded_by": user["username"],
           "event_id": outbox.new_event_id()}
    with write_tx(db):
        if dossier_store.get(db, code) is None:
            raise AttachmentError("not_found", f"Không có hồ sơ {code}.", 404)
        if store.live(db, code, sha256) is not None:
            raise AttachmentError("duplicate", "Tệp này đã được đính kèm vào hồ sơ.", 409)
        store.insert(db, row)
        audit.append(db, at=stamp, actor=user["username"], action="attachment.add", obj=code,
                     detail={"sha256": sha256, "size": size, "mime": mime,
                             "name": row["original_name"]}, ip=ip)
        outbox.add(db, kind="attachment.added", event_id=row["event_id"], at=stamp, payload={
            "attachment_id": row["id"], "dossier_code": code, "sha256": sha256, "size": size,
            "mime": mime, "name": row["original_name"], "label": clean_label,
            "uploaded_at": stamp, "uploaded_by": user["username"]})
    return store.get(db, row["id"])


def remove(db: sqlite_utils.Database, code: str, attachment_id: str, *, user: dict,
           now: datetime, reason: str = "", ip: str = "") -> dict:
    """Mark an attachment removed (the bytes and the row stay: the record is kept).

    :raises AttachmentError: unknown (404) or already removed (409).
    """
    stamp = to_iso(now)
    reason = " ".join((reason or "").split())[:500]
    with write_tx(db):
        row = store.get(db, attachment_id)
        if row is None or row["dossier_code"] != code:
            raise AttachmentError("not_found", "Không có tệp đính kèm này.", 404)
        if row["removed_at"]:
            raise AttachmentError("already_removed", "Tệp đính kèm này đã được gỡ.", 409)
        store.mark_removed(db, attachment_id, stamp, user["username"], reason)
        audit.append(db, at=stamp, actor=user["username"], action="attachment.remove",
                     obj=code, detail={"sha256": row["sha256"], "reason": reason}, ip=ip)
        outbox.add(db, kind="attachment.removed", at=stamp, payload={
            "attachment_id": attachment_id, "dossier_code": code, "sha256": row["sha256"],
            "removed_at": stamp, "removed_by": user["username"], "reason": reason})
    return store.get(db, attachment_id)


def file_path(cfg: Config, sha256: str) -> Path:
    return blobs.path_for(root(cfg), sha256)


def clean_orphans(db: sqlite_utils.Database, cfg: Config,
                  older_than_seconds: float = ORPHAN_SECONDS) -> int:
    """Remove files no row names (a crash between file and row) and stale temporaries."""
    removed = blobs.clean_temp(root(cfg), older_than_seconds)
    known = store.referenced(db)
    limit = time.time() - older_than_seconds
    for sha256, path in list(blobs.stored(root(cfg))):
        if sha256 not in known and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


# -- transfer to the province ---------------------------------------------------------------


def _seal(kind: str, records: list[dict], *, me, state: dict, now: datetime) -> bytes:
    from edge_node.services.sync import _hub_keys

    return protocol.seal(records, sender=me, receiver=_hub_keys(state),
                         sender_id=state["node_id"], receiver_id=state["hub_id"],
                         batch_id=uuid.uuid4().hex, first_seq=0, last_seq=0,
                         prev_hash=protocol.GENESIS_HASH, created_at=now.isoformat(), kind=kind)


def _exchange(http, state: dict, me, path: str, envelope: bytes, sha256: str, size: int) -> dict:
    from edge_node.services.sync import SyncError, _open_reply, _post

    reply = _post(http, state["hub_url"] + path, envelope)
    answer = _open_reply(reply, me, state, KIND_STATE).records
    if len(answer) != 1 or answer[0].get("sha256") != sha256:
        raise SyncError("bad_reply", "attachment state for another file")
    answer = answer[0]
    offset = answer.get("next_offset")
    if type(offset) is not int or not 0 <= offset <= size:
        raise SyncError("bad_reply", "attachment offset out of range")
    return answer


def chunk_envelope(me, state: dict, sha256: str, size: int, offset: int, data: bytes,
                   now: datetime) -> bytes:
    """One sealed ``att_chunk`` envelope (also used by the USB export)."""
    return _seal(KIND_CHUNK, [{
        "sha256": sha256, "size": size, "offset": offset,
        "chunk_sha256": hashlib.sha256(data).hexdigest(),
        "data": base64.b64encode(data).decode("ascii")}], me=me, state=state, now=now)


def _send_file(db, cfg, http, state, me, now_fn, sha256: str, size: int) -> str:
    """Upload one file from the offset the hub holds; returns its final transfer state."""
    from edge_node.services.sync import SyncError

    path = file_path(cfg, sha256)
    if not path.exists() or blobs.file_sha256(path) != sha256:
        with write_tx(db):
            store.mark_failed(db, sha256, DAMAGED_MESSAGE)
        return "failed"

    def offer() -> dict:
        envelope = _seal(KIND_OFFER, [{"sha256": sha256, "size": size}], me=me, state=state,
                         now=now_fn())
        return _exchange(http, state, me, "/api/v1/sync/attachments/offer", envelope, sha256,
                         size)

    answer, failures = offer(), 0
    while True:
        status = answer.get("status")
        if status == "complete":
            with write_tx(db):
                store.mark_sent(db, sha256, to_iso(now_fn()))
            return "sent"
        if status == "mismatch":
            with write_tx(db):
                store.set_progress(db, sha256, 0, error=MISMATCH_MESSAGE)
            return "mismatch"
        if status != "partial":  # "unknown": the hub has not read the announcement yet
            return "pending"
        offset = answer["next_offset"]
        data = blobs.read_range(path, offset, min(rules.CHUNK_BYTES, size - offset))
        envelope = chunk_envelope(me, state, sha256, size, offset, data, now_fn())
        try:
            answer = _exchange(http, state, me, "/api/v1/sync/attachments/chunk", envelope,
                               sha256, size)
        except SyncError as exc:
            with write_tx(db):
                store.set_progress(db, sha256, offset, chunks=1)
            failures += 1
            if exc.code not in RETRYABLE or failures > CHUNK_RETRIES:
                raise
            answer = offer()  # damaged on the way: ask where the hub stands, send again
            continue
        failures = 0
        with write_tx(db):
            store.set_progress(db, sha256, answer["next_offset"], chunks=1)


def upload_pending(db: sqlite_utils.Database, cfg: Config, *, now_fn, http=requests) -> dict:
    """Send every announced, untransferred file; returns ``{sent, pending, mismatch, failed}``.

    :raises edge_node.services.sync.SyncError: when the link fails (the next round resumes
        from the offset the hub holds).
    """
    from edge_node.services.sync import SyncError, enrolled, identity

    state = enrolled(db)
    if state is None:
        raise SyncError("not_enrolled")
    me = identity(cfg)
    counts = {"sent": 0, "pending": 0, "mismatch": 0, "failed": 0, "refused": 0}
    for item in store.ready_to_send(db):
        try:
            result = _send_file(db, cfg, http, state, me, now_fn, item["sha256"], item["size"])
        except SyncError as exc:
            if exc.code in ROUND_ENDING:
                raise
            # one file the hub refuses (too large for it, staging full, an older hub
            # without attachments…) must not hold back the other files nor the pull
            with write_tx(db):
                store.set_progress(db, item["sha256"], item["sent_bytes"],
                                   error=exc.message[:300])
            result = "refused"
        counts[result] += 1
    return counts


#: Room left for attachment chunks in one USB file (the file format's cap is 512 MiB).
USB_CHUNK_BUDGET = 400 * 1024 * 1024


def export_chunks(db: sqlite_utils.Database, cfg: Config, *, me, state: dict, now_fn,
                  budget: int = USB_CHUNK_BUDGET) -> tuple[list[bytes], int]:
    """Chunk envelopes of every pending file from the offset the hub last confirmed.

    Returns ``(envelopes, files)``. Files that do not fit *budget* wait for the next
    export; the hub ignores chunks at offsets it already holds, so sending from an older
    offset is harmless.
    """
    envelopes, files, used = [], 0, 0
    for item in db.query("SELECT sha256, max(size) AS size, min(sent_bytes) AS sent_bytes FROM"
                         " attachments WHERE transfer_state = 'pending' GROUP BY sha256"
                         " ORDER BY min(uploaded_at)"):
        sha256, size = item["sha256"], item["size"]
        offset = item["sent_bytes"] - item["sent_bytes"] % rules.CHUNK_BYTES
        if used + (size - offset) * 1.4 > budget:
            break
        path = file_path(cfg, sha256)
        if not path.exists() or blobs.file_sha256(path) != sha256:
            with write_tx(db):
                store.mark_failed(db, sha256, DAMAGED_MESSAGE)
            continue
        while offset < size:
            data = blobs.read_range(path, offset, min(rules.CHUNK_BYTES, size - offset))
            envelopes.append(chunk_envelope(me, state, sha256, size, offset, data, now_fn()))
            used += len(envelopes[-1])
            offset += len(data)
        files += 1
    return envelopes, files


def apply_states(db: sqlite_utils.Database, states: list[dict], now: datetime) -> None:
    """Apply the hub's ``att_state`` answers read from a USB reply file."""
    for answer in states:
        sha256, offset = answer.get("sha256"), answer.get("next_offset")
        if not isinstance(sha256, str) or type(offset) is not int or offset < 0:
            continue
        with write_tx(db):
            if answer.get("status") == "complete":
                store.mark_sent(db, sha256, to_iso(now))
            elif answer.get("status") == "mismatch":
                store.set_progress(db, sha256, 0, error=MISMATCH_MESSAGE)
            elif answer.get("status") == "partial":
                store.set_progress(db, sha256, offset)
