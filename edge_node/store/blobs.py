"""Files kept by content hash: ``{root}/ab/cdef…`` (used by the node and the hub).

A file is written to a temporary name in ``{root}/tmp``, flushed with ``fsync``, then
renamed into place, and the folder is synced: after a power cut a file is either whole
or absent. Callers write the file *before* committing the database row that names it,
so a crash can leave a file without a row (harmless, cleaned later) but never a row
without its file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

READ_BYTES = 256 * 1024


def path_for(root: Path, sha256: str) -> Path:
    """Where the file with this hash lives (the hash must be 64 lowercase hex digits)."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return Path(root) / sha256[:2] / sha256[2:]


def temp_file(root: Path):
    """A new temporary file under ``{root}/tmp`` (binary, caller closes and renames it)."""
    folder = Path(root) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.NamedTemporaryFile(dir=folder, prefix="up-", delete=False)  # noqa: SIM115


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_temp(root: Path, temp_path: Path, sha256: str) -> Path:
    """Move a flushed temporary file to its hash's place (kept if already there)."""
    final = path_for(root, sha256)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and final.stat().st_size == Path(temp_path).stat().st_size:
        Path(temp_path).unlink(missing_ok=True)  # same bytes already stored
        os.utime(final)  # fresh again: an orphan cleaner must not take it from the new row
        return final
    os.replace(temp_path, final)
    _fsync_dir(final.parent)
    return final


def fsync_close(handle) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(READ_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def read_range(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)


def iter_file(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(READ_BYTES), b"")


def stored(root: Path) -> Iterator[tuple[str, Path]]:
    """Every stored ``(sha256, path)`` under *root* (temporary files excluded)."""
    root = Path(root)
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if len(folder.name) != 2 or not folder.is_dir():
            continue
        for item in folder.iterdir():
            if len(item.name) == 62:
                yield folder.name + item.name, item


def clean_temp(root: Path, older_than_seconds: float) -> int:
    """Remove temporary files left by interrupted uploads; returns how many."""
    folder = Path(root) / "tmp"
    if not folder.is_dir():
        return 0
    limit, removed = time.time() - older_than_seconds, 0
    for item in folder.iterdir():
        if item.is_file() and item.stat().st_mtime < limit:
            item.unlink(missing_ok=True)
            removed += 1
    return removed
