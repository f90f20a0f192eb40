"""The node's side of sync with the province: enrollment, push, pull, status.

Stages, as named constants (after Morango): a round first PUSHes sealed
batches of unacknowledged outbox events until the hub has them all, then
PULLs the node's feed and applies each envelope in one transaction, moving
the cursor only after the commit. Nothing is marked sent until the hub's
signed ack says so, and a batch is kept byte for byte until then, so a
resend after a lost answer is the very same envelope.
"""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

import requests
import sqlite_utils

from edge_node.config import Config
from edge_node.domain.calendar import parse_working_hours
from edge_node.domain.catalog_formats import CatalogError, parse_catalog
from edge_node.domain.clock import parse_iso, to_iso
from edge_node.domain.codes import AGENCY_RE
from edge_node.domain.lifecycle import Step
from edge_node.services import catalog as catalog_service
from edge_node.services import population
from edge_node.services import province as province_feed
from edge_node.store import audit, outbox, settings
from edge_node.store import process as process_store
from edge_node.store.db import rows as select_rows
from edge_node.store.db import write_tx
from sync import protocol

STAGE_PUSH = "push"
STAGE_PULL = "pull"
STAGE_ATTACHMENTS = "attachments"  # after the batches: the hub must know a file first
STAGE_RECOVER = "recover"
# Events per batch. With 500, a 30-day catch-up paid ~12 KB more in envelopes, acks, HTTP
# headers and restarted zlib windows than with 1,000 (bench/bench_sync_catchup.py). Not more:
# the hub applies a batch in one transaction, and 50 nodes pushing batches of 2,000 at once
# kept its write lock long enough for some to time out (bench/bench_hub_ingest.py).
MAX_BATCH_EVENTS = 1000
MAX_BATCH_JSON_BYTES = 2 * 1024 * 1024
MAX_ROUNDS = 200
TIMEOUT = (5, 60)  # connect, read (seconds)
OCTET = {"Content-Type": "application/octet-stream"}

# Why a round failed, said to clerks (codes from the hub or the transport).
ERROR_MESSAGES = {
    "offline": "Không kết nối được tới hệ thống của tỉnh (mất mạng hoặc máy chủ tỉnh tắt). "
               "Hồ sơ vẫn được lưu trên máy và sẽ tự gửi khi có mạng.",
    "not_enrolled": "Máy này chưa được đăng ký với tỉnh.",
    "revoked_sender": "Tỉnh đã thu hồi đăng ký của máy này. Liên hệ bộ phận CNTT của tỉnh.",
    "unknown_sender": "Tỉnh không nhận ra máy này (chưa đăng ký hoặc đã cài lại).",
    "bad_signature": "Dữ liệu gửi đi bị tỉnh từ chối vì chữ ký không hợp lệ.",
    "hub_error": "Máy chủ của tỉnh báo lỗi; sẽ thử lại sau.",
    "seq_reused": "Dữ liệu trên máy này đã bị khôi phục từ một bản sao cũ nên không khớp với "
                  "tỉnh. Hồ sơ vẫn an toàn trên máy; bộ phận CNTT cần đăng ký lại máy với tỉnh.",
    "bad_reply": "Phản hồi từ tỉnh không hợp lệ; sẽ thử lại sau.",
    "busy": "Hệ thống của tỉnh đang bận; máy sẽ tự gửi lại sau ít phút.",
    "chunk_mismatch": "Một phần tệp đính kèm bị hỏng trên đường truyền; sẽ gửi lại phần đó.",
    "staging_full": "Máy chủ tỉnh tạm hết chỗ nhận tệp đính kèm; sẽ gửi tiếp sau.",
    "too_large": "Tỉnh từ chối tệp đính kèm vì quá lớn so với giới hạn của tỉnh.",
    "unsupported_version": "Phiên bản phần mềm trên máy này không còn tương thích với hệ thống "
                           "của tỉnh. Bộ phận CNTT cần nâng cấp phần mềm; hồ sơ vẫn an toàn "
                           "trên máy.",
    "recover_pending": "Máy vừa được khôi phục từ bản sao lưu: cần kết nối mạng với tỉnh một "
                       "lần để lấy lại dữ liệu trước khi gửi bằng USB.",
    "outbox_damaged": "Dữ liệu chờ gửi tỉnh trên máy này bị hỏng (thiếu sự kiện của một hồ sơ) "
                      "nên chưa gửi được. Hồ sơ đã nhập vẫn còn trên máy; bộ phận CNTT cần kiểm "
                      "tra cơ sở dữ liệu hoặc khôi phục từ bản sao lưu.",
}


class SyncError(Exception):
    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code
        self.detail = message  # technical detail for the log and the CLI
        self.message = ERROR_MESSAGES.get(code) or message or code  # what clerks read


@dataclass
class Report:
    pushed_events: int = 0
    batches: int = 0
    pulled_items: int = 0
    attachments: dict = field(default_factory=dict)
    error: str | None = None
    stages: list[str] = field(default_factory=list)


def identity(cfg: Config) -> protocol.Identity:
    """The node's key pairs (made at init; owner-only files under keys/)."""
    return protocol.load_or_create_identity(cfg.home / "keys")


def enrolled(db: sqlite_utils.Database) -> dict | None:
    values = settings.get_all(db, "sync.")
    if "sync.node_id" not in values:
        return None
    return {k[5:]: v for k, v in values.items()}


def enroll(db: sqlite_utils.Database, cfg: Config, hub_url: str, code: str, *,
           now: datetime, http=requests) -> dict:
    """Exchange keys with the hub using a one-time code, and pin the hub's keys."""
    me = identity(cfg)
    url = hub_url.rstrip("/") + "/api/v1/enroll"
    try:
        resp = http.post(url, json={"code": code, "node_bundle": protocol.public_bundle(me),
                                    "label": socket.gethostname()[:100],
                                    "protocol_version": protocol.PROTOCOL_VERSION}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise SyncError("offline", f"cannot reach {url}: {exc.__class__.__name__}") from None
    if resp.status_code != 201:
        try:
            err = resp.json()["error"]
            raise SyncError(err["code"], err["message"])
        except (ValueError, KeyError, TypeError):
            raise SyncError("hub_error", f"HTTP {resp.status_code}") from None
    body = resp.json()
    protocol.PeerKeys.from_bundle(body["hub_bundle"])  # refuse a malformed answer early
    with write_tx(db):
        # A new identity: batches sealed for the old one are useless, and the new node id
        # must carry the whole history (the hub recognises the same events by their ids).
        db.conn.execute("DELETE FROM sync_batches")
        db.conn.execute("UPDATE outbox SET acked_at = NULL")
        for key in ("acked_seq", "last_error", "last_error_detail", "last_error_technical",
                    "reconcile", "progress", "conflicts", "recover"):
            settings.put(db, "sync." + key, None)
        values = {"hub_url": hub_url.rstrip("/"), "hub_id": body["hub_id"],
                  "node_id": body["node_id"], "commune_code": body["commune_code"],
                  "commune_name": body["commune_name"],
                  "hub_bundle": json.dumps(body["hub_bundle"]), "feed_cursor": 0,
                  "prev_hash": protocol.GENESIS_HASH, "enrolled_at": to_iso(now)}
        if body.get("agency_id") and AGENCY_RE.match(body["agency_id"]):
            values["agency_id"] = body["agency_id"]
        for key, value in values.items():
            settings.put(db, "sync." + key, value)
        audit.append(db, at=to_iso(now), actor="cli", action="sync.enroll",
                     obj=body["node_id"], detail={"hub": hub_url, "commune": body["commune_code"]})
    return body


def agency_id(db: sqlite_utils.Database, cfg: Config) -> str:
    """The One-stop identifier in force: given at enrollment, else the config's."""
    return settings.get(db, "sync.agency_id") or cfg.agency_id


def _payload(row: dict) -> dict:
    """:func:`outbox.payload_of`, with a slot whose event row is gone (a damaged database)
    reported as a sync error the page and the CLI show, not a crash of the round."""
    try:
        return outbox.payload_of(row)
    except LookupError as exc:
        raise SyncError("outbox_damaged", str(exc)) from None


def _hub_keys(state: dict) -> protocol.PeerKeys:
    return protocol.PeerKeys.from_bundle(json.loads(state["hub_bundle"]))


def _next_batch(db, state, me, now, *, after_stored: bool = False) -> dict | None:
    """The unacknowledged batch to send: the oldest stored one, or a new one sealed now.

    With *after_stored* a new batch is sealed after the stored ones (to put
    several on a USB stick at once).
    """
    stored = list(db.query("SELECT * FROM sync_batches WHERE acked_at IS NULL"
                           " ORDER BY first_seq"))
    if stored and not after_stored:
        return stored[0]
    start = stored[-1]["last_seq"] if stored else 0
    events, size, sealed = [], 0, {}
    for row in select_rows(db, outbox.SELECT + " WHERE o.acked_at IS NULL AND o.seq > ?"
                    " ORDER BY o.seq LIMIT ?", (start, MAX_BATCH_EVENTS)):
        payload = _payload(row)
        if row["kind"] == audit.KIND and "entry" not in payload:
            # the entry as the table holds it now, frozen into its slot with this batch
            payload = sealed[row["seq"]] = audit.sealed_payload(db, payload)
        record = {"seq": row["seq"], "event_id": row["event_id"], "kind": row["kind"],
                  "at": row["created_at"], "payload": payload}
        size += len(row["e_payload"] or row["payload"]) + 200
        if events and (size > MAX_BATCH_JSON_BYTES or row["seq"] != events[-1]["seq"] + 1):
            break
        events.append(record)
    if not events:
        return None
    batch_id = uuid.uuid4().hex
    envelope = protocol.seal(events, sender=me, receiver=_hub_keys(state),
                             sender_id=state["node_id"], receiver_id=state["hub_id"],
                             batch_id=batch_id, first_seq=events[0]["seq"],
                             last_seq=events[-1]["seq"], prev_hash=state["prev_hash"],
                             created_at=now.isoformat(), kind=protocol.KIND_BATCH)
    row = {"batch_id": batch_id, "first_seq": events[0]["seq"], "last_seq": events[-1]["seq"],
           "envelope": envelope, "digest": protocol.envelope_digest(envelope),
           "created_at": to_iso(now)}
    with write_tx(db):
        db.conn.execute("INSERT INTO sync_batches (batch_id, first_seq, last_seq, envelope,"
                        " digest, created_at) VALUES (:batch_id, :first_seq, :last_seq,"
                        " :envelope, :digest, :created_at)", row)
        settings.put(db, "sync.prev_hash", row["digest"])
        for seq, payload in sealed.items():
            if seq <= row["last_seq"]:
                db.conn.execute("UPDATE outbox SET payload = ? WHERE seq = ?", (json.dumps(
                    payload, ensure_ascii=False, sort_keys=True), seq))
    return row


def _post(http, url: str, data: bytes):
    try:
        resp = http.post(url, data=data, headers=OCTET, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise SyncError("offline", f"{exc.__class__.__name__}") from None
    if resp.status_code != 200:
        try:
            err = resp.json()["error"]
        except (ValueError, KeyError, TypeError):
            raise SyncError("hub_error", f"HTTP {resp.status_code}") from None
        code = err.get("code", "hub_error")
        # Clerks read our own words for known codes; the hub's words stay as the detail
        # (for IT staff: e.g. which protocol versions the hub speaks).
        raise SyncError(code, str(err.get("message", ""))[:300] if code in ERROR_MESSAGES
                        else f"Tỉnh từ chối dữ liệu: {err.get('message', '')}")
    return resp.content


def _open_reply(data: bytes, me, state, kind: str) -> protocol.Opened:
    try:
        opened = protocol.open_envelope(data, receiver=me, receiver_id=state["node_id"],
                                        expected_sender=_hub_keys(state))
    except protocol.ProtocolError as exc:
        raise SyncError("bad_reply", f"reply refused: {exc.code}") from None
    if opened.header["kind"] != kind or opened.header["sender"] != state["hub_id"]:
        raise SyncError("bad_reply", "unexpected reply kind")
    return opened


def apply_ack(db, ack: dict, stamp: str) -> None:
    """Mark what the hub acknowledged; on a gap, re-open events from where it stands.

    The hub names the event it holds at the acknowledged number; if ours differs,
    this database went back in time (restored from an old copy) and is reusing
    numbers, so nothing is marked and the clerk is told to re-enroll.
    """
    acked = int(ack["acked_seq"])
    held = ack.get("acked_event_id")
    if held and acked:
        row = db.conn.execute("SELECT event_id FROM outbox WHERE seq = ?", (acked,)).fetchone()
        if row is None or row[0] != held:
            raise SyncError("seq_reused")
    with write_tx(db):
        known = int(settings.get(db, "sync.acked_seq", "0") or 0)
        if ack.get("resend_from") is None and acked < known:
            # An older reply (a USB file imported twice, out of order) says nothing new;
            # taking it would move the cursor and the chain anchor back.
            return
        db.conn.execute("UPDATE outbox SET acked_at = ? WHERE seq <= ? AND acked_at IS NULL",
                        (stamp, acked))
        db.conn.execute("UPDATE sync_batches SET acked_at = ? WHERE last_seq <= ? AND"
                        " acked_at IS NULL", (stamp, acked))
        if ack.get("resend_from") is not None:
            # The hub has less than we thought (a gap, or restored from a backup):
            # forget unacked batches and send again from where it stands.
            db.conn.execute("DELETE FROM sync_batches WHERE acked_at IS NULL")
            db.conn.execute("UPDATE outbox SET acked_at = NULL WHERE seq >= ?",
                            (int(ack["resend_from"]),))
            from edge_node.store import attachments as attachment_store

            attachment_store.reopen_from(db, int(ack["resend_from"]))
            settings.put(db, "sync.prev_hash", ack["last_digest"])
        elif not list(db.query("SELECT 1 FROM sync_batches WHERE acked_at IS NULL LIMIT 1")):
            settings.put(db, "sync.prev_hash", ack["last_digest"])
        settings.put(db, "sync.acked_seq", acked)
        if ack.get("hub_time"):  # a probe's answer (see push) carries no clock reading
            settings.put(db, "sync.hub_time", ack["hub_time"])
            settings.put(db, "sync.hub_time_seen_at", stamp)
        if ack.get("conflicts"):
            previous = int(settings.get(db, "sync.conflicts", "0") or 0)
            settings.put(db, "sync.conflicts", previous + int(ack["conflicts"]))


def ask_hub(http, state: dict, me, *, after: int, limit: int | None, now: datetime) -> list:
    """A signed ``recover`` request: the hub's state of this node (``acked_seq``,
    ``acked_event_id``, ``last_digest``) then the node's own records after *after*
    (at most *limit*; hubs older than the ``limit`` field send up to 500).

    :raises SyncError: offline, refused, or an answer without the hub's state.
    """
    request = protocol.seal([{"after": after} if limit is None
                             else {"after": after, "limit": limit}],
                            sender=me, receiver=_hub_keys(state), sender_id=state["node_id"],
                            receiver_id=state["hub_id"], batch_id=uuid.uuid4().hex,
                            first_seq=0, last_seq=0, prev_hash=protocol.GENESIS_HASH,
                            created_at=now.isoformat(), kind="recover")
    reply = _post(http, state["hub_url"] + "/api/v1/sync/recover", request)
    opened = _open_reply(reply, me, state, "recover")
    if not opened.records:
        raise SyncError("bad_reply", "recover reply without the hub's state")
    return opened.records


# Answers to the question that may mean "this hub does not know it" (a hub older than the
# question: 404, or a reply the node cannot read): send the batch as before.
PROBE_FALLBACK = ("hub_error", "bad_reply", "bad_request")


def _already_held(db, state: dict, me, batch: dict, *, now_fn, http) -> bool:
    """Whether the hub already applied *batch* (its ack was lost on the way back).

    Asked before sending again a batch sealed in an earlier round: on a thin link
    a few hundred bytes of question save resending the whole batch. A hub that
    cannot answer gets the batch as before.
    """
    try:
        hub = ask_hub(http, state, me, after=batch["last_seq"], limit=0, now=now_fn())[0]
        acked = int(hub["acked_seq"])
    except SyncError as exc:
        if exc.code not in PROBE_FALLBACK:
            raise  # offline, busy, revoked…: the batch would fare no better
        return False
    except (KeyError, TypeError, ValueError):
        return False
    if acked < batch["last_seq"]:
        return False
    apply_ack(db, {"status": "duplicate", "acked_seq": acked,
                   "acked_event_id": hub.get("acked_event_id"),
                   "last_digest": hub.get("last_digest")}, to_iso(now_fn()))
    return True


def push(db, cfg: Config, *, now_fn, http=requests) -> tuple[int, int]:
    """Send batches until the hub holds every event; returns (events, batches).

    A batch left unacknowledged by an earlier round (its ack may have been lost)
    is first checked with the hub (:func:`_already_held`) rather than resent blind.
    """
    state = enrolled(db)
    if state is None:
        raise SyncError("not_enrolled")
    me = identity(cfg)
    events = batches = sent_bytes = 0
    total = db.conn.execute("SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]
    earlier = {r[0] for r in db.conn.execute(
        "SELECT batch_id FROM sync_batches WHERE acked_at IS NULL")}
    for _ in range(MAX_ROUNDS):
        state = enrolled(db)
        batch = _next_batch(db, state, me, now_fn())
        if batch is None:
            break
        held = False
        if batch["batch_id"] in earlier:
            earlier.clear()  # one question per round: a refused batch is not asked about again
            held = _already_held(db, state, me, batch, now_fn=now_fn, http=http)
        if held:
            ack = {"status": "applied"}  # in an earlier round: counted as sent in this one
        else:
            try:
                reply = _post(http, state["hub_url"] + "/api/v1/sync/push",
                              bytes(batch["envelope"]))
            except SyncError as exc:
                if exc.code == "unsupported_version":
                    # Sealed by a version the hub does not speak: reseal after the upgrade
                    # (the hub's chain check then tells us where it stands).
                    with write_tx(db):
                        db.conn.execute("DELETE FROM sync_batches WHERE acked_at IS NULL")
                raise
            ack = _open_reply(reply, me, state, protocol.KIND_ACK).records[0]
            apply_ack(db, ack, to_iso(now_fn()))
        if ack["status"] == "applied":
            events += batch["last_seq"] - batch["first_seq"] + 1
            batches += 1
            sent_bytes += len(batch["envelope"])
            with write_tx(db):  # progress of a long catch-up, for the sync page
                settings.put(db, "sync.progress", json.dumps(
                    {"sent_events": events, "total_events": total, "sent_bytes": sent_bytes,
                     "at": to_iso(now_fn())}))
        elif ack.get("resend_from") is None and ack["status"] != "duplicate":
            raise SyncError("hub_error", f"unexpected ack {ack['status']}")
    return events, batches


def _feed_catalog(db, item: dict, now: datetime) -> None:
    fmt, label, procs = parse_catalog(json.dumps(item["payload"]))
    catalog_service.apply_catalog(db, fmt, label, procs, now=now, actor="province",
                                  source=f"feed:{item['seq']}")


def _feed_calendar_override(db, item: dict, now: datetime) -> None:
    payload = item["payload"]
    day = date.fromisoformat(payload["date"])
    db.conn.execute("DELETE FROM calendar_overrides WHERE date = ?", (day.isoformat(),))
    if payload.get("working") is not None:
        db.conn.execute(
            "INSERT INTO calendar_overrides (date, working, note, source, created_at,"
            " created_by) VALUES (?,?,?,?,?,?)", (day.isoformat(), int(bool(
                payload["working"])), str(payload.get("note", ""))[:200], "province",
                to_iso(now), "province"))


def _feed_working_hours(db, item: dict, now: datetime) -> None:
    parse_working_hours(item["payload"]["text"])  # refuse nonsense before storing it
    settings.put(db, "province.working_hours", item["payload"]["text"])


def _feed_process(db, item: dict, now: datetime) -> None:
    payload = item["payload"]
    steps = [Step(str(s[0])[:200], s[1], int(s[2])) for s in payload["steps"]]
    process_store.replace(db, payload["procedure_code"], steps, to_iso(now))
    db.conn.execute("UPDATE procedures SET supplement_model = ?, payment_pauses = ?"
                    " WHERE code = ?", (payload.get("supplement_model", "restart"),
                                        int(bool(payload.get("payment_pauses"))),
                                        payload["procedure_code"]))


#: Feed item kind -> handler(db, item, now), run inside the feed's write transaction.
#: A handler that raises leaves its item recorded as failed; the feed goes on.
FEED_HANDLERS = {
    "catalog": _feed_catalog,
    "calendar.override": _feed_calendar_override,
    "working_hours": _feed_working_hours,
    "process": _feed_process,
    "population.answer": population.apply_answer,
    **province_feed.HANDLERS,
}


def _apply_item(db, item: dict, now: datetime) -> None:
    handler = FEED_HANDLERS.get(item["kind"])
    # Unknown kinds come from a newer hub: skipped (and audited) rather than blocking the feed.
    if handler is not None:
        handler(db, item, now)
    audit.append(db, at=to_iso(now), actor="province", action=f"feed.{item['kind']}",
                 obj=str(item["seq"]))


def pull(db, cfg: Config, *, now_fn, http=requests) -> int:
    """Fetch and apply the feed after the cursor; returns the number of items applied."""
    state = enrolled(db)
    if state is None:
        raise SyncError("not_enrolled")
    me = identity(cfg)
    applied = 0
    for _ in range(MAX_ROUNDS):
        state = enrolled(db)
        cursor = int(state.get("feed_cursor", 0))
        request = protocol.seal([{"since": cursor}], sender=me, receiver=_hub_keys(state),
                                sender_id=state["node_id"], receiver_id=state["hub_id"],
                                batch_id=uuid.uuid4().hex, first_seq=0, last_seq=0,
                                prev_hash=protocol.GENESIS_HASH,
                                created_at=now_fn().isoformat(), kind="pull")
        reply = _post(http, state["hub_url"] + "/api/v1/sync/pull", request)
        opened = _open_reply(reply, me, state, protocol.KIND_FEED)
        items = opened.records
        read = state.get("feed_anchor") or protocol.GENESIS_HASH
        if cursor and opened.header["prev_hash"] != read:
            # The hub's feed went back in time (restored from a backup): read it again from
            # the start; applying an item twice is harmless, skipping one is not.
            with write_tx(db):
                settings.put(db, "sync.feed_cursor", 0)
                settings.put(db, "sync.feed_anchor", None)
                audit.append(db, at=to_iso(now_fn()), actor="province", action="feed.rewound",
                             obj=str(cursor))
            continue
        if not items:
            break
        count = apply_feed(db, items, now_fn)
        if count == 0:
            raise SyncError("bad_reply", "feed out of order")
        applied += count
    return applied


def apply_feed(db, items: list[dict], now_fn) -> int:
    """Apply feed items after the cursor, each in one transaction with the cursor move.

    Items at or before the cursor (a file imported twice) are skipped; an
    item that cannot be applied is recorded and passed over so the rest flow.
    """
    applied = 0
    for item in items:
        cursor = int(settings.get(db, "sync.feed_cursor", "0") or 0)
        if item.get("seq") != cursor + 1:
            continue
        with write_tx(db):
            try:
                _apply_item(db, item, now_fn())
            except (CatalogError, KeyError, ValueError, TypeError) as exc:
                audit.append(db, at=to_iso(now_fn()), actor="province", action="feed.refused",
                             obj=str(item["seq"]),
                             detail={"kind": item.get("kind"), "error": str(exc)[:300]})
            settings.put(db, "sync.feed_cursor", item["seq"])
            settings.put(db, "sync.feed_anchor", protocol.feed_item_hash(item))
        applied += 1
    return applied


def export_file(db, cfg: Config, *, now_fn) -> tuple[bytes, int]:
    """Every pending event as sealed batches plus a feed request, in one file body.

    Returns ``(body, events)``. The batches are stored like online ones, so a
    later online round or a second export sends the very same bytes.
    """
    from edge_node.services import recovery
    from sync.files import write_bundle

    state = enrolled(db)
    if state is None:
        raise SyncError("not_enrolled")
    if recovery.pending(db):
        raise SyncError("recover_pending", "restored from a backup: sync online once first "
                        "(edge-node sync --once) so the hub can say what it holds")
    me = identity(cfg)
    for _ in range(MAX_ROUNDS):
        if _next_batch(db, enrolled(db), me, now_fn(), after_stored=True) is None:
            break
    rows = list(db.query("SELECT envelope, first_seq, last_seq FROM sync_batches WHERE acked_at"
                         " IS NULL ORDER BY first_seq"))
    state = enrolled(db)
    request = protocol.seal([{"since": int(state.get("feed_cursor", 0))}], sender=me,
                            receiver=_hub_keys(state), sender_id=state["node_id"],
                            receiver_id=state["hub_id"], batch_id=uuid.uuid4().hex,
                            first_seq=0, last_seq=0, prev_hash=protocol.GENESIS_HASH,
                            created_at=now_fn().isoformat(), kind="pull")
    events = sum(r["last_seq"] - r["first_seq"] + 1 for r in rows)
    from edge_node.services import attachments

    # after the batches that announce them: the hub takes only files it was told about
    chunks, _ = attachments.export_chunks(db, cfg, me=me, state=state, now_fn=now_fn)
    return write_bundle([bytes(r["envelope"]) for r in rows] + chunks + [request]), events


def import_reply(db, cfg: Config, data: bytes, *, now_fn) -> tuple[int, int]:
    """Apply a hub reply file: every envelope is verified first, then acks and feeds applied.

    Returns ``(acked_seq, feed_items_applied)``. Importing the same file again
    changes nothing.
    """
    from sync.files import read_bundle

    state = enrolled(db)
    if state is None:
        raise SyncError("not_enrolled")
    me = identity(cfg)
    try:
        envelopes = read_bundle(data)
    except protocol.ProtocolError as exc:
        raise SyncError("bad_reply", f"{exc.code}: {exc.message}") from None
    opened = []
    for env in envelopes:  # all or nothing: verify every envelope before using any
        try:
            opened.append(protocol.open_envelope(env, receiver=me, receiver_id=state["node_id"],
                                                 expected_sender=_hub_keys(state)))
        except protocol.ProtocolError as exc:
            raise SyncError("bad_reply", f"{exc.code}: {exc.message}") from None
    applied = 0
    for env in opened:
        if env.header["kind"] == protocol.KIND_ACK:
            apply_ack(db, env.records[0], to_iso(now_fn()))
        elif env.header["kind"] == protocol.KIND_FEED:
            applied += apply_feed(db, env.records, now_fn)
        elif env.header["kind"] == "att_state":
            from edge_node.services import attachments

            attachments.apply_states(db, env.records, now_fn())
    return int(enrolled(db).get("acked_seq", 0) or 0), applied


def sync_once(db, cfg: Config, *, now_fn, http=requests) -> Report:
    """One round: push everything, then pull everything. Errors are recorded, not raised."""
    from edge_node.services import recovery

    report = Report()
    stamp = to_iso(now_fn())
    try:
        if recovery.pending(db):  # restored from a backup: learn what the hub holds first
            report.stages.append(STAGE_RECOVER)
            recovery.recover(db, cfg, now_fn=now_fn, http=http)
        report.stages.append(STAGE_PUSH)
        report.pushed_events, report.batches = push(db, cfg, now_fn=now_fn, http=http)
        report.stages.append(STAGE_ATTACHMENTS)
        from edge_node.services import attachments

        report.attachments = attachments.upload_pending(db, cfg, now_fn=now_fn, http=http)
        report.stages.append(STAGE_PULL)
        report.pulled_items = pull(db, cfg, now_fn=now_fn, http=http)
        if report.pulled_items:
            # applying the feed wrote audit entries and dossier events (e.g. the province's
            # identity answers): send them too, so a round ends level
            report.stages.append(STAGE_PUSH)
            pushed, batches = push(db, cfg, now_fn=now_fn, http=http)
            report.pushed_events += pushed
            report.batches += batches
    except SyncError as exc:
        report.error = exc.code
        with write_tx(db):
            settings.put(db, "sync.last_error", exc.code)
            settings.put(db, "sync.last_error_detail", exc.message[:500])
            settings.put(db, "sync.last_error_technical", (exc.detail or "")[:500])
            settings.put(db, "sync.last_attempt_at", stamp)
        return report
    with write_tx(db):
        settings.put(db, "sync.last_error", None)
        settings.put(db, "sync.last_error_detail", None)
        settings.put(db, "sync.last_error_technical", None)
        settings.put(db, "sync.last_attempt_at", stamp)
        settings.put(db, "sync.last_success_at", to_iso(now_fn()))
    return report


def status(db) -> dict:
    """What the sync page shows: enrolled?, online?, last success, backlog, last error."""
    state = enrolled(db) or {}
    pending = db.conn.execute("SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]
    error = state.get("last_error")
    skew = None
    if state.get("hub_time") and state.get("hub_time_seen_at"):
        skew = int((parse_iso(state["hub_time_seen_at"]) - parse_iso(state["hub_time"])
                    ).total_seconds())
    reconciled = json.loads(state["reconcile"]) if state.get("reconcile") else None
    progress = json.loads(state["progress"]) if state.get("progress") else None
    from edge_node.store import attachments as attachment_store
    return {"enrolled": bool(state), "node_id": state.get("node_id"),
            "reconcile": reconciled, "reconciled_at": state.get("reconciled_at"),
            "progress": progress, "conflicts": int(state.get("conflicts", 0) or 0),
            "hub_url": state.get("hub_url"), "commune_name": state.get("commune_name"),
            "online": bool(state) and error is None and bool(state.get("last_success_at")),
            "last_success_at": state.get("last_success_at"),
            "last_attempt_at": state.get("last_attempt_at"), "pending_events": pending,
            "acked_seq": int(state.get("acked_seq", 0) or 0),
            "feed_cursor": int(state.get("feed_cursor", 0) or 0),
            "last_error": error, "last_error_message": state.get("last_error_detail"),
            "clock_skew_seconds": skew, "recover_pending": "recover" in state,
            "attachments": attachment_store.transfer_totals(db)}


def reconcile(db, cfg: Config, *, now_fn, http=requests) -> dict:
    """Compare per-day digests of acknowledged events with the hub's.

    Returns ``{match, days: [{date, node, hub, match}], pending_events}``;
    events not yet acknowledged are left out on both sides and counted apart.
    """
    from sync.reconcile import compare, day_digests

    state = enrolled(db)
    if state is None:
        raise SyncError("not_enrolled")
    me = identity(cfg)
    ours = day_digests((r["created_at"], r["event_id"], r["kind"], _payload(r))
                       for r in db.query(outbox.SELECT + " WHERE o.acked_at IS NOT NULL"
                                         " ORDER BY o.seq"))
    request = protocol.seal([{"date": d, "digest": v} for d, v in ours.items()], sender=me,
                            receiver=_hub_keys(state), sender_id=state["node_id"],
                            receiver_id=state["hub_id"], batch_id=uuid.uuid4().hex,
                            first_seq=0, last_seq=0, prev_hash=protocol.GENESIS_HASH,
                            created_at=now_fn().isoformat(), kind="reconcile")
    reply = _post(http, state["hub_url"] + "/api/v1/sync/reconcile", request)
    theirs = {r["date"]: r["digest"] for r in _open_reply(reply, me, state,
                                                          "reconcile").records}
    result = compare(ours, theirs)
    result["pending_events"] = db.conn.execute(
        "SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]
    with write_tx(db):
        settings.put(db, "sync.reconcile", json.dumps(result))
        settings.put(db, "sync.reconciled_at", to_iso(now_fn()))
    return result
