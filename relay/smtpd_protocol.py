"""aiosmtpd's SMTP protocol with Mailgate's corrections (no ORM here).

* Every 2xx/4xx/5xx reply carries an RFC 3463 enhanced status code (`smtpd_replies`),
  except the greeting and the HELO/EHLO replies (RFC 2034 §3).
* STARTTLS inside TLS is refused with 503 (RFC 3207 §4.2; corpus ST-4: aiosmtpd 1.4.6
  answers 220 and then tears the session down in a TLS-in-TLS handshake).
* The command size limits are per session: aiosmtpd keeps them in a class attribute that
  each EHLO raises for every session.
* Connections per client IP are capped (corpus LEN-2: slowloris); over the cap the client
  gets ``421 4.7.0`` and is disconnected before the greeting.
* A new connection costs less: see `_PerClass`.

Kept from aiosmtpd on purpose (corpus §7): commands may end in a bare LF (PIPE-2) and
pipelined input is processed even without PIPELINING advertised (PIPE-1). Neither can
smuggle a message: DATA ends only at CRLF.CRLF (aiosmtpd >= 1.4.5) and data holding a bare
CR or LF is refused (`smtpd_checks.data_problem`). BDAT/CHUNKING is not offered (BD-1).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Callable
from typing import Any

import aiosmtpd.smtp
from aiosmtpd.smtp import SMTP, syntax

from relay.smtpd_replies import enhance

log = logging.getLogger("relay.smtpd")


class _PerClass:
    """What aiosmtpd.smtp sees as ``inspect`` and ``dir``: answers computed once per class.

    ``SMTP.__init__`` (aiosmtpd 1.4.6) builds its tables of commands (``dir(self)``,
    ``smtp_*``), handler hooks (``dir(handler)``, ``handle_*``) and AUTH mechanisms
    (``inspect.getmembers`` of both, ``auth_*``), and reads the EHLO hook's signature, for
    every connection: 0.2 ms of the smtpd's ~3 ms of CPU per message (measured). Which
    names there are depends only on the classes (and on an instance's own attributes, which
    are looked at too); the values are still read from the object, so the tables hold the
    same bound methods. tests/relay/test_smtpd_protocol.py compares them with aiosmtpd's own.
    """

    PREFIXES = ("auth_", "handle_", "smtp_")

    def __init__(self) -> None:
        self._class_names: dict[type, tuple[str, ...]] = {}
        self._signatures: dict[Any, inspect.Signature] = {}

    def __getattr__(self, name: str) -> Any:  # anything else: the real module
        return getattr(inspect, name)

    def names(self, obj: Any) -> list[str]:
        """``dir(obj)`` as far as aiosmtpd.smtp reads it: the prefixed names."""
        cls = type(obj)
        found = self._class_names.get(cls)
        if found is None:
            found = tuple(n for n in dir(cls) if n.startswith(self.PREFIXES))
            self._class_names[cls] = found
        own = [n for n in getattr(obj, "__dict__", ()) if n.startswith(self.PREFIXES)]
        return sorted({*found, *own})

    def getmembers(self, obj: Any, predicate: Callable[[Any], bool] | None = None) -> list:
        """Only the prefixed members: aiosmtpd.smtp keeps only the ``auth_*`` ones."""
        members = [(name, getattr(obj, name)) for name in self.names(obj)]
        return [m for m in members if predicate is None or predicate(m[1])]

    def signature(self, callable_: Any) -> inspect.Signature:
        """One per function: a bound method's signature is the same for every instance."""
        function = getattr(callable_, "__func__", None)
        if function is None:
            return inspect.signature(callable_)
        found = self._signatures.get(function)
        if found is None:
            found = self._signatures[function] = inspect.signature(callable_)
        return found


_per_class = _PerClass()
aiosmtpd.smtp.inspect = _per_class  # type: ignore[assignment]
aiosmtpd.smtp.dir = _per_class.names  # type: ignore[attr-defined]


class ConnectionCounter:
    """Open connections per client IP (one event loop: no locking needed)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: collections.Counter[str] = collections.Counter()

    def add(self, ip: str) -> bool:
        """Count a new connection; False if it goes over the limit (then it is not counted)."""
        if self.limit and self.counts[ip] >= self.limit:
            return False
        self.counts[ip] += 1
        return True

    def remove(self, ip: str) -> None:
        self.counts[ip] -= 1
        if self.counts[ip] <= 0:
            del self.counts[ip]


class MailgateSMTP(SMTP):
    def __init__(self, handler: Any, *, counter: ConnectionCounter, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._counter = counter
        self._counted_ip: str | None = None
        self._over_limit = False
        self._verbatim = False
        self._greeted = False
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit)

    # -- connection accounting ---------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        if first:
            peer = transport.get_extra_info("peername")
            ip = str(peer[0]) if peer else "?"
            if self._counter.add(ip):
                self._counted_ip = ip
            else:
                self._over_limit = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted_ip is not None:
            self._counter.remove(self._counted_ip)
            self._counted_ip = None
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        if self._over_limit:
            log.warning("%r: too many connections from this address", self.session.peer)  # type: ignore[union-attr]
            await super().push("421 4.7.0 Too many connections from your address")
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    # -- replies -------------------------------------------------------------------------
    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            if not self._greeted:
                self._greeted = True  # the 220 greeting carries no enhanced code
            elif not (self._verbatim and status.startswith("250")):
                status = enhance(status)
        await super().push(status)

    @syntax("HELO hostname")
    async def smtp_HELO(self, hostname: str) -> None:
        self._verbatim = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._verbatim = False

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        self.command_size_limits.clear()  # each EHLO adds SIZE/SMTPUTF8 room again
        self._verbatim = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._verbatim = False

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        if self._tls_protocol is not None:
            await self.push("503 5.5.1 TLS already active")
            return
        await super().smtp_STARTTLS(arg)
