"""Mailgate's real smtpd, in-process: an event loop in a thread on 127.0.0.1, a free port.

The server thread stores messages through the ORM, so tests that submit mail use
``@pytest.mark.django_db(transaction=True)`` (rows committed where the thread sees them; the
test database is a file). Settings are read when a server starts: change them with the
pytest-django ``settings`` fixture first, then call ``smtpd_factory(**config_overrides)``.

Fixtures: ``smtpd_spool`` (a fresh MAILGATE_SPOOL_DIR), ``smtpd_factory`` (start servers,
stopped at teardown), ``smtpd_server`` (one server with the default settings).
`RawClient` speaks SMTP over a raw socket (source address 127.0.0.10 by default) for the
attack vectors, where smtplib would refuse or repair the bytes.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from relay.smtpd import SmtpdConfig, SmtpdServer

CLIENT_IP = "127.0.0.10"  # not 127.0.0.1: only genuine loop-backs come from there


class ThreadedSmtpd:
    """An `SmtpdServer` on its own event loop in a daemon thread."""

    def __init__(self, config: SmtpdConfig) -> None:
        self.config = config
        self.server = SmtpdServer(config)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mailgate-smtpd", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.stop())
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()

    def start(self) -> ThreadedSmtpd:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("smtpd did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)


class RawClient:
    """A line-oriented SMTP client on a raw socket that sends bytes exactly as given."""

    def __init__(self, address: tuple[str, int], *, source: str = CLIENT_IP) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            address, timeout=10, source_address=(source, 0)
        )
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed by server; pending {self.buffer!r}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def reply(self) -> tuple[int, str]:
        """One (possibly multi-line) reply: (code, text lines joined with "\\n")."""
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line: bytes | str) -> tuple[int, str]:
        data = line.encode() if isinstance(line, str) else line
        self.send(data + b"\r\n")
        return self.reply()

    def starttls(self) -> None:
        """Switch to TLS after a 220 (the server's certificate is self-signed)."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        assert not self.buffer, f"unread bytes before TLS: {self.buffer!r}"
        self.sock = context.wrap_socket(self.sock, server_hostname="mailgate.test")

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except (ConnectionError, ssl.SSLError):
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def submit_raw(
    client: RawClient, data: bytes, rcpts: tuple[str, ...] = ("b@rcpt.example",)
) -> tuple[int, str]:
    """EHLO/MAIL/RCPT/DATA, then `data` (already dot-stuffed, ending in CRLF) and ".": the reply."""
    assert client.reply()[0] == 220
    assert client.cmd("EHLO client.example")[0] == 250
    assert client.cmd("MAIL FROM:<a@sender.example>")[0] == 250
    for rcpt in rcpts:
        assert client.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
    assert client.cmd("DATA")[0] == 354
    client.send(data + b".\r\n")
    return client.reply()


@pytest.fixture(scope="session")
def smtpd_tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the self-signed certificate is made once for the whole test session."""
    return tmp_path_factory.mktemp("smtpd-tls")


@pytest.fixture
def smtpd_spool(settings: Any, tmp_path: Path) -> Path:
    spool = tmp_path / "spool"
    settings.MAILGATE_SPOOL_DIR = spool
    settings.MAILGATE_HOSTNAME = "mailgate.test"
    return spool


@pytest.fixture
def smtpd_factory(smtpd_spool: Path, smtpd_tls_dir: Path) -> Iterator[Callable[..., ThreadedSmtpd]]:
    started: list[ThreadedSmtpd] = []

    def start(**overrides: Any) -> ThreadedSmtpd:
        overrides.setdefault("host", "127.0.0.1")
        overrides.setdefault("port", 0)
        config = SmtpdConfig.from_settings(tls_dir=smtpd_tls_dir, **overrides)
        server = ThreadedSmtpd(config).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def smtpd_server(smtpd_factory: Callable[..., ThreadedSmtpd]) -> ThreadedSmtpd:
    return smtpd_factory()
