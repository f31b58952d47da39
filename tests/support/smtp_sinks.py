"""Real SMTP partners for tests: aiosmtpd sinks on 127.0.0.x, with or without STARTTLS.

A `SinkServer` records every message it accepts (`ReceivedMessage`), every MAIL command, the
number of client connections and, with ``record_wire=True``, every raw byte the client sent
(after TLS decryption), so smuggling tests can look at the exact DATA bytes. Replies can be
scripted for EHLO (`on_ehlo`), per recipient (`on_rcpt`), MAIL (`on_mail`) and the end of
DATA (`on_data`).
Waiting is event-based: ``sink.wait_for(count, timeout)``.

Fixtures: ``tls_partner`` (127.0.0.2, STARTTLS) and ``plain_partner`` (127.0.0.3, no
STARTTLS) share one free port (``delivery_port``), as MX delivery uses one port for every
host; ``sink_factory(address, *, tls=..., port=...)`` makes more.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.certs import server_context


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes  # as received, dot-unstuffed by aiosmtpd, without the final CRLF.CRLF
    tls: bool
    tls_version: str | None
    tls_cipher: str | None
    peer: tuple[str, int]
    mail_options: tuple[str, ...]


@dataclass
class ReplyRule:
    """Answer `reply` to matching commands; `times=None` means always, else the first N."""

    reply: str
    match: str | None = None  # a recipient address (case-insensitive), or None for any
    times: int | None = None
    used: int = 0

    def take(self, address: str | None) -> str | None:
        if self.match is not None and (address or "").lower() != self.match.lower():
            return None
        if self.times is not None and self.used >= self.times:
            return None
        self.used += 1
        return self.reply


@dataclass
class _Rules:
    ehlo: list[ReplyRule] = field(default_factory=list)
    mail: list[ReplyRule] = field(default_factory=list)
    rcpt: list[ReplyRule] = field(default_factory=list)
    data: list[ReplyRule] = field(default_factory=list)

    @staticmethod
    def first(rules: list[ReplyRule], address: str | None) -> str | None:
        for rule in rules:
            reply = rule.take(address)
            if reply is not None:
                return reply
        return None


class _Handler:
    def __init__(self, sink: SinkServer) -> None:
        self.sink = sink

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list
    ) -> list[str]:
        with self.sink._cond:
            reply = _Rules.first(self.sink._rules.ehlo, None)
        if reply is not None:
            return [reply]
        session.host_name = hostname  # aiosmtpd leaves this to a "new style" EHLO hook
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.sink._cond:
            self.sink.mail_commands.append(address)
            reply = _Rules.first(self.sink._rules.mail, None)
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.sink._cond:
            self.sink.rcpt_commands.append(address)
            reply = _Rules.first(self.sink._rules.rcpt, address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.sink._cond:
            reply = _Rules.first(self.sink._rules.data, None)
            if reply is not None:
                return reply
            ssl_info: dict[str, Any] = session.ssl or {}
            ssl_object = ssl_info.get("ssl_object")
            cipher = ssl_info.get("cipher")
            self.sink.messages.append(
                ReceivedMessage(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    content=bytes(envelope.original_content or b""),
                    tls=session.ssl is not None,
                    tls_version=ssl_object.version() if ssl_object is not None else None,
                    tls_cipher=cipher[0] if cipher else None,
                    peer=session.peer,
                    mail_options=tuple(envelope.mail_options),
                )
            )
            self.sink._cond.notify_all()
        return f"250 2.0.0 OK queued as S{len(self.sink.messages)}"


class _RecordingSMTP(SMTP):
    """aiosmtpd's SMTP, counting connections and (optionally) recording the client's bytes."""

    def __init__(self, sink: SinkServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink = sink
        self._conn_index: int | None = None

    def data_received(self, data: bytes) -> None:
        if self._conn_index is None:  # first bytes: a real client (not the start-up probe)
            with self._sink._cond:
                self._conn_index = len(self._sink.wire)
                self._sink.wire.append(bytearray())
                self._sink._cond.notify_all()
        if self._sink.record_wire:
            with self._sink._cond:
                self._sink.wire[self._conn_index] += data
        super().data_received(data)


class _Controller(Controller):
    def __init__(self, sink: SinkServer, **kwargs: Any) -> None:
        super().__init__(sink._handler, **kwargs)
        self._sink = sink

    def factory(self) -> SMTP:
        return _RecordingSMTP(self._sink, self.handler, **self.SMTP_kwargs)


class SinkServer:
    """One aiosmtpd partner bound to `address`:`port` (port 0: a free one is chosen)."""

    def __init__(
        self,
        address: str,
        port: int = 0,
        *,
        tls: bool = False,
        tls_context: ssl.SSLContext | None = None,
        record_wire: bool = False,
        server_hostname: str | None = None,
        data_size_limit: int | None = None,
    ) -> None:
        self.address = address
        self.port = port or free_port(address)
        self.record_wire = record_wire
        self.messages: list[ReceivedMessage] = []
        self.mail_commands: list[str] = []
        self.rcpt_commands: list[str] = []
        self.wire: list[bytearray] = []  # one entry per client connection
        self._cond = threading.Condition()
        self._rules = _Rules()
        self._handler = _Handler(self)
        context = tls_context if tls_context is not None else (server_context() if tls else None)
        kwargs: dict[str, Any] = {
            "hostname": address,  # the bind address
            "port": self.port,
            # Given explicitly: aiosmtpd would otherwise call socket.getfqdn() (a DNS lookup).
            "server_hostname": server_hostname or f"sink-{address}.test",
            "decode_data": False,
            "tls_context": context,
            "require_starttls": False,
            "ready_timeout": 5.0,
        }
        if data_size_limit is not None:
            kwargs["data_size_limit"] = data_size_limit
        self._controller = _Controller(self, **kwargs)

    @property
    def hostport(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def connections(self) -> int:
        """Client connections that sent at least one byte."""
        with self._cond:
            return len(self.wire)

    def start(self) -> SinkServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SinkServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripted replies -------------------------------------------------------------------
    def on_rcpt(self, address: str | None, reply: str, *, times: int | None = None) -> None:
        """E.g. ``on_rcpt("a@x.test", "451 4.3.0 later", times=1)``: 451 once, then 250."""
        with self._cond:
            self._rules.rcpt.append(ReplyRule(reply, address, times))

    def on_ehlo(self, reply: str, *, times: int | None = None) -> None:
        """E.g. ``on_ehlo("502 5.5.2 Not implemented")``: an old server that knows only HELO."""
        with self._cond:
            self._rules.ehlo.append(ReplyRule(reply, None, times))

    def on_mail(self, reply: str, *, times: int | None = None) -> None:
        with self._cond:
            self._rules.mail.append(ReplyRule(reply, None, times))

    def on_data(self, reply: str, *, times: int | None = None) -> None:
        with self._cond:
            self._rules.data.append(ReplyRule(reply, None, times))

    def clear_rules(self) -> None:
        with self._cond:
            self._rules = _Rules()

    # -- waiting and inspection --------------------------------------------------------------
    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until `count` messages have arrived; raise TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"{self.hostport}: {len(self.messages)} of {count} messages")
            return list(self.messages)

    def reset(self) -> None:
        with self._cond:
            self.messages.clear()
            self.mail_commands.clear()
            self.rcpt_commands.clear()
            self.wire.clear()
            self._rules = _Rules()


def data_section(wire: bytes) -> tuple[bytes, bytes]:
    """Split a recorded client stream at DATA: (bytes after ``DATA\\r\\n`` up to and including
    the first ``\\r\\n.\\r\\n``, everything after it). Raise ValueError if either is missing."""
    start = wire.index(b"\r\nDATA\r\n") + len(b"\r\nDATA\r\n")
    end = wire.index(b"\r\n.\r\n", start - 2) + len(b"\r\n.\r\n")
    return wire[start:end], wire[end:]


def free_port(*addresses: str) -> int:
    """A TCP port free on every address given (bound and released; good enough for tests)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0] if addresses else "127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if all(_bindable(addr, port) for addr in addresses):
            return port
    raise RuntimeError("no common free port found")


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def delivery_port() -> int:
    """The port every partner listens on (pass it as MAILGATE_DELIVERY_PORT / default_port)."""
    return free_port("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")


@pytest.fixture
def sink_factory(delivery_port: int) -> Iterator[Any]:
    """``sink_factory("127.0.0.4", tls=True, record_wire=True, port=...)`` → a started sink."""
    started: list[SinkServer] = []

    def make(address: str, *, port: int | None = None, **kwargs: Any) -> SinkServer:
        sink = SinkServer(address, delivery_port if port is None else port, **kwargs).start()
        started.append(sink)
        return sink

    yield make
    for sink in started:
        sink.stop()


@pytest.fixture
def tls_partner(sink_factory: Any) -> SinkServer:
    """127.0.0.2 on `delivery_port`, offering STARTTLS with the test CA's certificate."""
    return sink_factory("127.0.0.2", tls=True, record_wire=True)


@pytest.fixture
def plain_partner(sink_factory: Any) -> SinkServer:
    """127.0.0.3 on `delivery_port`, without STARTTLS."""
    return sink_factory("127.0.0.3", tls=False, record_wire=True)
