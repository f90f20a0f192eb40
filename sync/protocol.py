"""Edge-sync envelope shared by the commune node and the provincial hub.

Pure: no Flask, no SQL, no network. The same bytes travel over HTTP or as a file on a USB stick.
The layout, the verification order and the error codes are described in ``docs/sync-protocol.md``.

An envelope is *verify before decrypt* (architecture rule 5): size, framing, the clear header,
version, receiver, sender and the Ed25519 signature are all checked before a single byte of the
payload is decrypted, decompressed or parsed.

Crypto suite: HPKE (RFC 9180) base mode, single shot, DHKEM(X25519, HKDF-SHA256) + HKDF-SHA256 +
AES-256-GCM, ``info = b"edge-sync v1"``, ``aad = the exact header bytes``; then Ed25519 over
everything before the signature.

Why HPKE is written out here instead of ``cryptography.hazmat.primitives.hpke.Suite``: in
``cryptography`` 48 the public ``Suite.encrypt(plaintext, public_key, info)`` takes no associated
data and generates the encapsulated key inside the call (it returns ``enc || ciphertext``). Our
header carries ``enc`` *and* is the AAD, so the encapsulation must happen before the AEAD call.
The ~30 lines below follow RFC 9180 sections 4, 4.1 and 5.1 literally; the tests check that
``Suite.decrypt`` opens what they seal and vice versa (with empty AAD), so the two agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import re
import struct
import unicodedata
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

# --- Versions and limits ---------------------------------------------------------------------

PROTOCOL_VERSION = 1
#: Versions this code opens. A v2 can coexist: ``v`` is in the clear header and checked first.
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
MAGIC = b"EDGESYNC"
HPKE_INFO = b"edge-sync v1"
MAX_HEADER_BYTES = 4 * 1024
#: Default receiver limit for a whole envelope; a transport may pass its own ``max_bytes``.
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024
#: Decompressed payload cap (decompression-bomb guard); :func:`seal` refuses more.
MAX_PLAINTEXT_BYTES = 50 * 1024 * 1024
#: zlib, not lzma: several times faster on the clerk's PC for a few percent more bytes, and
#: ``decompressobj(max_length)`` gives an exact bomb guard.
ZLIB_LEVEL = 9
SIGNATURE_BYTES = 64
TAG_BYTES = 16
ENC_BYTES = 32
#: ``prev_hash`` of a sender's first envelope.
GENESIS_HASH = "0" * 64

KIND_BATCH = "batch"  # node -> hub: events first_seq..last_seq, one record per seq
KIND_ACK = "ack"
KIND_FEED = "feed"  # hub -> node: catalog, calendar, online dossiers, facts for the owner

# --- Verification stages, in the order open_envelope runs them ---------------------------------

STAGE_SIZE = "size"
STAGE_FRAME = "frame"
STAGE_HEADER = "header"
STAGE_VERSION = "version"
STAGE_RECEIVER = "receiver"
STAGE_SENDER = "sender"
STAGE_SIGNATURE = "signature"
STAGE_ACCEPT = "accept"  # the caller's before_decrypt hook: sequence, prev_hash, duplicates
STAGE_DECRYPT = "decrypt"
STAGE_PAYLOAD = "payload"
STAGES: tuple[str, ...] = (
    STAGE_SIZE, STAGE_FRAME, STAGE_HEADER, STAGE_VERSION, STAGE_RECEIVER, STAGE_SENDER,
    STAGE_SIGNATURE, STAGE_ACCEPT, STAGE_DECRYPT, STAGE_PAYLOAD,
)

#: Stable error codes and the stage that raises each one.
ERROR_CODES: dict[str, str] = {
    "too_large": STAGE_SIZE,
    "bad_magic": STAGE_FRAME,
    "truncated": STAGE_FRAME,
    "trailing_data": STAGE_FRAME,
    "bad_header": STAGE_HEADER,
    "unsupported_version": STAGE_VERSION,
    "wrong_receiver": STAGE_RECEIVER,
    "unknown_sender": STAGE_SENDER,
    "revoked_sender": STAGE_SENDER,
    "unknown_key": STAGE_SENDER,
    "bad_signature": STAGE_SIGNATURE,
    "decrypt_failed": STAGE_DECRYPT,
    "payload_too_large": STAGE_PAYLOAD,
    "bad_payload": STAGE_PAYLOAD,
}


def version_problem(version: int) -> str:
    """Why *version* is outside the window this code speaks, said so a person knows what to
    upgrade (the window is ``min(SUPPORTED_VERSIONS)..max(SUPPORTED_VERSIONS)``)."""
    low, high = min(SUPPORTED_VERSIONS), max(SUPPORTED_VERSIONS)
    if version > high:
        return (f"protocol version {version} is newer than this side supports ({low}..{high}):"
                " upgrade this side (the hub first, then the nodes)")
    if version < low:
        return (f"protocol version {version} is older than this side supports ({low}..{high}):"
                " upgrade the sender's edge-node")
    return f"protocol version {version} is not one of {SUPPORTED_VERSIONS}"


class ProtocolError(Exception):
    """An envelope was refused.

    :param code: stable machine code, one of :data:`ERROR_CODES` (or the caller's own code when
        raised from a ``before_decrypt`` hook).
    :param message: human explanation, safe to log (never contains payload data).
    :param stage: verification stage; derived from *code* when omitted.
    """

    def __init__(self, code: str, message: str, stage: str | None = None) -> None:
        self.code = code
        self.message = message
        self.stage = stage or ERROR_CODES.get(code, STAGE_ACCEPT)
        super().__init__(f"{code} ({self.stage}): {message}")


# --- Canonical JSON --------------------------------------------------------------------------


def canonical_json(obj: Any) -> bytes:
    """Serialise *obj* as canonical JSON: sorted keys, no spaces, UTF-8, NFC strings.

    Refuses NaN and infinities, non-string keys and keys that collide once NFC-normalised.
    Finite floats are allowed but discouraged (money is integer dong).

    :raises ValueError, TypeError: when *obj* has no canonical form.
    """
    return json.dumps(
        _canon(obj), ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _canon(value: Any) -> Any:
    if isinstance(value, str):
        # Vietnamese typed on different keyboards arrives NFC or NFD; one form, one signature.
        return unicodedata.normalize("NFC", value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN and infinity have no JSON form")
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
            nkey = unicodedata.normalize("NFC", key)
            if nkey in out:
                raise ValueError(f"keys collide after NFC normalisation: {nkey!r}")
            out[nkey] = _canon(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_canon(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not JSON")


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for every record (as json.loads does for its defaults): building one per call
# was a tenth of the parsing time of a 1,000-record batch on the hub.
_DECODER = json.JSONDecoder(object_pairs_hook=_strict_object, parse_constant=_no_constant)


def _loads(text: str) -> Any:
    if text.startswith("\ufeff"):  # what json.loads refuses before decoding
        raise json.JSONDecodeError("Unexpected UTF-8 BOM", text, 0)
    return _DECODER.decode(text)


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


_B64_RE = re.compile(r"[A-Za-z0-9_-]*")


def _b64d(text: str) -> bytes:
    """Strict unpadded base64url: one text for one byte string."""
    if not _B64_RE.fullmatch(text):
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64e(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


# --- Identities ------------------------------------------------------------------------------


def key_id(public_raw: bytes) -> str:
    """Key id: first 16 hex digits of sha256 of the raw 32-byte public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _raw(key: ed25519.Ed25519PublicKey | x25519.X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class PeerKeys:
    """The pinned public keys of a peer (node or hub); ``revoked`` peers are refused."""

    sign_pub: ed25519.Ed25519PublicKey = field(repr=False)
    enc_pub: x25519.X25519PublicKey = field(repr=False)
    revoked: bool = False

    @property
    def sig_key_id(self) -> str:
        return key_id(_raw(self.sign_pub))

    @property
    def enc_key_id(self) -> str:
        return key_id(_raw(self.enc_pub))

    def to_bundle(self) -> dict[str, Any]:
        """The public bundle exchanged at enrollment (see :func:`public_bundle`)."""
        return {
            "v": PROTOCOL_VERSION,
            "sig_alg": "ed25519",
            "sig_key": _b64e(_raw(self.sign_pub)),
            "sig_key_id": self.sig_key_id,
            "enc_alg": "x25519",
            "enc_key": _b64e(_raw(self.enc_pub)),
            "enc_key_id": self.enc_key_id,
        }

    @classmethod
    def from_bundle(cls, bundle: Mapping[str, Any], *, revoked: bool = False) -> PeerKeys:
        """Pin a peer from its public bundle; key ids must match the keys (catches typos).

        :raises ValueError: on a malformed bundle or a key id that does not match its key.
        """
        try:
            if bundle["sig_alg"] != "ed25519" or bundle["enc_alg"] != "x25519":
                raise ValueError("unsupported key algorithm")
            sign_raw, enc_raw = _b64d(bundle["sig_key"]), _b64d(bundle["enc_key"])
            if len(sign_raw) != 32 or len(enc_raw) != 32:
                raise ValueError("public keys are 32 bytes")
            peer = cls(
                ed25519.Ed25519PublicKey.from_public_bytes(sign_raw),
                x25519.X25519PublicKey.from_public_bytes(enc_raw),
                revoked,
            )
            if (bundle["sig_key_id"], bundle["enc_key_id"]) != (peer.sig_key_id, peer.enc_key_id):
                raise ValueError("key id does not match its key")
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed public bundle: {exc!r}") from exc
        return peer


@dataclass(frozen=True)
class Identity:
    """Our own key pairs: Ed25519 to sign, X25519 to receive. Ids are given at enrollment."""

    sign_key: ed25519.Ed25519PrivateKey = field(repr=False)
    enc_key: x25519.X25519PrivateKey = field(repr=False)

    @property
    def public(self) -> PeerKeys:
        return PeerKeys(self.sign_key.public_key(), self.enc_key.public_key())

    @property
    def sig_key_id(self) -> str:
        return key_id(_raw(self.sign_key.public_key()))

    @property
    def enc_key_id(self) -> str:
        return key_id(_raw(self.enc_key.public_key()))


def generate_identity() -> Identity:
    """Fresh key pairs (a re-install is a new identity, never a clone: rule 6)."""
    return Identity(ed25519.Ed25519PrivateKey.generate(), x25519.X25519PrivateKey.generate())


def public_bundle(identity: Identity) -> dict[str, Any]:
    """Public keys (base64url, unpadded) and their key ids, for enrollment."""
    return identity.public.to_bundle()


SIGN_KEY_FILE = "sign_ed25519.pem"
ENC_KEY_FILE = "enc_x25519.pem"
BUNDLE_FILE = "public.json"


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: an identity is never silently overwritten; mode set at creation, not after.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    with os.fdopen(fd, "wb") as handle:
        if hasattr(os, "fchmod"):
            os.fchmod(handle.fileno(), mode)  # the umask may have narrowed it oddly
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def save_identity(identity: Identity, directory: str | os.PathLike[str]) -> None:
    """Write the identity as PKCS#8 PEM private keys (mode 0o600) and ``public.json``.

    :raises FileExistsError: if any identity file is already there.
    """
    folder = Path(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = [folder / SIGN_KEY_FILE, folder / ENC_KEY_FILE, folder / BUNDLE_FILE]
    for path in paths:
        if path.exists():
            raise FileExistsError(f"{path} exists; an identity is never overwritten")
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    plain = serialization.NoEncryption()
    _write_new(paths[0], identity.sign_key.private_bytes(pem, pkcs8, plain), 0o600)
    _write_new(paths[1], identity.enc_key.private_bytes(pem, pkcs8, plain), 0o600)
    # Written last: its presence marks a complete identity.
    _write_new(paths[2], canonical_json(public_bundle(identity)) + b"\n", 0o644)


def load_identity(directory: str | os.PathLike[str]) -> Identity:
    """Load an identity written by :func:`save_identity`.

    :raises PermissionError: (POSIX) if a private key file is readable by group or others.
    :raises ValueError: if a file holds the wrong key type or ``public.json`` does not match.
    """
    folder = Path(directory)
    keys = []
    for name in (SIGN_KEY_FILE, ENC_KEY_FILE):
        path = folder / name
        if os.name == "posix" and path.stat().st_mode & 0o077:
            raise PermissionError(f"{path} is readable by others; chmod 600 it")
        keys.append(serialization.load_pem_private_key(path.read_bytes(), password=None))
    sign_key, enc_key = keys
    if not isinstance(sign_key, ed25519.Ed25519PrivateKey):
        raise ValueError(f"{SIGN_KEY_FILE} is not an Ed25519 private key")
    if not isinstance(enc_key, x25519.X25519PrivateKey):
        raise ValueError(f"{ENC_KEY_FILE} is not an X25519 private key")
    identity = Identity(sign_key, enc_key)
    bundle_path = folder / BUNDLE_FILE
    if bundle_path.exists() and json.loads(bundle_path.read_bytes()) != public_bundle(identity):
        raise ValueError(f"{bundle_path} does not match the private keys")
    return identity


# --- HPKE, RFC 9180 base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM ----------

_KEM_SUITE = b"KEM" + struct.pack(">H", 0x0020)
_HPKE_SUITE = b"HPKE" + struct.pack(">HHH", 0x0020, 0x0001, 0x0002)


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    # HKDF-Extract(salt, ikm) = HMAC(salt, ikm); an empty salt is HashLen zero bytes.
    return hmac.new(salt, b"HPKE-v1" + suite + label + ikm, hashlib.sha256).digest()


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled = struct.pack(">H", length) + b"HPKE-v1" + suite + label + info
    return HKDFExpand(hashes.SHA256(), length, labeled).derive(prk)


def _dh_secret(dh: bytes, enc: bytes, pk_rm: bytes) -> bytes:
    prk = _labeled_extract(_KEM_SUITE, b"", b"eae_prk", dh)
    return _labeled_expand(_KEM_SUITE, prk, b"shared_secret", enc + pk_rm, 32)


def _key_schedule(shared_secret: bytes, info: bytes) -> tuple[AESGCM, bytes]:
    psk_id_hash = _labeled_extract(_HPKE_SUITE, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(_HPKE_SUITE, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash  # mode_base
    secret = _labeled_extract(_HPKE_SUITE, shared_secret, b"secret", b"")
    key = _labeled_expand(_HPKE_SUITE, secret, b"key", context, 32)
    base_nonce = _labeled_expand(_HPKE_SUITE, secret, b"base_nonce", context, 12)
    return AESGCM(key), base_nonce  # single shot: sequence 0, nonce = base_nonce


def _setup_base_s(pk_r: x25519.X25519PublicKey, info: bytes) -> tuple[bytes, AESGCM, bytes]:
    """SetupBaseS: ``(enc, aead, nonce)``; enc is known before sealing, so it can be in the AAD."""
    sk_e = x25519.X25519PrivateKey.generate()
    enc = _raw(sk_e.public_key())
    shared = _dh_secret(sk_e.exchange(pk_r), enc, _raw(pk_r))
    return (enc, *_key_schedule(shared, info))


def _hpke_open(
    enc: bytes, sk_r: x25519.X25519PrivateKey, info: bytes, aad: bytes, ciphertext: bytes
) -> bytes:
    """SetupBaseR + Open. The only place a payload is decrypted.

    :raises ValueError: bad or low-order ``enc``. :raises InvalidTag: wrong key, AAD or bytes.
    """
    pk_e = x25519.X25519PublicKey.from_public_bytes(enc)
    shared = _dh_secret(sk_r.exchange(pk_e), enc, _raw(sk_r.public_key()))
    aead, nonce = _key_schedule(shared, info)
    return aead.decrypt(nonce, ciphertext, aad)


# --- Payload ---------------------------------------------------------------------------------


def _compress(plaintext: bytes) -> bytes:
    return zlib.compress(plaintext, ZLIB_LEVEL)


def _decompress(blob: bytes, cap: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(blob, cap + 1)  # never inflate more than cap + 1 bytes
    except zlib.error as exc:
        raise ProtocolError("bad_payload", f"not a zlib stream: {exc}") from None
    if len(out) > cap or inflater.unconsumed_tail:
        raise ProtocolError("payload_too_large", f"payload inflates beyond {cap} bytes")
    if not inflater.eof or inflater.unused_data:
        raise ProtocolError("bad_payload", "incomplete zlib stream or bytes after it")
    return out


def _parse_records(plaintext: bytes, count: int) -> list[dict[str, Any]]:
    return _parse_lines(plaintext, count)[0]


def _parse_lines(plaintext: bytes, count: int) -> tuple[list[dict[str, Any]], list[str]]:
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("bad_payload", "payload is not UTF-8") from None
    if not text:
        lines: list[str] = []
    elif text.endswith("\n"):
        lines = text[:-1].split("\n")  # canonical JSON escapes every newline inside strings
    else:
        raise ProtocolError("bad_payload", "JSON lines must end with a newline")
    if len(lines) != count:
        raise ProtocolError("bad_payload", f"header says {count} records, payload has {len(lines)}")
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = _loads(line)
        except (ValueError, RecursionError):
            raise ProtocolError("bad_payload", f"line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise ProtocolError("bad_payload", f"line {number} is not a JSON object")
        records.append(record)
    return records, lines


# --- Header ----------------------------------------------------------------------------------

HEADER_FIELDS: dict[str, type] = {
    "v": int,
    "kind": str,
    "sender": str,
    "receiver": str,
    "batch_id": str,
    "first_seq": int,
    "last_seq": int,
    "prev_hash": str,
    "created_at": str,
    "payload_len": int,
    "count": int,
    "sig_key_id": str,
    "enc_key_id": str,
    "enc": str,
}
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # node ids, agency ids, UUIDs, ULIDs
_HASH_RE = re.compile(r"[0-9a-f]{64}")
_KEY_ID_RE = re.compile(r"[0-9a-f]{16}")


def _header_problem(header: Mapping[str, Any]) -> str | None:
    """Why a v1 header is malformed, or None. Shared by seal and open so they never disagree."""
    if set(header) != set(HEADER_FIELDS):
        return f"fields must be exactly {sorted(HEADER_FIELDS)}"
    for name, kind in HEADER_FIELDS.items():
        if type(header[name]) is not kind:  # not isinstance: a bool is not a sequence number
            return f"{name} must be {kind.__name__}"
    if not _KIND_RE.fullmatch(header["kind"]):
        return "bad kind"
    for name in ("sender", "receiver", "batch_id"):
        if not _ID_RE.fullmatch(header[name]):
            return f"bad {name}"
    first, last, count = header["first_seq"], header["last_seq"], header["count"]
    if first < 0 or last < first - 1 or count < 0 or header["payload_len"] < 0:
        return "bad sequence range or length"
    if header["kind"] == KIND_BATCH and count != last - first + 1:
        return "a batch carries exactly one record per sequence number"
    if not _HASH_RE.fullmatch(header["prev_hash"]):
        return "prev_hash must be 64 lowercase hex digits"
    if not all(_KEY_ID_RE.fullmatch(header[name]) for name in ("sig_key_id", "enc_key_id")):
        return "key ids are 16 lowercase hex digits"
    created = header["created_at"]
    try:
        if len(created) > 40 or datetime.fromisoformat(created).tzinfo is None:
            return "created_at must be ISO 8601 with a UTC offset"
    except ValueError:
        return "created_at must be ISO 8601 with a UTC offset"
    try:
        if len(_b64d(header["enc"])) != ENC_BYTES:
            return "enc must be a 32-byte X25519 key"
    except ValueError:
        return "enc must be base64url"
    return None


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = _loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("not an object")
        canonical = canonical_json(header) == raw
    except (ValueError, TypeError, RecursionError):
        raise ProtocolError("bad_header", "header is not a valid JSON object") from None
    if not canonical:
        raise ProtocolError("bad_header", "header is not canonical JSON")
    # Version before the field rules: a future version may have other fields (coexistence).
    version = header.get("v")
    if type(version) is not int:
        raise ProtocolError("bad_header", "v must be int")
    if version not in SUPPORTED_VERSIONS:
        raise ProtocolError("unsupported_version", version_problem(version))
    problem = _header_problem(header)
    if problem:
        raise ProtocolError("bad_header", problem)
    return header


# --- Envelope --------------------------------------------------------------------------------

_LEN = struct.Struct(">I")


@dataclass(frozen=True)
class Opened:
    """A verified, decrypted envelope. ``digest`` is :func:`envelope_digest` of its bytes;
    ``lines`` the records' JSON lines as received (see :func:`payload_text`)."""

    header: dict[str, Any]
    records: list[dict[str, Any]]
    digest: str
    lines: tuple[str, ...] = field(default=(), repr=False, compare=False)


_RECORD_KEYS = frozenset(("at", "event_id", "kind", "payload", "seq"))


def payload_text(line: str, record: dict[str, Any]) -> str | None:
    """The JSON text of a batch record's ``payload``, cut from the *line* it was parsed from.

    A node seals each record as one canonical line ``{"at":…,"event_id":…,"kind":…,
    "payload":…,"seq":N}``. When the line has exactly that form around the payload, the text
    between is the payload as parsed, so the hub stores it without encoding it again. Any
    other line (not canonical, other keys): None, and the caller encodes the payload.
    """
    if record.keys() != _RECORD_KEYS or type(record["seq"]) is not int:
        return None
    at, event_id, kind = record["at"], record["event_id"], record["kind"]
    if type(at) is not str or type(event_id) is not str or type(kind) is not str:
        return None
    # String tokens end where their closing quote is, so a line starting with these exact
    # tokens was parsed as these members, the payload value starting right after them; and
    # only the record's own seq member can make up the exact end (it is the last key).
    prefix = (f'{{"at":{_json_str(at)},"event_id":{_json_str(event_id)},'
              f'"kind":{_json_str(kind)},"payload":')
    suffix = f',"seq":{record["seq"]}}}'
    if (len(line) > len(prefix) + len(suffix) and line.startswith(prefix)
            and line.endswith(suffix)):
        return line[len(prefix):-len(suffix)]
    return None


# what json.dumps(text, ensure_ascii=False) returns for a str, without building an encoder
_json_str = json.encoder.encode_basestring


def envelope_digest(data: bytes) -> str:
    """sha256 hex of the whole envelope: the next envelope's ``prev_hash``, and a duplicate key."""
    return hashlib.sha256(data).hexdigest()


def seal(
    records: list[dict[str, Any]],
    *,
    sender: Identity,
    receiver: PeerKeys,
    sender_id: str,
    receiver_id: str,
    batch_id: str,
    first_seq: int,
    last_seq: int,
    prev_hash: str,
    created_at: str,
    kind: str,
) -> bytes:
    """Compress, encrypt to *receiver* and sign *records* as one envelope.

    :raises ValueError, TypeError: on records without canonical JSON form, a malformed header
        field (see ``docs/sync-protocol.md``) or a payload over :data:`MAX_PLAINTEXT_BYTES`.
    """
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise TypeError("records must be a list of dicts")
    plaintext = b"".join(canonical_json(record) + b"\n" for record in records)
    if len(plaintext) > MAX_PLAINTEXT_BYTES:
        raise ValueError("payload over MAX_PLAINTEXT_BYTES: split the batch")
    compressed = _compress(plaintext)
    enc, aead, nonce = _setup_base_s(receiver.enc_pub, HPKE_INFO)
    header = {
        "v": PROTOCOL_VERSION,
        "kind": kind,
        "sender": sender_id,
        "receiver": receiver_id,
        "batch_id": batch_id,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "prev_hash": prev_hash,
        "created_at": created_at,
        "payload_len": len(compressed),
        "count": len(records),
        "sig_key_id": sender.sig_key_id,
        "enc_key_id": receiver.enc_key_id,
        "enc": _b64e(enc),
    }
    problem = _header_problem(header)
    if problem:
        raise ValueError(problem)
    header_bytes = canonical_json(header)
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise ValueError("header over MAX_HEADER_BYTES")
    ciphertext = aead.encrypt(nonce, compressed, header_bytes)
    signed = b"".join(
        (MAGIC, _LEN.pack(len(header_bytes)), header_bytes, _LEN.pack(len(ciphertext)), ciphertext)
    )
    return signed + sender.sign_key.sign(signed)


def _split(data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Frame: ``(signed part, header bytes, ciphertext, signature)``; lengths must add up."""
    size, at = len(data), len(MAGIC)
    if size < at and MAGIC.startswith(data):
        raise ProtocolError("truncated", "envelope ends inside the magic")
    if data[:at] != MAGIC:
        raise ProtocolError("bad_magic", "not an edge-sync envelope")
    if size < at + _LEN.size:
        raise ProtocolError("truncated", "envelope ends before the header length")
    (header_len,) = _LEN.unpack_from(data, at)
    if header_len > MAX_HEADER_BYTES:
        raise ProtocolError("bad_header", f"header length {header_len} > {MAX_HEADER_BYTES}")
    at += _LEN.size
    header = data[at : at + header_len]
    at += header_len
    if size < at + _LEN.size:
        raise ProtocolError("truncated", "envelope ends inside the header")
    (cipher_len,) = _LEN.unpack_from(data, at)
    at += _LEN.size
    end = at + cipher_len + SIGNATURE_BYTES
    if size < end:
        raise ProtocolError("truncated", f"envelope has {size} bytes, its lengths say {end}")
    if size > end:
        raise ProtocolError("trailing_data", f"{size - end} bytes after the signature")
    signed = data[: end - SIGNATURE_BYTES]
    return signed, header, data[at : at + cipher_len], data[-SIGNATURE_BYTES:]


def open_envelope(
    data: bytes,
    *,
    receiver: Identity,
    receiver_id: str,
    expected_sender: PeerKeys | Callable[[str], PeerKeys | None],
    max_bytes: int = MAX_ENVELOPE_BYTES,
    max_plaintext_bytes: int = MAX_PLAINTEXT_BYTES,
    before_decrypt: Callable[[dict[str, Any]], None] | None = None,
) -> Opened:
    """Verify, then decrypt and parse an envelope addressed to *receiver_id*.

    Checks run in :data:`STAGES` order; nothing of the payload is touched before the signature
    is verified and *before_decrypt* (the caller's sequence / ``prev_hash`` / duplicate check on
    the authenticated header) has returned.

    :param expected_sender: the pinned keys of the only acceptable sender, or a lookup
        ``sender_id -> PeerKeys | None`` (None: unknown sender).
    :raises ProtocolError: with a code from :data:`ERROR_CODES`, or the hook's own.
    """
    data = bytes(data)
    if len(data) > max_bytes:
        raise ProtocolError("too_large", f"{len(data)} bytes > limit {max_bytes}")
    signed, header_bytes, ciphertext, signature = _split(data)
    header = _parse_header(header_bytes)
    if header["payload_len"] + TAG_BYTES != len(ciphertext):
        raise ProtocolError("bad_header", "payload_len does not match the ciphertext length")

    if header["receiver"] != receiver_id:
        raise ProtocolError("wrong_receiver", f"addressed to {header['receiver']!r}")
    if header["enc_key_id"] != receiver.enc_key_id:
        raise ProtocolError("wrong_receiver", "encrypted to another key of ours (re-enrolled?)")

    sender_id = header["sender"]
    peer = expected_sender(sender_id) if callable(expected_sender) else expected_sender
    if peer is None:
        raise ProtocolError("unknown_sender", f"sender {sender_id!r} is not enrolled")
    if peer.revoked:
        raise ProtocolError("revoked_sender", f"sender {sender_id!r} is revoked")
    if header["sig_key_id"] != peer.sig_key_id:
        raise ProtocolError("unknown_key", f"signing key is not the one pinned for {sender_id!r}")
    try:
        peer.sign_pub.verify(signature, signed)
    except InvalidSignature:
        raise ProtocolError("bad_signature", "Ed25519 signature does not verify") from None

    if before_decrypt is not None:
        before_decrypt(dict(header))

    try:
        compressed = _hpke_open(
            _b64d(header["enc"]), receiver.enc_key, HPKE_INFO, header_bytes, ciphertext
        )
    except (InvalidTag, ValueError):
        raise ProtocolError("decrypt_failed", "AEAD open failed (key, header or bytes)") from None
    if len(compressed) != header["payload_len"]:  # cannot happen after a good tag; be explicit
        raise ProtocolError("bad_payload", "payload length differs from header")
    records, lines = _parse_lines(_decompress(compressed, max_plaintext_bytes), header["count"])
    return Opened(header, records, envelope_digest(data), tuple(lines))


def feed_item_hash(item: Mapping[str, Any]) -> str:
    """Identity of a feed item (seq, kind, payload, created_at), the same on hub and node.

    A feed reply names the hash of the item at the node's cursor in ``prev_hash``; a
    different value means the hub's feed is not the one the node read (a hub restored
    from an older backup) and the node must read it again.
    """
    keys = ("seq", "kind", "payload", "created_at")
    return hashlib.sha256(canonical_json({k: item.get(k) for k in keys})).hexdigest()


def load_or_create_identity(directory: str | os.PathLike[str]) -> Identity:
    """The key pairs kept in *directory*, created (owner-only files) on first use."""
    try:
        return load_identity(directory)
    except FileNotFoundError:
        identity = generate_identity()
        save_identity(identity, directory)
        return identity
