"""An exclusive lock on the home folder, so one process serves one home.

The OS releases the lock when the process dies (even on kill -9 or a power
cut), so a stale lock file never blocks a restart. The file holds the
holder's process id and what it is doing (``"1234 serve"``), for messages
and for ``edge-node status``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

# How long acquire() retries: `edge-node status` probes the lock for a
# moment, and a server starting in that instant must not be refused.
ACQUIRE_WAIT_SECONDS = 1.0


class HomeLocked(RuntimeError):
    """Another process already holds the home's lock (message: its pid and purpose)."""


class LockUnusable(RuntimeError):
    """The lock file exists but cannot be opened: a folder in its place, no permission.

    Nobody can then tell whether a process holds the home, and nothing can take it.
    The message is one English line naming the file and what to do.
    """


def _unusable(path: Path, exc: OSError) -> LockUnusable:
    if path.is_dir():
        why = "is a folder, not a file; remove that folder (a lock file holds no data)"
    else:
        why = (f"cannot be opened ({exc.strerror}); it must be a file the account running "
               "edge-node can read and write (Linux: chown edge-node)")
    return LockUnusable(f"the lock file {path} {why}")


def _try_lock(fh, shared: bool = False) -> None:
    if os.name == "nt":
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)


def _unlock(fh) -> None:
    if os.name == "nt":
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class HomeLock:
    def __init__(self, path: Path, purpose: str = ""):
        self.path = path
        self.purpose = purpose
        self._fh = None

    def acquire(self, wait: float = ACQUIRE_WAIT_SECONDS) -> HomeLock:
        """Take the lock, retrying for *wait* seconds; raise :class:`HomeLocked` if held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fh = open(self.path, "a+")  # noqa: SIM115 - held open for the process lifetime
        except OSError as exc:
            if self.path.is_dir() or (self.path.exists() and isinstance(exc, PermissionError)):
                raise _unusable(self.path, exc) from None
            raise  # the home itself is not writable: the caller says so
        deadline = time.monotonic() + wait
        while True:
            try:
                _try_lock(fh)
                break
            except OSError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                fh.seek(0)
                holder = fh.read().strip()
                fh.close()
                raise HomeLocked(holder) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} {self.purpose}".strip())
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> HomeLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def probe(path: Path) -> str | None:
    """Return the holder text (``"pid purpose"``) if someone holds the lock, else None.

    Never creates nor rewrites the lock file; takes a shared lock for an instant
    only (:data:`ACQUIRE_WAIT_SECONDS` makes a server starting meanwhile wait).

    :raises LockUnusable: the lock file exists but cannot be opened (a folder, no permission).
    """
    try:
        fh = open(path, "r+" if os.name == "nt" else "r")  # noqa: SIM115
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unusable(path, exc) from None
    with fh:
        try:
            _try_lock(fh, shared=True)
        except OSError:
            fh.seek(0)
            return fh.read().strip() or "?"
        _unlock(fh)
        return None
