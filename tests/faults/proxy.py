"""A misbehaving HTTP proxy on loopback, between a node and its hub.

One request per connection. Modes: ``pass``, ``drop`` (close without an
answer), ``delay`` (answer late), ``truncate`` (cut the answer short),
``corrupt`` (flip a byte of the answer body), ``duplicate`` (send the
request to the hub twice, answer with the second reply), ``hang_up``
(forward, then close before answering: the hub applied it, the node never
hears).

Beyond the random modes: ``corrupt_request`` flips a byte in the middle of the request
body (the hub must refuse it); ``rule(path) -> mode | None`` picks a mode per request
path once the request is read, and ``requests`` lists ``(path, body bytes, mode)`` of
every request, so tests can count what actually went on the wire.
"""

from __future__ import annotations

import random
import socket
import threading
import time

MODES = ("pass", "drop", "delay", "truncate", "corrupt", "duplicate", "hang_up")


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    # one request per connection: tell the hub to close after answering
    head = b"\r\n".join(line for line in head.split(b"\r\n")
                        if not line.lower().startswith(b"connection:"))
    return head + b"\r\nConnection: close\r\n\r\n" + body


def _forward(upstream: tuple[str, int], request: bytes) -> bytes:
    with socket.create_connection(upstream, timeout=30) as up:
        up.sendall(request)
        reply = b""
        while True:
            chunk = up.recv(65536)
            if not chunk:
                return reply
            reply += chunk


class FaultProxy:
    def __init__(self, upstream_port: int, seed: int = 0, bytes_per_second: int = 0):
        self.upstream = ("127.0.0.1", upstream_port)
        self.mode = "pass"
        self.random = random.Random(seed)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[str] = []
        self.bytes_per_second = bytes_per_second  # 0: unlimited
        self.wire_bytes = 0
        self.loss = 0.0  # chance that a connection is dropped (packet loss, roughly)
        self.rule = None  # path -> mode or None, applied after the request is read
        self.requests: list[tuple[str, int, str]] = []
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self.sock.close()

    def _throttle(self, size: int) -> None:
        self.wire_bytes += size
        if self.bytes_per_second:
            time.sleep(size / self.bytes_per_second)

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        mode = self.mode if self.mode != "random" else self.random.choice(MODES)
        if self.loss and self.random.random() < self.loss:
            mode = "drop"
        self.seen.append(mode)
        try:
            request = _read_request(conn)
            path = request.split(b" ", 2)[1].decode("latin-1") if request.count(b" ") > 1 \
                else ""
            if self.rule is not None:
                mode = self.rule(path) or mode
            head, _, body = request.partition(b"\r\n\r\n")
            self.requests.append((path, len(body), mode))
            if mode == "drop" or not request:
                return
            if mode == "corrupt_request" and len(body) > 200:
                at = len(body) // 2
                request = head + b"\r\n\r\n" + body[:at] + bytes([body[at] ^ 0x01]) + \
                    body[at + 1:]
            try:
                reply = _forward(self.upstream, request)
                if mode == "duplicate":
                    reply = _forward(self.upstream, request)
            except OSError:
                return  # hub down: the node sees the connection close
            self._throttle(len(request) + len(reply))
            if mode == "hang_up":
                return
            if mode == "delay":
                time.sleep(0.3)
            if mode == "truncate":
                reply = reply[: max(1, len(reply) * 2 // 3)]
            if mode == "corrupt" and len(reply) > 200:
                at = self.random.randrange(len(reply) - 100, len(reply))
                reply = reply[:at] + bytes([reply[at] ^ 0x20]) + reply[at + 1:]
            conn.sendall(reply)
        except OSError:
            pass
        finally:
            conn.close()
