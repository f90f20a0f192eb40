"""Scanned documents attached to a dossier: accepted types, names, chunking (pure).

The type is decided by the file's first bytes (its magic), never by the name or by the
content type the browser claims: a renamed ``.exe`` is refused even when called ``.pdf``.
"""

from __future__ import annotations

import re
import unicodedata

#: Largest piece of a file sent in one envelope (the protocol's promise: at most 1 MiB).
CHUNK_BYTES = 1024 * 1024
MIME_PDF = "application/pdf"
MIME_JPEG = "image/jpeg"
MIME_PNG = "image/png"
MIMES = (MIME_PDF, MIME_JPEG, MIME_PNG)
EXTENSIONS = {MIME_PDF: ".pdf", MIME_JPEG: ".jpg", MIME_PNG: ".png"}
TYPE_LABELS = {MIME_PDF: "PDF", MIME_JPEG: "Ảnh JPEG", MIME_PNG: "Ảnh PNG"}
_MAGIC = ((b"%PDF-", MIME_PDF), (b"\xff\xd8\xff", MIME_JPEG),
          (b"\x89PNG\r\n\x1a\n", MIME_PNG))
#: Bytes needed to recognise every accepted type.
SNIFF_BYTES = 8
MAX_NAME = 200
MAX_LABEL = 300
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


class AttachmentError(ValueError):
    """A refused attachment: ``message`` is for clerks, ``code``/``status`` for the API."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def sniff(head: bytes) -> str | None:
    """The MIME type the first bytes announce, or None when it is not an accepted type."""
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    return None


def check_type(head: bytes) -> str:
    """The accepted type of a file from its first bytes.

    :raises AttachmentError: ``bad_type`` with a Vietnamese message.
    """
    if not head:
        raise AttachmentError("empty_file", "Tệp rỗng: hãy chọn tệp đã quét.")
    mime = sniff(head)
    if mime is None:
        raise AttachmentError("bad_type", "Chỉ nhận tệp PDF, JPEG hoặc PNG (nội dung tệp không "
                                          "phải một trong các loại này).", 415)
    return mime


def too_large(max_bytes: int) -> AttachmentError:
    mb = max_bytes / (1024 * 1024)
    shown = f"{mb:g}"
    return AttachmentError("too_large", f"Tệp quá lớn: mỗi tệp đính kèm tối đa {shown} MB.",
                           413)


#: Extensions a downloaded file of each type may keep.
KEEP_EXTENSIONS = {MIME_PDF: (".pdf",), MIME_JPEG: (".jpg", ".jpeg", ".jpe"),
                   MIME_PNG: (".png",)}


def _visible(text: str) -> str:
    """*text* without control or format characters (C0/C1, bidi overrides, zero-width):
    ``inv\u202efdp.exe`` is shown as "invexe.pdf" but saved as ``….exe``."""
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))


def clean_name(name: str | None, mime: str) -> str:
    """The original file name in NFC, without folders, control or format characters, and
    ending with an extension of its real type (``scan.exe`` holding a PDF is saved as
    ``scan.exe.pdf``, not as a program name).

    An empty name becomes ``tep-dinh-kem`` with the type's extension.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _visible(_UNSAFE.sub("", text)).strip().lstrip(".")
    if not text:
        text = "tep-dinh-kem" + EXTENSIONS[mime]
    elif not text.lower().endswith(KEEP_EXTENSIONS[mime]):
        text = text.rstrip(". ") + EXTENSIONS[mime]
    if len(text) > MAX_NAME:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: MAX_NAME - len(ext) - 1] + "." + ext) if dot and len(ext) <= 8 \
            else text[:MAX_NAME]
    return text


def clean_label(label: str | None) -> str:
    """The clerk's label (e.g. which required document this is), NFC, one line."""
    text = " ".join(_visible(" ".join(unicodedata.normalize("NFC", label or "").split()))
                    .split())
    if len(text) > MAX_LABEL:
        raise AttachmentError("bad_label", f"Ghi chú tài liệu quá dài (tối đa {MAX_LABEL} "
                                           "ký tự).")
    return text


def chunk_count(size: int) -> int:
    """Number of chunks a file of *size* bytes travels in."""
    return max(1, -(-size // CHUNK_BYTES))
