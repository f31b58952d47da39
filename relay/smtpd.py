"""The inbound SMTP listener: cheap checks in the session, store before 250 (DESIGN.md).

`AcceptHandler` holds the aiosmtpd hooks: HELO/EHLO, MAIL and RCPT are checked in the
event loop (no I/O); at the end of DATA the message is stored by `message_accept` in a
worker thread, and ``250 2.0.0 Ok: queued as <id>`` is sent only after it returned.
`SmtpdServer` runs `MailgateSMTP` on ``loop.create_server`` (an explicit hostname: no DNS
lookup is ever made); `smtpd_run` is the ``manage.py runsmtpd`` main loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import ssl
import time
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session, TLSSetupException
from django.conf import settings
from django.db import close_old_connections
from django.db.backends.signals import connection_created

from relay.certs import server_tls_context
from relay.smtpd_checks import RelayRules, address_problem, data_problem, helo_problem
from relay.smtpd_protocol import ConnectionCounter, MailgateSMTP
from relay.spool import SpoolError

log = logging.getLogger("relay.smtpd")

DURABLE_UID = "mailgate.smtpd.durable-commits"
REPLY_STORAGE = "451 4.3.0 Temporary storage failure, try again later"


@dataclass(frozen=True)
class SmtpdConfig:
    hostname: str
    host: str
    port: int
    rules: RelayRules
    max_message_size: int
    max_recipients: int
    tls_context: ssl.SSLContext | None = field(default=None, compare=False)
    timeout: float = 120.0  # corpus LEN-2: far below aiosmtpd's 300 s
    max_connections_per_ip: int = 20  # per process
    require_starttls: bool = False  # RFC 3207 §4: clients need not use TLS (yet)
    processes: int = 1  # sharing one listening socket (smtpd_run)

    @classmethod
    def from_settings(cls, *, tls_dir: Path | None = None, **overrides: Any) -> SmtpdConfig:
        """Read the settings (at call time, so tests can override them); `overrides` win."""
        hostname = settings.MAILGATE_HOSTNAME
        tls_context = server_tls_context(
            settings.MAILGATE_TLS_CERT,
            settings.MAILGATE_TLS_KEY,
            directory=tls_dir or Path(settings.VAR_DIR) / "tls",
            hostname=hostname,
        )
        config = cls(
            hostname=hostname,
            host=settings.MAILGATE_SMTP_HOST,
            port=settings.MAILGATE_SMTP_PORT,
            rules=RelayRules.build(
                settings.MAILGATE_RELAY_NETWORKS, settings.MAILGATE_LOCAL_DOMAINS
            ),
            max_message_size=settings.MAILGATE_MAX_MESSAGE_SIZE,
            max_recipients=settings.MAILGATE_MAX_RECIPIENTS,
            tls_context=tls_context,
            timeout=float(getattr(settings, "MAILGATE_SMTP_TIMEOUT", 120)),
            max_connections_per_ip=int(
                getattr(settings, "MAILGATE_SMTP_MAX_CONNECTIONS_PER_IP", 20)
            ),
            processes=max(1, int(getattr(settings, "MAILGATE_SMTPD_PROCESSES", 1))),
        )
        return replace(config, **overrides)


def _store(content: bytes, **kwargs: Any) -> str:
    """Check the data, then `message_accept` it; the reply. Runs in a worker thread: the
    scans of a large message and the fsync must not stall the other sessions."""
    from relay.services.accept import message_accept

    problem = data_problem(content)
    if problem:
        log.info("message refused: %s", problem)
        return problem
    # Each executor thread keeps its connection (CONN_MAX_AGE); only one that is too old
    # or broken is replaced, before the message rather than after it.
    close_old_connections()
    message = message_accept(raw=content, **kwargs)
    return f"250 2.0.0 Ok: queued as {message.queue_id}"


def _peer_ip(session: Session) -> str:
    peer: Any = session.peer  # (host, port[, flowinfo, scope_id]) for a TCP socket
    return str(peer[0])


class AcceptHandler:
    """aiosmtpd hooks; each returns the reply (STYLE.md: the handler checks, stores, replies)."""

    def __init__(self, config: SmtpdConfig) -> None:
        self.config = config

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        problem = helo_problem(hostname)
        if problem:
            return [problem]
        session.host_name = hostname
        # AUTH is not offered yet (aiosmtpd would list its built-in mechanisms after TLS);
        # RFC 2034: we send enhanced status codes, so we say so.
        kept = [line for line in responses[:-1] if not line.startswith("250-AUTH")]
        return [*kept, "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        problem = helo_problem(hostname)
        if problem:
            return problem
        session.host_name = hostname
        return f"250 {self.config.hostname}"

    async def handle_VRFY(
        self, server: SMTP, session: Session, envelope: Envelope, address: str
    ) -> str:
        # The same answer for every address: VRFY must not enumerate mailboxes (RFC 5321 §7.3).
        return "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery"

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address != "<>":  # aiosmtpd hands the null reverse-path over as "<>" (OR-14)
            problem = address_problem(address, recipient=False, smtputf8=envelope.smtp_utf8)
            if problem:
                return problem
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        problem = address_problem(address, recipient=True, smtputf8=envelope.smtp_utf8)
        problem = problem or self.config.rules.rcpt_problem(_peer_ip(session), address)
        if problem:
            log.info("%r: RCPT %r refused: %s", session.peer, address, problem)
            return problem
        if address in envelope.rcpt_tos:
            return "250 2.1.5 Recipient OK (duplicate ignored)"
        if len(envelope.rcpt_tos) >= self.config.max_recipients:
            # RFC 5321 §4.5.3.1.8 (and §4.5.3.1.10): 452 asks the client to send the rest
            # in another transaction.
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content
        assert isinstance(content, bytes)
        sender = "" if envelope.mail_from == "<>" else str(envelope.mail_from)
        call = functools.partial(
            _store,
            content,
            envelope_sender=sender,
            recipients=list(envelope.rcpt_tos),
            client_ip=_peer_ip(session),
            client_helo=session.host_name or "",
            client_tls=session.ssl is not None,
        )
        try:
            return await asyncio.get_running_loop().run_in_executor(None, call)
        except SpoolError:
            log.exception("%r: storage failure", session.peer)
        except Exception:
            log.exception("%r: cannot accept message", session.peer)
        return REPLY_STORAGE

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            # ST-5: a failed handshake ends that one session; no traceback in the logs.
            log.info("TLS handshake failed: %s", error.__cause__ or error)
            return "454 4.7.0 TLS handshake failed"
        log.exception("SMTP session error")
        return "451 4.3.0 Internal error, try again later"


class SmtpdServer:
    """The listener on one event loop; `port` is known after `start()` (port 0: a free one)."""

    def __init__(self, config: SmtpdConfig) -> None:
        self.config = config
        self.handler = AcceptHandler(config)
        self.counter = ConnectionCounter(config.max_connections_per_ip)
        self._server: asyncio.Server | None = None
        self._protocols: weakref.WeakSet[MailgateSMTP] = weakref.WeakSet()

    def _protocol(self) -> MailgateSMTP:
        protocol = MailgateSMTP(
            self.handler,
            counter=self.counter,
            hostname=self.config.hostname,  # explicit: aiosmtpd would call getfqdn()
            ident="ESMTP Mailgate",
            data_size_limit=self.config.max_message_size,
            enable_SMTPUTF8=True,
            tls_context=self.config.tls_context,
            require_starttls=self.config.require_starttls,
            timeout=self.config.timeout,
            auth_require_tls=True,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],  # AUTH is not offered yet
            loop=asyncio.get_running_loop(),
        )
        self._protocols.add(protocol)
        return protocol

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on the configured address, or on `sock` (a listening socket shared by
        several smtpd processes)."""
        # Every connection this process opens from now on commits durably (see below).
        connection_created.connect(sqlite_durable_commits, dispatch_uid=DURABLE_UID)
        loop = asyncio.get_running_loop()
        if sock is not None:
            self._server = await loop.create_server(self._protocol, sock=sock)
        else:
            self._server = await loop.create_server(
                self._protocol, host=self.config.host, port=self.config.port
            )
        log.info(
            "smtpd listening on %s:%s as %s", self.config.host, self.port, self.config.hostname
        )

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        connection_created.disconnect(dispatch_uid=DURABLE_UID)
        if self._server is None:
            return
        self._server.close()
        for protocol in list(self._protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        self._protocols.clear()
        await self._server.wait_closed()
        self._server = None


def sqlite_durable_commits(sender: Any, connection: Any, **_: Any) -> None:
    """Make every commit of this process's SQLite connections reach the disk.

    The shared settings use WAL with ``synchronous=NORMAL``: that survives a crash of a
    process, but the last commits may roll back after a power loss or an OS crash (SQLite,
    "PRAGMA synchronous"). A 250 promises the message is stored (RFC 5321 §6.1), so the
    smtpd commits with FULL: the WAL is fsync'ed before each commit returns. The workers'
    own writes may stay NORMAL: a lost one only repeats work (at-least-once)."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=FULL")


def smtpd_run(config: SmtpdConfig) -> None:
    """Serve until SIGTERM or SIGINT, then stop listening and close the sessions.

    With ``processes`` > 1, the listening socket is opened here and that many processes
    are forked to serve it (the kernel hands each connection to one of them), as Postfix
    runs several smtpd processes: one Python process tops out at one core. This process
    then only watches them: one that dies is started again, and SIGTERM stops them all."""
    if config.processes <= 1:
        asyncio.run(_serve(config))
        return
    sock = _listening_socket(config.host, config.port)
    log.info("smtpd: %d processes on %s:%s", config.processes, config.host, config.port)
    _supervise(config, sock)


async def _serve(config: SmtpdConfig, sock: socket.socket | None = None) -> None:
    server = SmtpdServer(config)
    await server.start(sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("smtpd stopping")
    await server.stop()


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=511)
    sock.setblocking(False)
    return sock


RESTART_PAUSE = 1.0  # seconds between restarts of a child that keeps dying


def _supervise(config: SmtpdConfig, sock: socket.socket) -> None:
    """Fork the serving processes and keep them running until SIGTERM / SIGINT."""
    from django.db import connections

    connections.close_all()  # no connection may be shared with a child
    stopping = False

    children: dict[int, int] = {}  # pid -> slot

    def stop(signum: int, frame: Any) -> None:
        # waitpid() below is resumed after a handler (PEP 475): it returns once the
        # children, told here, have stopped.
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(config.processes):
        children[_fork_child(config, sock, slot)] = slot
    while not stopping:
        try:
            pid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            break
        slot_of = children.pop(pid, None)
        if slot_of is None or stopping:
            continue
        log.error("smtpd process %d (slot %d) ended (status %d): starting another", pid,
                  slot_of, status)  # fmt: skip
        time.sleep(RESTART_PAUSE)
        if not stopping:
            children[_fork_child(config, sock, slot_of)] = slot_of
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    sock.close()
    log.info("smtpd stopped")


def _fork_child(config: SmtpdConfig, sock: socket.socket, slot: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    # The child: default signal handling until its event loop installs its own.
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        log.info("smtpd process %d of %d serving (pid %d)", slot + 1, config.processes,
                 os.getpid())  # fmt: skip
        asyncio.run(_serve(config, sock))
    except BaseException:
        log.exception("smtpd process failed")
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)
