"""An in-process DNS server (dnslib, UDP and TCP) on 127.0.0.1 with a zone tests change live.

Unknown names answer NXDOMAIN; a known name without records of the asked type answers
NOERROR with no answer (dnspython's NoAnswer); `set_servfail(name)` answers SERVFAIL;
`set_timeout(name)` never answers. Fixture: ``dns_server`` → `DNSServerFixture` with
``.port``, ``.nameserver`` ("127.0.0.1:PORT") and the ``add_*`` / ``set_*`` methods.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from dnslib import AAAA, MX, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import DNSError, DNSLogger, DNSServer

from tests.support.smtp_sinks import free_port


def _key(name: str) -> str:
    return name.strip().rstrip(".").lower()


class _ZoneResolver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[str, list[tuple[str, Any]]] = {}  # name → [(qtype, rdata)]
        self.servfail: set[str] = set()
        self.timeout: set[str] = set()
        self.queries: list[tuple[str, str]] = []  # (name, qtype) as asked

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        qname = str(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        name = _key(qname)
        with self.lock:
            self.queries.append((name, qtype))
            if name in self.timeout:
                raise DNSError("configured to time out")  # dnslib then sends nothing
            reply = request.reply()
            if name in self.servfail:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            if name not in self.records:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            for rtype, rdata in self.records[name]:
                if rtype == qtype:
                    reply.add_answer(RR(qname, getattr(QTYPE, rtype), rdata=rdata, ttl=60))
        return reply


class DNSServerFixture:
    """The live zone. Names are case-insensitive, with or without the trailing dot."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.address = address
        self._zone = _ZoneResolver()
        logger = DNSLogger(log="-request,-reply,-truncated,-error", prefix=False)
        for _ in range(20):
            self.port = free_port(address)
            try:
                self._udp = DNSServer(self._zone, address=address, port=self.port, logger=logger)
                self._tcp = DNSServer(
                    self._zone, address=address, port=self.port, tcp=True, logger=logger
                )
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free port for the DNS server")

    @property
    def nameserver(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def queries(self) -> list[tuple[str, str]]:
        with self._zone.lock:
            return list(self._zone.queries)

    def start(self) -> DNSServerFixture:
        for server in (self._udp, self._tcp):
            # A short poll interval: shutdown() waits for it, once per test.
            thread = threading.Thread(
                target=server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
            )
            thread.start()
        return self

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            server.stop()
            server.server.server_close()

    def _add(self, name: str, rtype: str, rdata: Any) -> None:
        with self._zone.lock:
            self._zone.records.setdefault(_key(name), []).append((rtype, rdata))

    def add_mx(self, domain: str, preference: int, host: str) -> None:
        self._add(domain, "MX", MX(host.rstrip(".") + "." if host != "." else ".", preference))

    def add_null_mx(self, domain: str) -> None:
        """RFC 7505: a single MX with preference 0 and the root as exchange."""
        self.add_mx(domain, 0, ".")

    def add_a(self, name: str, ip: str) -> None:
        self._add(name, "A", A(ip))

    def add_aaaa(self, name: str, ip: str) -> None:
        self._add(name, "AAAA", AAAA(ip))

    def add_name(self, name: str) -> None:
        """Make a name exist with no records (NOERROR, empty answer for every type)."""
        with self._zone.lock:
            self._zone.records.setdefault(_key(name), [])

    def remove(self, name: str) -> None:
        with self._zone.lock:
            key = _key(name)
            self._zone.records.pop(key, None)
            self._zone.servfail.discard(key)
            self._zone.timeout.discard(key)

    def set_servfail(self, name: str) -> None:
        with self._zone.lock:
            self._zone.servfail.add(_key(name))

    def set_timeout(self, name: str) -> None:
        with self._zone.lock:
            self._zone.timeout.add(_key(name))


@pytest.fixture
def dns_server() -> Iterator[DNSServerFixture]:
    server = DNSServerFixture().start()
    yield server
    server.stop()
