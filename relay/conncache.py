"""A connection cache for delivery, as Postfix's scache: keep a session open for a short
idle time after a transaction and reuse it for the next message to the same host.

Keyed by (ip, port, TLS policy key, our HELO name): a session opened under one TLS policy
is never reused under a stricter one. A reused session starts with RSET (RFC 5321
§4.1.1.5); the caller reconnects if that fails. A daemon thread closes sessions once idle
longer than `idle_timeout`; it waits on a condition, so it costs nothing while idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from relay.smtpclient import Session

CacheKey = tuple[Hashable, ...]


class ConnectionCache:
    def __init__(
        self,
        idle_timeout: float = 5.0,
        *,
        max_per_key: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_per_key = max_per_key
        self._clock = clock
        self._sessions: dict[CacheKey, list[Session]] = {}
        self._cond = threading.Condition()
        self._reaper: threading.Thread | None = None
        self._closed = False
        self.hits = 0  # sessions handed out again (for tests and metrics)

    def take(self, key: CacheKey) -> Session | None:
        """A cached session for `key` (most recently used first), or None."""
        expired: list[Session] = []
        session = None
        with self._cond:
            stack = self._sessions.get(key, [])
            now = self._clock()
            while stack:
                candidate = stack.pop()
                if now - candidate.idle_since <= self.idle_timeout:
                    session = candidate
                    self.hits += 1
                    break
                expired.append(candidate)
            if not stack:
                self._sessions.pop(key, None)
        for old in expired:
            old.quit()
        return session

    def put(self, key: CacheKey, session: Session) -> None:
        """Keep `session` for reuse (it must be between transactions)."""
        session.idle_since = self._clock()
        surplus: Session | None = None
        with self._cond:
            if self._closed:
                surplus = session
            else:
                stack = self._sessions.setdefault(key, [])
                stack.append(session)
                if len(stack) > self.max_per_key:
                    surplus = stack.pop(0)
                self._start_reaper()
                self._cond.notify_all()
        if surplus is not None:
            surplus.quit()

    def close_idle(self) -> int:
        """Close every session idle for longer than `idle_timeout`; return how many."""
        with self._cond:
            expired = self._expire(self._clock())
        for session in expired:
            session.quit()
        return len(expired)

    def close(self) -> None:
        """Close everything and stop the reaper (at worker shutdown)."""
        with self._cond:
            self._closed = True
            sessions = [s for stack in self._sessions.values() for s in stack]
            self._sessions.clear()
            self._cond.notify_all()
        for session in sessions:
            session.quit()

    def __len__(self) -> int:
        with self._cond:
            return sum(len(stack) for stack in self._sessions.values())

    def _expire(self, now: float) -> list[Session]:
        expired: list[Session] = []
        for key in list(self._sessions):
            keep: list[Session] = []
            for session in self._sessions[key]:
                fresh = now - session.idle_since <= self.idle_timeout
                (keep if fresh else expired).append(session)
            if keep:
                self._sessions[key] = keep
            else:
                del self._sessions[key]
        return expired

    def _start_reaper(self) -> None:
        if self._reaper is None:  # the reaper clears this, under the lock, as it ends
            self._reaper = threading.Thread(
                target=self._reap, name="mailgate-conncache", daemon=True
            )
            self._reaper.start()

    def _reap(self) -> None:
        while True:
            with self._cond:
                if self._closed or not self._sessions:
                    self._reaper = None
                    return
                oldest = min(s.idle_since for stack in self._sessions.values() for s in stack)
                wait = oldest + self.idle_timeout - self._clock()
                if wait > 0:
                    self._cond.wait(wait + 0.01)
                expired = self._expire(self._clock())
            for session in expired:
                session.quit()
