"""Sliding-window rate limits kept in memory (one waitress process serves a home).

Logins are limited per client address (guessing across many accounts, which
the per-account lockout does not see), API calls per token. A refusal says
when to come back: ``429`` with ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
from collections import deque


class SlidingWindow:
    """At most ``limit`` hits per key in any ``window`` seconds."""

    def __init__(self) -> None:
        self._hits: dict[tuple, deque] = {}
        self._lock = threading.Lock()

    def hit(self, key: tuple, limit: int, window: float, now: float) -> int | None:
        """Count a hit at *now*; returns None if allowed, else seconds to wait."""
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                return max(1, math.ceil(hits[0] + window - now))
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle keys so memory stays bounded
                for stale in [k for k, v in self._hits.items() if not v or
                              v[-1] <= now - window]:
                    del self._hits[stale]
            return None
