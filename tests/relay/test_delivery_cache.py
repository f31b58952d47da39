"""The connection cache: one connection for several messages to the same host."""

from __future__ import annotations

import io
import socket
from typing import Any

from relay.conncache import ConnectionCache
from relay.delivery import DeliveryJob, deliver
from relay.mx import DNSStatus
from relay.routing import Candidate, Candidates
from relay.tls import TLSPolicy

pytest_plugins = ["tests.support.smtp_sinks"]

HELO = "mailgate.test"
REQUIRE = TLSPolicy(require_tls=True, connect_timeout=2, command_timeout=5)


def _job(n: int, recipient: str = "b@partner.test") -> DeliveryJob:
    body = f"Subject: m{n}\r\n\r\nbody {n}\r\n".encode()
    return DeliveryJob(f"Q{n}", "a@sender.test", (recipient,), lambda: io.BytesIO(body))


def _to(sink: Any) -> Candidates:
    return Candidates("p.test", (Candidate("mx", sink.address, sink.port, "mx"),), DNSStatus.OK)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_second_message_reuses_the_tls_session(tls_partner: Any) -> None:
    cache = ConnectionCache(idle_timeout=5)
    try:
        first = deliver(_job(1), _to(tls_partner), REQUIRE, local_hostname=HELO, cache=cache)
        second = deliver(_job(2), _to(tls_partner), REQUIRE, local_hostname=HELO, cache=cache)
        messages = tls_partner.wait_for(2)
    finally:
        cache.close()
    assert first.delivered and second.delivered
    assert tls_partner.connections == 1 and cache.hits == 1
    assert all(m.tls for m in messages)
    assert [m.content for m in messages] == [b"Subject: m1\r\n\r\nbody 1\r\n", b"Subject: m2\r\n"
                                             b"\r\nbody 2\r\n"]  # fmt: skip
    assert bytes(tls_partner.wire[0]).count(b"RSET\r\n") == 1  # RFC 5321 §4.1.1.5


def test_a_clear_session_is_not_reused_for_require_tls(plain_partner: Any) -> None:
    cache = ConnectionCache(idle_timeout=5)
    try:
        opportunistic = TLSPolicy(connect_timeout=2)
        deliver(_job(1), _to(plain_partner), opportunistic, local_hostname=HELO, cache=cache)
        assert len(cache) == 1
        result = deliver(_job(2), _to(plain_partner), REQUIRE, local_hostname=HELO, cache=cache)
    finally:
        cache.close()
    assert result.deferred and cache.hits == 0
    assert len(plain_partner.mail_commands) == 1  # only the opportunistic message


def test_dead_cached_session_is_replaced(tls_partner: Any, sink_factory: Any) -> None:
    cache = ConnectionCache(idle_timeout=5)
    try:
        deliver(_job(1), _to(tls_partner), REQUIRE, local_hostname=HELO, cache=cache)
        (session,) = [s for stack in cache._sessions.values() for s in stack]
        session.smtp.sock.shutdown(socket.SHUT_RDWR)  # the connection died while idle
        result = deliver(_job(2), _to(tls_partner), REQUIRE, local_hostname=HELO, cache=cache)
    finally:
        cache.close()
    assert result.delivered and tls_partner.connections == 2


def test_idle_sessions_expire(tls_partner: Any) -> None:
    clock = FakeClock()
    cache = ConnectionCache(idle_timeout=5, clock=clock)
    try:
        deliver(_job(1), _to(tls_partner), REQUIRE, local_hostname=HELO, cache=cache)
        assert len(cache) == 1
        clock.now += 6
        # close_idle() or the cache's reaper thread, whichever looks first, closes it (the
        # reaper reads the same clock: CI once saw it win the race).
        assert cache.close_idle() in (0, 1)
        assert len(cache) == 0
        deliver(_job(2), _to(tls_partner), REQUIRE, local_hostname=HELO, cache=cache)
    finally:
        cache.close()
    assert tls_partner.connections == 2 and cache.hits == 0


def test_expired_session_is_not_handed_out(tls_partner: Any) -> None:
    clock = FakeClock()
    cache = ConnectionCache(idle_timeout=5, clock=clock)
    try:
        deliver(_job(1), _to(tls_partner), REQUIRE, local_hostname=HELO, cache=cache)
        clock.now += 10
        deliver(_job(2), _to(tls_partner), REQUIRE, local_hostname=HELO, cache=cache)
    finally:
        cache.close()
    assert tls_partner.connections == 2 and cache.hits == 0
