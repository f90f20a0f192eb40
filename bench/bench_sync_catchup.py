"""30 days offline (~1,500 dossiers, ~6,000 events) caught up through a thin, lossy link.

    python bench/bench_sync_catchup.py [--dossiers 1500] [--kbit 256] [--loss 0.02]
    python bench/bench_sync_catchup.py --quick        # 300 dossiers

A real node home (events written by the real services, spread over 30 days) enrolled with a
real ``sync-hub serve`` on loopback, reconciled with ``sync_once`` rounds through a
bench-local proxy that plays the link: every byte both ways is paced at ``--kbit`` and
counted (lost ones too), and each connection is lost with probability ``--loss`` — half of
the losses before the hub sees the request, half after it applied it (the node never hears
the ack and must resend; the hub must answer "duplicate").

Prints, for the edge-sync protocol and for a naive baseline that POSTs each event as JSON to
a tiny loopback receiver through the same lossy proxy (its wall time is computed from its
bytes at the link rate rather than waited for):

* wall time (target < 60 s), bytes on the wire per dossier;
* wire / envelope payload: bytes on the wire over the compressed payloads of the batches
  (``payload_len``: the JSON-lines records, event ids and sequence numbers included) — the
  cost of envelopes, acks, HTTP and retries (target ≤ 1.2);
* wire / zlib(event payloads): the figure this script printed first, over zlib-9 of the
  outbox ``payload`` texts only (no ids, numbers, kinds), i.e. bytes on the wire per byte of
  dossier facts;
* crypto share: time spent in ``seal``/``open_envelope`` (JSON, zlib, HPKE, Ed25519) on the
  node, plus the hub's share replayed in this process (open each batch, seal its ack), over
  the sync wall time; and of that the HPKE part alone (target < 5 %).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import tempfile
import threading
import time
import zlib
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_node.config import load_config  # noqa: E402
from edge_node.domain.clock import now_utc  # noqa: E402
from edge_node.services import sync as sync_service  # noqa: E402
from edge_node.services.node import init_home  # noqa: E402
from edge_node.store import outbox, settings  # noqa: E402
from edge_node.store.db import open_db, write_tx  # noqa: E402
from sync import protocol  # noqa: E402
from tests.faults.proxy import FaultProxy, _forward, _read_request  # noqa: E402
from tests.integration.lifecycle_helpers import World, vn  # noqa: E402
from tests.integration.sync_helpers import Hub, node_cli  # noqa: E402


class LinkProxy(FaultProxy):
    """A paced, lossy link: counts every byte both ways, including those of lost exchanges."""

    def __init__(self, upstream_port: int, *, seed: int, bytes_per_second: int, loss: float):
        super().__init__(upstream_port, seed=seed, bytes_per_second=bytes_per_second)
        self.loss = loss
        self.lost = 0
        self.exchanges = 0
        self._lock = threading.Lock()
        # per request path: [exchanges, wire bytes, envelope payload bytes of the answers]
        self.paths: dict[str, list[int]] = {}

    def _pace(self, size: int, path: str = "") -> None:
        with self._lock:
            self.wire_bytes += size
            self.paths.setdefault(path, [0, 0, 0])[1] += size
        if self.bytes_per_second:
            time.sleep(size / self.bytes_per_second)

    def _count(self, path: str, reply: bytes) -> None:
        """One more exchange on *path*; an answer that is an envelope adds its payload."""
        body = reply.partition(b"\r\n\r\n")[2]
        with self._lock:
            entry = self.paths.setdefault(path, [0, 0, 0])
            entry[0] += 1
            if body.startswith(protocol.MAGIC):
                entry[2] += envelope_payload_bytes(body)

    def _handle(self, conn: socket.socket) -> None:
        try:
            request = _read_request(conn)
            if not request:
                return
            path = request.split(b" ", 2)[1].decode("latin-1").rpartition("/")[2]
            self._pace(len(request), path)
            with self._lock:
                self.exchanges += 1
                roll = self.random.random()
            if roll < self.loss / 2:  # lost on the way in: the hub never sees it
                self.lost += 1
                self._count(path, b"")
                return
            try:
                reply = _forward(self.upstream, request)
            except OSError:
                return
            self._pace(len(reply), path)
            self._count(path, reply)
            if roll < self.loss:  # lost on the way back: applied, but the sender never hears
                self.lost += 1
                return
            conn.sendall(reply)
        except OSError:
            pass
        finally:
            conn.close()


class Timed:
    """Wraps functions of ``sync.protocol`` to add up the time spent in them."""

    def __init__(self, names: tuple[str, ...]):
        self.spent = dict.fromkeys(names, 0.0)
        self.saved = {name: getattr(protocol, name) for name in names}
        for name, func in self.saved.items():
            setattr(protocol, name, self._wrap(name, func))

    def _wrap(self, name, func):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - start
        return timed

    def restore(self) -> None:
        for name, func in self.saved.items():
            setattr(protocol, name, func)


def make_history(db, dossiers: int) -> int:
    world = World(db, vn(2026, 11, 2, 8, 0))
    start = vn(2026, 11, 2, 8, 0)
    for i in range(dossiers):  # ~4 events per dossier over 30 days
        world.now = start + timedelta(seconds=i * 30 * 86400 / dossiers)
        code = world.receive()["code"]
        world.act(code, "transfer", "canbo")
        world.act(code, "handover", "chuyenvien")
        world.act(code, "complete", "lanhdao")
    return db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]


def envelope_payload_bytes(envelope: bytes) -> int:
    header_len = int.from_bytes(envelope[8:12], "big")
    return json.loads(envelope[12:12 + header_len])["payload_len"]


def hub_replay(hub_home: Path, node_keys: protocol.PeerKeys, node_id: str,
               envelopes: list[bytes]) -> float:
    """The hub's envelope work for these batches: open each one, seal an ack like its own."""
    hub = protocol.load_identity(hub_home / "keys")
    hub_id = open_envelope_header(envelopes[0])["receiver"] if envelopes else ""
    start = time.perf_counter()
    for env in envelopes:
        opened = protocol.open_envelope(env, receiver=hub, receiver_id=hub_id,
                                        expected_sender={node_id: node_keys}.get)
        last = opened.header["last_seq"]
        protocol.seal([{"status": "applied", "acked_seq": last, "acked_event_id": "x" * 36,
                        "last_digest": opened.digest, "hub_time": "2026-12-01T00:00:00Z",
                        "applied": opened.header["count"], "conflicts": 0}],
                      sender=hub, receiver=node_keys, sender_id=hub_id, receiver_id=node_id,
                      batch_id=f"ack-{last}", first_seq=last, last_seq=last,
                      prev_hash=protocol.GENESIS_HASH, created_at="2026-12-01T00:00:00+00:00",
                      kind=protocol.KIND_ACK)
    return time.perf_counter() - start


def open_envelope_header(envelope: bytes) -> dict:
    header_len = int.from_bytes(envelope[8:12], "big")
    return json.loads(envelope[12:12 + header_len])


class _Receiver(BaseHTTPRequestHandler):
    """The naive baseline's server: one JSON event per POST, answered with a small JSON."""

    received: set[str] = set()

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        event = json.loads(body)
        self.received.add(event["event_id"])
        answer = json.dumps({"ok": True, "seq": event["seq"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        pass


def naive(events: list[dict], kbit: int, loss: float) -> dict:
    """POST each event as JSON through the same lossy link (unpaced; time from bytes)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = LinkProxy(server.server_address[1], seed=2, bytes_per_second=0, loss=loss)
    started = time.perf_counter()
    for event in events:
        while True:
            try:
                resp = requests.post(proxy.url + "/events", json=event, timeout=10)
                if resp.status_code == 200:
                    break
            except requests.RequestException:
                pass  # lost: send again
    took = time.perf_counter() - started
    proxy.close()
    server.shutdown()
    assert len(_Receiver.received) == len(events)
    return {"wire": proxy.wire_bytes, "lost": proxy.lost, "exchanges": proxy.exchanges,
            "wall": took + proxy.wire_bytes / (kbit * 1000 / 8)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1500)
    parser.add_argument("--kbit", type=int, default=256)
    parser.add_argument("--loss", type=float, default=0.02)
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--seed", type=int, default=1,
                        help="which exchanges the lossy link drops (a run loses ~2 of 82:"
                             " try several)")
    parser.add_argument("--quick", action="store_true", help="300 dossiers")
    args = parser.parse_args()
    if args.quick:
        args.dossiers = 300
    root = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    hub = Hub(root / "hub").start()
    try:
        cfg = load_config(root / "node", environ={})
        init_home(cfg)
        assert node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                        hub.enroll_code()).returncode == 0
        db = open_db(cfg.db_path)
        started = time.perf_counter()
        events = make_history(db, args.dossiers)
        make = time.perf_counter() - started
        rows = list(db.query(outbox.SELECT + " ORDER BY o.seq"))
        records = [{"seq": r["seq"], "event_id": r["event_id"], "kind": r["kind"],
                    "at": r["created_at"], "payload": outbox.payload_of(r)} for r in rows]
        facts = len(zlib.compress(b"".join(
            json.dumps(r["payload"], ensure_ascii=False, sort_keys=True).encode()
            for r in records), 9))
        proxy = LinkProxy(hub.port, seed=args.seed, bytes_per_second=args.kbit * 1000 // 8,
                          loss=args.loss)
        with write_tx(db):
            settings.put(db, "sync.hub_url", proxy.url)
        timed = Timed(("seal", "open_envelope", "_setup_base_s", "_hpke_open"))
        started = time.perf_counter()
        rounds = 0
        while sync_service.status(db)["pending_events"] and rounds < 100:
            sync_service.sync_once(db, cfg, now_fn=now_utc)
            rounds += 1
        wall = time.perf_counter() - started
        timed.restore()
        assert sync_service.status(db)["pending_events"] == 0
        proxy.close()
        envelopes = [bytes(r[0]) for r in db.conn.execute(
            "SELECT envelope FROM sync_batches ORDER BY first_seq")]
        payload = sum(envelope_payload_bytes(e) for e in envelopes)
        state = sync_service.enrolled(db)
        node_keys = sync_service.identity(cfg).public
        hub_hpke = Timed(("_hpke_open", "_setup_base_s"))
        hub_side = hub_replay(root / "hub", node_keys, state["node_id"], envelopes)
        hub_hpke.restore()
    finally:
        hub.stop()
        shutil.rmtree(root, ignore_errors=True)
    envelope_time = timed.spent["seal"] + timed.spent["open_envelope"] + hub_side
    hpke_time = (timed.spent["_setup_base_s"] + timed.spent["_hpke_open"]
                 + sum(hub_hpke.spent.values()))
    print(f"dossiers={args.dossiers} events={events} (written by the services in {make:.1f} s);"
          f" link {args.kbit} kbit/s, loss {args.loss:.0%} (seed {args.seed});"
          f" {len(envelopes)} batches")
    print("| method | wall s | wire bytes | bytes/dossier | lost exchanges | wire / envelope "
          "payload | wire / zlib(event payloads) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| edge-sync ({rounds} rounds) | {wall:.1f} | {proxy.wire_bytes:,} | "
          f"{proxy.wire_bytes / args.dossiers:.0f} | {proxy.lost}/{proxy.exchanges} | "
          f"{proxy.wire_bytes / payload:.2f} | {proxy.wire_bytes / facts:.2f} |")
    if not args.no_naive:
        base = naive(records, args.kbit, args.loss)
        print(f"| naive JSON POST per event (time from bytes) | {base['wall']:.0f} | "
              f"{base['wire']:,} | {base['wire'] / args.dossiers:.0f} | "
              f"{base['lost']}/{base['exchanges']} | – | {base['wire'] / facts:.2f} |")
    print(f"envelope payload {payload:,} B (compressed records); zlib-9 of the event "
          f"payload texts {facts:,} B; targets: wall < 60 s, wire/payload ≤ 1.2")
    feed = proxy.paths.get("pull", [0, 0, 0])[2]
    print("wire bytes by request (both directions, lost exchanges included):")
    print("| request | exchanges | wire bytes | share of wire | answers' envelope payload |")
    print("|---|---:|---:|---:|---:|")
    for name, (count, wire, answered) in sorted(proxy.paths.items(), key=lambda i: -i[1][1]):
        print(f"| {name} | {count} | {wire:,} | {wire / proxy.wire_bytes:.1%} | {answered:,} |")
    print(f"wire / all payload carried (the node's batches and the hub's feed pages, "
          f"{payload + feed:,} B): {proxy.wire_bytes / (payload + feed):.2f}; push exchanges "
          f"alone / batch payload: {proxy.paths.get('push', [0, 0])[1] / payload:.2f}")
    print("| envelope work (seal + open, node and hub) | share of sync wall | of which HPKE "
          "| share | target |")
    print("|---:|---:|---:|---:|---|")
    print(f"| {envelope_time * 1000:.0f} ms | {envelope_time / wall:.1%} | "
          f"{hpke_time * 1000:.1f} ms | {hpke_time / wall:.2%} | < 5 % |")


if __name__ == "__main__":
    main()
