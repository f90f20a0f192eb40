"""USB / file transport: several envelopes in one file, checked whole before use.

Layout: ``EDGEUSB1`` magic, then for each envelope a 4-byte big-endian length
and the envelope bytes, then the SHA-256 of everything before it, so a
truncated or damaged file is refused before any envelope is opened. The
envelopes inside are the same bytes that travel over HTTP.
"""

from __future__ import annotations

import hashlib
import struct

from sync.protocol import ProtocolError

FILE_MAGIC = b"EDGEUSB1"
MAX_FILE_BYTES = 512 * 1024 * 1024
_LEN = struct.Struct(">I")


def write_bundle(envelopes: list[bytes]) -> bytes:
    """Pack envelopes into one file body."""
    parts = [FILE_MAGIC]
    for env in envelopes:
        parts += [_LEN.pack(len(env)), env]
    body = b"".join(parts)
    return body + hashlib.sha256(body).digest()


def read_bundle(data: bytes) -> list[bytes]:
    """Unpack a file body; raise ``ProtocolError("bad_file", …)`` if anything is off."""
    if len(data) > MAX_FILE_BYTES:
        raise ProtocolError("bad_file", "file too large")
    if len(data) < len(FILE_MAGIC) + 32 or not data.startswith(FILE_MAGIC):
        raise ProtocolError("bad_file", "not an edge-sync file")
    body, digest = data[:-32], data[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise ProtocolError("bad_file", "file is truncated or damaged (checksum mismatch)")
    out, at = [], len(FILE_MAGIC)
    while at < len(body):
        if at + 4 > len(body):
            raise ProtocolError("bad_file", "truncated length")
        (size,) = _LEN.unpack_from(body, at)
        at += 4
        if at + size > len(body):
            raise ProtocolError("bad_file", "truncated envelope")
        out.append(body[at:at + size])
        at += size
    return out
