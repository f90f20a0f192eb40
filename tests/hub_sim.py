"""Simulated commune nodes and several real ``sync-hub serve`` processes on one database.

A :class:`SimNode` speaks the real protocol (``sync.protocol`` seals and opens every
envelope; the node's own rules for acks, gaps and resends) without a node home: its
events live in memory. It sends each request to any hub process, and on a dead process
re-sends the same envelope to another one, as a node behind a load balancer would.
Used by tests/integration/test_hub_processes.py and bench/bench_hub_backends.py.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from sync import protocol
from sync.reconcile import compare, day_digests

OCTET = {"Content-Type": "application/octet-stream"}
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_NODE_", "SYNC_HUB_"))}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "sync", "--home", str(home), *args],
                         capture_output=True, text=True, timeout=120, env=ENV)
    assert out.returncode == 0, out.stderr
    return out


def prepare_home(home: Path, database_url: str = "", threads: int = 8) -> None:
    """A hub home (config, schema, keys) that several processes can serve at once."""
    home.mkdir(parents=True, exist_ok=True)
    lines = [f"threads = {threads}"] + ([f'database_url = "{database_url}"'] if database_url
                                        else [])
    (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    hub_cli(home, "migrate")  # schema and keys once, before the processes race to create them


class HubProcess:
    """One ``sync-hub serve`` on its own port, over a shared home."""

    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> HubProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync", "--home", str(self.home), "serve", "--port",
             str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=ENV)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stderr.read())
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("hub process did not start")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc.stderr.close()

    def stop(self) -> None:
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and not self.proc.stderr.closed:
            self.proc.stderr.close()


class Unreachable(Exception):
    """No hub process answered."""


class SimNode:
    """A node's sync state in memory: events with sequence numbers, one batch in flight."""

    def __init__(self, name: str, rng: random.Random, start: datetime):
        self.name = name
        self.rng = rng
        self.me = protocol.generate_identity()
        self.events: list[dict] = []
        self.clock = start
        self.node_id = ""
        self.hub_id = ""
        self.hub_keys: protocol.PeerKeys | None = None
        self.acked = 0
        self.prev_hash = protocol.GENESIS_HASH
        self.stored: dict | None = None  # the sealed batch awaiting its ack
        self.feed: list[dict] = []  # feed items read, in order
        self.requests = self.retries = 0

    # -- the node's work ------------------------------------------------------------------

    def work(self, count: int) -> None:
        """Record *count* new events: dossier events and a few other kinds."""
        for _ in range(count):
            seq = len(self.events) + 1
            self.clock += timedelta(minutes=self.rng.randint(5, 400))
            at = self.clock.strftime("%Y-%m-%dT%H:%M:%SZ")
            if self.rng.random() < 0.8:
                n = self.rng.randint(1, max(1, seq // 3))
                payload = {"dossier_code": f"PN-{self.name}-{n}", "type": "transfer",
                           "at": at, "actor": "canbo",
                           "set": {"status": self.rng.choice(["received", "processing",
                                                              "completed"]),
                                   "updated_at": at}}
                kind = "dossier.event"
            else:
                payload, kind = {"note": f"{self.name} {seq}"}, "note"
            self.events.append({"seq": seq, "event_id": uuid.uuid4().hex, "kind": kind,
                                "at": at, "payload": payload})

    # -- HTTP to any process ------------------------------------------------------------

    def post(self, urls: list[str], path: str, **kwargs) -> requests.Response:
        """POST to a random process; a dead one (refused, reset, timeout) means try another."""
        order = self.rng.sample(urls, len(urls))
        for attempt in range(40):
            url = order[attempt % len(order)]
            self.requests += 1
            try:
                return requests.post(url + path, timeout=30, **kwargs)
            except requests.RequestException:
                self.retries += 1
                time.sleep(0.05)
        raise Unreachable(self.name)

    def enroll(self, urls: list[str], code: str) -> None:
        resp = self.post(urls, "/api/v1/enroll", json={
            "code": code, "node_bundle": protocol.public_bundle(self.me), "label": self.name})
        assert resp.status_code == 201, resp.text
        body = resp.json()
        self.node_id, self.hub_id = body["node_id"], body["hub_id"]
        self.hub_keys = protocol.PeerKeys.from_bundle(body["hub_bundle"])

    def _seal(self, records: list[dict], kind: str, first: int, last: int,
              prev_hash: str = protocol.GENESIS_HASH) -> bytes:
        return protocol.seal(records, sender=self.me, receiver=self.hub_keys,
                             sender_id=self.node_id, receiver_id=self.hub_id,
                             batch_id=uuid.uuid4().hex, first_seq=first, last_seq=last,
                             prev_hash=prev_hash, created_at=datetime.now(UTC).isoformat(),
                             kind=kind)

    def _open(self, data: bytes, kind: str) -> protocol.Opened:
        opened = protocol.open_envelope(data, receiver=self.me, receiver_id=self.node_id,
                                        expected_sender=self.hub_keys)
        assert opened.header["kind"] == kind
        return opened

    def next_batch(self, size: int) -> dict | None:
        """The stored batch, or a new one sealed after it (the node's ``_next_batch``)."""
        if self.stored is None:
            chunk = self.events[self.acked:self.acked + size]
            if not chunk:
                return None
            env = self._seal(chunk, protocol.KIND_BATCH, chunk[0]["seq"], chunk[-1]["seq"],
                             self.prev_hash)
            self.stored = {"envelope": env, "first": chunk[0]["seq"], "last": chunk[-1]["seq"]}
            self.prev_hash = protocol.envelope_digest(env)
        return self.stored

    def push_once(self, urls: list[str], size: int = 20) -> bool:
        """Send one batch and apply its ack; False when everything is acknowledged."""
        batch = self.next_batch(size)
        if batch is None:
            return False
        resp = self.post(urls, "/api/v1/sync/push", data=batch["envelope"], headers=OCTET)
        if resp.status_code >= 500:
            return True  # the same envelope again on the next round
        assert resp.status_code == 200, resp.text
        ack = self._open(resp.content, protocol.KIND_ACK).records[0]
        self.apply_ack(ack)
        return True

    def apply_ack(self, ack: dict) -> None:
        acked = int(ack["acked_seq"])
        if acked:  # the hub names the event it holds there: it must be ours
            assert ack["acked_event_id"] == self.events[acked - 1]["event_id"], ack
        if ack.get("resend_from") is not None:
            self.stored = None
            self.acked = acked
            self.prev_hash = ack["last_digest"]
            return
        self.acked = max(self.acked, acked)
        if self.stored and self.acked >= self.stored["last"]:
            self.stored = None
            self.prev_hash = ack["last_digest"]

    def push_all(self, urls: list[str], size: int = 20) -> None:
        for _ in range(10_000):
            if not self.push_once(urls, size):
                return
        raise AssertionError(f"{self.name}: the hub never acknowledged everything")

    def pull(self, urls: list[str]) -> int:
        """Read the feed after the cursor; every item must come once, in order."""
        since = self.feed[-1]["seq"] if self.feed else 0
        env = self._seal([{"since": since}], "pull", 0, 0)
        resp = self.post(urls, "/api/v1/sync/pull", data=env, headers=OCTET)
        if resp.status_code >= 500:
            return 0
        assert resp.status_code == 200, resp.text
        items = self._open(resp.content, protocol.KIND_FEED).records
        assert [i["seq"] for i in items] == list(range(since + 1, since + 1 + len(items)))
        self.feed.extend(items)
        return len(items)

    def reconcile(self, urls: list[str]) -> dict:
        """Compare per-day digests of the acknowledged events with the hub's."""
        ours = day_digests((e["at"], e["event_id"], e["kind"], e["payload"])
                           for e in self.events[:self.acked])
        env = self._seal([{"date": d, "digest": v} for d, v in ours.items()], "reconcile", 0, 0)
        resp = self.post(urls, "/api/v1/sync/reconcile", data=env, headers=OCTET)
        assert resp.status_code == 200, resp.text
        theirs = {r["date"]: r["digest"] for r in self._open(resp.content, "reconcile").records}
        return compare(ours, theirs)
