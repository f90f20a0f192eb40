"""Attachments from a real node to a real hub: chunked, resumable, verified before recorded."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal

import pytest
import requests

from edge_node.domain.attachments import CHUNK_BYTES
from edge_node.domain.clock import now_utc
from edge_node.services import attachments as attachment_service
from edge_node.services import sync as sync_service
from edge_node.store import settings
from edge_node.store.db import write_tx
from sync import protocol
from tests.faults.proxy import FaultProxy
from tests.integration.sync_helpers import linked_node, synced_then_hub_backup

pytestmark = pytest.mark.usefixtures("hub_backend")

CHUNK_PATH = "/api/v1/sync/attachments/chunk"
OFFER_PATH = "/api/v1/sync/attachments/offer"


@pytest.fixture
def linked(tmp_path, cfg, db):
    yield from linked_node(tmp_path, cfg, db)


def scan(size: int) -> bytes:
    return b"%PDF-1.5\n" + os.urandom(size - 9)


def attach(db, cfg, world, data: bytes, name: str = "ban-quet.pdf") -> tuple[str, dict]:
    code = world.receive()["code"]
    row = attachment_service.attach(db, cfg, code, io.BytesIO(data), filename=name,
                                    label="Tờ khai", user=world.users["canbo"], now=world.now)
    return code, row


def hub_db(hub):
    return hub.connect()


def hub_file(hub, sha: str):
    path = hub.home / "attachments" / sha[:2] / sha[2:]
    return path.read_bytes() if path.exists() else None


def chunk_requests(proxy) -> list:
    return [r for r in proxy.requests if r[0] == CHUNK_PATH]


def point_node_at(db, url):
    with write_tx(db):
        settings.put(db, "sync.hub_url", url)


def test_attachment_reaches_the_hub_only_with_its_bytes(linked, cfg, db):
    hub, world = linked
    data = scan(2 * CHUNK_BYTES + 12345)  # three chunks
    code, row = attach(db, cfg, world, data)
    sha = hashlib.sha256(data).hexdigest()
    # The announcement alone (events pushed, no bytes yet) is shown as awaited, never present
    sync_service.push(db, cfg, now_fn=now_utc)
    page = hub.get(f"/dossiers/{code}").text
    assert "ban-quet.pdf" in page and "Đang chờ nhận tệp" in page and "mã kiểm tra khớp" \
        not in page
    con = hub_db(hub)
    assert con.execute("SELECT count(*) FROM hub_files").fetchone()[0] == 0
    assert sync_service.status(db)["attachments"]["pending_files"] == 1

    report = sync_service.sync_once(db, cfg, now_fn=now_utc)
    assert report.error is None and report.attachments["sent"] == 1
    assert hub_file(hub, sha) == data
    assert con.execute("SELECT size FROM hub_files WHERE sha256 = ?", (sha,)).fetchone() == \
        (len(data),)
    assert con.execute("SELECT count(*) FROM hub_uploads").fetchone()[0] == 0  # staging done
    con.close()
    page = hub.get(f"/dossiers/{code}").text
    assert "✓ Đã nhận, mã kiểm tra khớp" in page and sha[:16] in page and "2,0 MB" in page
    download = hub.get(f"/dossiers/{code}/attachments/{sha}")
    assert download.status_code == 200 and download.content == data
    state = db.conn.execute("SELECT transfer_state, sent_bytes, chunks_sent FROM attachments"
                            " WHERE id = ?", (row["id"],)).fetchone()
    assert state == ("sent", len(data), 3)
    totals = sync_service.status(db)["attachments"]
    assert totals["pending_files"] == 0
    # Next round: nothing is sent again
    proxy = FaultProxy(hub.port)
    try:
        point_node_at(db, proxy.url)
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
        assert chunk_requests(proxy) == []
    finally:
        proxy.close()


def test_interrupted_transfer_resumes_from_the_chunk_it_reached(linked, cfg, db):
    hub, world = linked
    data = scan(5 * CHUNK_BYTES + 777)  # six chunks
    sha = hashlib.sha256(data).hexdigest()
    attach(db, cfg, world, data)
    proxy = FaultProxy(hub.port)
    point_node_at(db, proxy.url)
    passed = []

    def cut_after_three(path):
        if path == CHUNK_PATH:
            passed.append(path)
            return "drop" if len(passed) > 3 else None
        return None

    try:
        proxy.rule = cut_after_three
        report = sync_service.sync_once(db, cfg, now_fn=now_utc)
        assert report.error == "offline"
        assert db.conn.execute("SELECT sent_bytes FROM attachments").fetchone()[0] == \
            3 * CHUNK_BYTES
        progress = sync_service.status(db)["attachments"]
        assert progress["sent_bytes"] == 3 * CHUNK_BYTES and progress["total_bytes"] == len(data)
        proxy.rule, proxy.requests = None, []
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
        resent = chunk_requests(proxy)
        assert len(resent) == 3  # chunks 4, 5 and 6 only, not all six again
        assert sum(size for _, size, _ in resent) < len(data) * 0.8
        assert hub_file(hub, sha) == data
    finally:
        proxy.close()


def test_hub_killed_mid_file_resumes_after_restart(linked, cfg, db):
    hub, world = linked
    data = scan(4 * CHUNK_BYTES + 1)  # five chunks
    sha = hashlib.sha256(data).hexdigest()
    attach(db, cfg, world, data)
    proxy = FaultProxy(hub.port)
    point_node_at(db, proxy.url)
    seen = []

    def kill_at_third(path):
        if path == CHUNK_PATH:
            seen.append(path)
            if len(seen) == 3:
                os.kill(hub.proc.pid, signal.SIGKILL)
                hub.proc.wait(timeout=10)
        return None

    try:
        proxy.rule = kill_at_third
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error == "offline"
        hub.stop()
        hub.start()
        proxy.rule, proxy.requests = None, []
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
        assert len(chunk_requests(proxy)) == 3  # chunks 3, 4, 5: the two stored are kept
        assert hub_file(hub, sha) == data
        con = hub_db(hub)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
    finally:
        proxy.close()


def test_a_chunk_damaged_on_the_way_is_refused_and_sent_again(linked, cfg, db):
    hub, world = linked
    data = scan(3 * CHUNK_BYTES)
    sha = hashlib.sha256(data).hexdigest()
    attach(db, cfg, world, data)
    proxy = FaultProxy(hub.port)
    point_node_at(db, proxy.url)
    count = []

    def corrupt_second(path):
        if path == CHUNK_PATH:
            count.append(path)
            return "corrupt_request" if len(count) == 2 else None
        return None

    try:
        proxy.rule = corrupt_second
        report = sync_service.sync_once(db, cfg, now_fn=now_utc)
        assert report.error is None, report
        modes = [m for p, _, m in chunk_requests(proxy)]
        assert modes == ["pass", "corrupt_request", "pass", "pass"]  # the second sent twice
        assert hub_file(hub, sha) == data
        con = hub_db(hub)
        codes = [r[0] for r in con.execute("SELECT code FROM rejections")]
        con.close()
        assert "bad_signature" in codes
    finally:
        proxy.close()


def _seal_chunk(cfg, db, sha, size, offset, chunk, chunk_sha=None):
    state = sync_service.enrolled(db)
    me = sync_service.identity(cfg)
    keys = protocol.PeerKeys.from_bundle(json.loads(state["hub_bundle"]))
    record = {"sha256": sha, "size": size, "offset": offset,
              "chunk_sha256": chunk_sha or hashlib.sha256(chunk).hexdigest(),
              "data": base64.b64encode(chunk).decode()}
    return protocol.seal([record], sender=me, receiver=keys, sender_id=state["node_id"],
                         receiver_id=state["hub_id"], batch_id=os.urandom(8).hex(),
                         first_seq=0, last_seq=0, prev_hash=protocol.GENESIS_HASH,
                         created_at=now_utc().isoformat(), kind="att_chunk"), me, state


def test_chunk_whose_bytes_differ_from_its_hash_is_refused(linked, cfg, db):
    hub, world = linked
    data = scan(CHUNK_BYTES + 10)
    sha = hashlib.sha256(data).hexdigest()
    attach(db, cfg, world, data)
    sync_service.push(db, cfg, now_fn=now_utc)
    envelope, _, _ = _seal_chunk(cfg, db, sha, len(data), 0, data[:CHUNK_BYTES],
                                 chunk_sha=hashlib.sha256(b"other").hexdigest())
    resp = requests.post(hub.url + CHUNK_PATH, data=envelope, timeout=10,
                         headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "chunk_mismatch"
    con = hub_db(hub)
    assert con.execute("SELECT coalesce(max(received), 0) FROM hub_uploads").fetchone()[0] == 0
    con.close()
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    assert hub_file(hub, sha) == data


def test_whole_file_hash_mismatch_is_never_recorded(linked, cfg, db, app):
    hub, world = linked
    data = scan(2 * CHUNK_BYTES + 5)
    sha = hashlib.sha256(data).hexdigest()
    code, row = attach(db, cfg, world, data)
    sync_service.push(db, cfg, now_fn=now_utc)
    # Every chunk is well formed and matches its own hash, but together they are other bytes
    other = scan(len(data))
    offset = 0
    while offset < len(other):
        chunk = other[offset:offset + CHUNK_BYTES]
        envelope, me, state = _seal_chunk(cfg, db, sha, len(data), offset, chunk)
        resp = requests.post(hub.url + CHUNK_PATH, data=envelope, timeout=10,
                             headers={"Content-Type": "application/octet-stream"})
        assert resp.status_code == 200, resp.text
        answer = sync_service._open_reply(resp.content, me, state, "att_state").records[0]
        offset += len(chunk)
    assert answer["status"] == "mismatch" and answer["next_offset"] == 0
    con = hub_db(hub)
    assert con.execute("SELECT count(*) FROM hub_files").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM hub_uploads").fetchone()[0] == 0
    assert "hash_mismatch" in [r[0] for r in con.execute("SELECT code FROM rejections")]
    con.close()
    assert hub_file(hub, sha) is None
    assert not list((hub.home / "staging").rglob("*.part"))
    assert "Đang chờ nhận tệp" in hub.get(f"/dossiers/{code}").text
    # the real bytes still go through afterwards
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    assert hub_file(hub, sha) == data


def test_staging_damaged_at_the_hub_is_discarded_and_the_node_says_so(linked, cfg, db, app):
    from tests.conftest import login

    hub, world = linked
    data = scan(2 * CHUNK_BYTES + 99)
    sha = hashlib.sha256(data).hexdigest()
    code, row = attach(db, cfg, world, data)
    proxy = FaultProxy(hub.port)
    point_node_at(db, proxy.url)
    count = []

    def damage_staging(path):
        if path == CHUNK_PATH:
            count.append(path)
            if len(count) == 2:  # the hub's disk flips a byte of what it already holds
                part = next((hub.home / "staging").rglob("*.part"))
                raw = bytearray(part.read_bytes())
                raw[100] ^= 0xFF
                part.write_bytes(bytes(raw))
        return None

    try:
        proxy.rule = damage_staging
        report = sync_service.sync_once(db, cfg, now_fn=now_utc)
        assert report.attachments["mismatch"] == 1
        assert hub_file(hub, sha) is None
        stored = db.conn.execute("SELECT transfer_state, sent_bytes, transfer_error FROM"
                                 " attachments").fetchone()
        assert stored[0] == "pending" and stored[1] == 0 and "không khớp" in stored[2]
        from edge_node.services.accounts import create_user

        create_user(db, username="xem", role="clerk", password="mat-khau-xem-1", must_change=False,
                    now=now_utc(), actor="test")
        client = app.test_client()
        assert login(client, "xem", "mat-khau-xem-1").status_code == 302
        assert "mã kiểm tra (SHA-256) không khớp" in client.get(f"/dossiers/{code}").get_data(
            as_text=True)
        proxy.rule = None
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
        assert hub_file(hub, sha) == data
    finally:
        proxy.close()


def test_usb_round_trip_carries_the_attachment_chunks(tmp_path, cfg, db):
    from tests.integration.lifecycle_helpers import World, vn
    from tests.integration.sync_helpers import Hub, hub_cli, node_cli

    hub = Hub(tmp_path / "hub").start()
    assert node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                    hub.enroll_code()).returncode == 0
    hub.stop()  # the link is off for weeks
    world = World(db, vn(2026, 12, 7, 8, 0))
    data = scan(2 * CHUNK_BYTES + 4321)
    sha = hashlib.sha256(data).hexdigest()
    code, _ = attach(db, cfg, world, data)
    stick = tmp_path / "usb"
    stick.mkdir()
    out = node_cli(cfg.home, "sync", "export", "--out", str(stick / "xa.edgesync"))
    assert out.returncode == 0, out.stderr
    assert "Included 1 attachment files" in out.stdout
    reply = stick / "tinh.edgesync"
    imported = hub_cli(hub.home, "import", str(stick / "xa.edgesync"), "--out", str(reply))
    assert imported.returncode == 0, imported.stderr
    assert hub_file(hub, sha) == data
    again = hub_cli(hub.home, "import", str(stick / "xa.edgesync"), "--out",
                    str(stick / "again.edgesync"))
    assert again.returncode == 0 and hub_file(hub, sha) == data  # harmless twice
    applied = node_cli(cfg.home, "sync", "import", str(reply))
    assert applied.returncode == 0, applied.stderr
    assert db.conn.execute("SELECT transfer_state FROM attachments").fetchone()[0] == "sent"
    assert node_cli(cfg.home, "sync", "import", str(stick / "again.edgesync")).returncode == 0
    hub.start()
    try:
        assert "✓ Đã nhận, mã kiểm tra khớp" in hub.get(f"/dossiers/{code}").text
    finally:
        hub.stop()


def test_hub_restored_from_an_older_backup_gets_the_file_again(linked, cfg, db, tmp_path):
    import shutil

    hub, world = linked
    backup = synced_then_hub_backup(hub, world, cfg, db, tmp_path / "hub-backup.db",
                                    dossiers=1)
    data = scan(CHUNK_BYTES + 3)
    sha = hashlib.sha256(data).hexdigest()
    attach(db, cfg, world, data)
    assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
    assert hub_file(hub, sha) == data
    assert db.conn.execute("SELECT transfer_state FROM attachments").fetchone()[0] == "sent"
    hub.stop()
    # the province restores yesterday's backup: database and file store from before the file
    hub.restore(backup)
    shutil.rmtree(hub.home / "attachments")
    hub.start()
    world.receive()  # the clerks go on working; the next batch shows the hub is behind
    for _ in range(3):
        if sync_service.sync_once(db, cfg, now_fn=now_utc).error is None and \
                db.conn.execute("SELECT transfer_state FROM attachments").fetchone()[0] == "sent":
            break
    assert hub_file(hub, sha) == data
    con = hub_db(hub)
    assert con.execute("SELECT count(*) FROM hub_files WHERE sha256 = ?", (sha,)).fetchone()[0]
    con.close()


def test_a_file_the_hub_refuses_does_not_hold_back_the_others(linked, cfg, db, app):
    hub, world = linked
    hub.stop()
    settings_file = hub.home / "config.toml"  # may already name the hub's database
    settings_file.write_text((settings_file.read_text(encoding="utf-8") if settings_file.exists()
                              else "") + "attachment_max_mb = 1\n", encoding="utf-8")
    hub.start()
    big = scan(CHUNK_BYTES + 500)  # fine for the node (20 MB), too large for this hub
    small = scan(20_000)
    attach(db, cfg, world, big, "lon.pdf")
    attach(db, cfg, world, small, "nho.pdf")
    report = sync_service.sync_once(db, cfg, now_fn=now_utc)
    assert report.error is None and "pull" in report.stages
    assert report.attachments["refused"] == 1 and report.attachments["sent"] == 1
    assert hub_file(hub, hashlib.sha256(small).hexdigest()) == small
    assert hub_file(hub, hashlib.sha256(big).hexdigest()) is None
    state, error = db.conn.execute("SELECT transfer_state, transfer_error FROM attachments"
                                   " WHERE original_name = 'lon.pdf'").fetchone()
    assert state == "pending" and "quá lớn" in error


def test_node_killed_mid_file_resumes_where_the_hub_stands(linked, cfg, db):
    import subprocess
    import sys
    import time

    from tests.integration.sync_helpers import ENV

    hub, world = linked
    data = scan(5 * CHUNK_BYTES + 10)  # six chunks
    sha = hashlib.sha256(data).hexdigest()
    attach(db, cfg, world, data)
    proxy = FaultProxy(hub.port)
    point_node_at(db, proxy.url)
    node = subprocess.Popen([sys.executable, "-m", "edge_node", "--home", str(cfg.home), "sync",
                             "--once"], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    seen = []

    def kill_node_at_third(path):
        if path == CHUNK_PATH:
            seen.append(path)
            if len(seen) == 3:  # the third chunk still reaches the hub; the node is gone
                node.send_signal(signal.SIGKILL)
                node.wait(timeout=10)
        return None

    try:
        proxy.rule = kill_node_at_third
        node.wait(timeout=120)
        assert node.returncode == -signal.SIGKILL
        # the proxy still delivers the third chunk the dead node sent: wait until it landed
        for _ in range(100):
            con = hub_db(hub)
            held = con.execute("SELECT coalesce(max(received), 0) FROM hub_uploads").fetchone()
            con.close()
            if held[0] == 3 * CHUNK_BYTES:
                break
            time.sleep(0.1)
        assert held[0] == 3 * CHUNK_BYTES
        assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        proxy.rule, proxy.requests = None, []
        assert sync_service.sync_once(db, cfg, now_fn=now_utc).error is None
        assert len(chunk_requests(proxy)) == 3  # 4, 5 and 6: the hub kept the third
        assert hub_file(hub, sha) == data
        assert db.conn.execute("SELECT transfer_state FROM attachments").fetchone()[0] == "sent"
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
        proxy.close()


def test_attachments_converge_over_a_misbehaving_link(linked, cfg, db):
    hub, world = linked
    files = [scan(2 * CHUNK_BYTES + 17), scan(300_000), scan(CHUNK_BYTES)]
    for data in files:
        attach(db, cfg, world, data)
    proxy = FaultProxy(hub.port, seed=11)
    point_node_at(db, proxy.url)
    proxy.mode = "random"  # drop, delay, truncate, corrupt, duplicate, hang up
    try:
        for _ in range(25):
            sync_service.sync_once(db, cfg, now_fn=now_utc)  # may fail: that is the point
            if sync_service.status(db)["attachments"]["pending_files"] == 0:
                break
        proxy.mode = "pass"
        for _ in range(3):
            if sync_service.sync_once(db, cfg, now_fn=now_utc).error is None:
                break
        assert {"drop", "truncate", "corrupt", "duplicate", "hang_up"} & set(proxy.seen)
        for data in files:
            assert hub_file(hub, hashlib.sha256(data).hexdigest()) == data
        assert sync_service.status(db)["attachments"]["pending_files"] == 0
        con = hub_db(hub)
        assert con.execute("SELECT count(*) FROM hub_files").fetchone()[0] == len(files)
        assert con.execute("SELECT count(*) FROM hub_uploads").fetchone()[0] == 0
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
        assert sync_service.reconcile(db, cfg, now_fn=now_utc)["match"]
    finally:
        proxy.close()
