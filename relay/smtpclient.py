"""One SMTP client session to one host: connect, EHLO/HELO, STARTTLS, commands, DATA.

smtplib sends the commands (its `putcmd()` refuses CR/LF in arguments, bpo-43124); DATA is
streamed here, because `smtplib.sendmail()` neither normalises bare CR/LF nor streams.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass

from relay.datastream import TERMINATOR
from relay.routing import Candidate
from relay.tls import TLSPolicy

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")

QUIT_TIMEOUT = 5.0

NetworkError = (OSError, smtplib.SMTPException)  # socket errors, timeouts, disconnects


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    text: str

    @property
    def status(self) -> str:
        """The RFC 3463 enhanced status code: from the reply text, else from the class."""
        match = _ENHANCED.match(self.text)
        if match and match.group(1) == str(self.code)[0]:
            return match.group(0)
        return f"{str(self.code)[0]}.0.0" if 200 <= self.code < 600 else "4.0.0"

    @property
    def is_ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def is_temporary(self) -> bool:
        return not 500 <= self.code < 600

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


def _reply(code: int, message: bytes | str) -> Reply:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return Reply(code, " ".join(text.split()))  # multi-line replies joined on one line


class HostUnusable(Exception):
    """This host cannot take the message now; `outcome` is the attempt's outcome."""

    def __init__(self, outcome: str, reply: Reply | None, detail: str = "") -> None:
        super().__init__(detail or str(reply))
        self.outcome = outcome  # "error", "deferred", "skipped" or "tls-failed"
        self.reply = reply
        self.detail = detail or str(reply)
        self.clear_retry = False  # a failed opportunistic handshake: retry without TLS


class Session:
    """A connected, greeted (and maybe encrypted) SMTP session, ready for MAIL FROM."""

    def __init__(self, smtp: smtplib.SMTP, candidate: Candidate) -> None:
        self.smtp = smtp
        self.candidate = candidate
        self.tls = False
        self.tls_version = ""
        self.tls_cipher = ""
        self.idle_since = time.monotonic()

    @classmethod
    def open(
        cls,
        candidate: Candidate,
        policy: TLSPolicy,
        *,
        local_hostname: str,
        context: ssl.SSLContext | None,
    ) -> Session:
        """Connect and greet; STARTTLS per `policy` (`context` None: stay in clear).

        Raise HostUnusable; under require_tls a host without working TLS is never used."""
        # local_hostname is always given: smtplib would otherwise call socket.getfqdn().
        smtp = smtplib.SMTP(local_hostname=local_hostname, timeout=policy.connect_timeout)
        session = cls(smtp, candidate)
        try:
            code, message = smtp.connect(candidate.ip, candidate.port)
            if smtp.sock is not None:
                smtp.sock.settimeout(policy.command_timeout)
            if code != 220:  # RFC 5321 §3.1: 554 (or 421) greeting: try another host
                raise HostUnusable("deferred", _reply(code, message))
            session._hello()
            if context is not None and policy.enable_tls:
                session._starttls(policy, context)
            elif policy.require_tls:
                raise HostUnusable("skipped", None, "TLS required but not enabled")
        except HostUnusable as exc:
            # QUIT politely where the dialogue is intact; a broken TLS layer is just closed.
            if exc.outcome in {"skipped", "deferred"}:
                session.quit()
            else:
                session.close()
            raise
        except NetworkError as exc:
            session.close()
            raise HostUnusable("error", None, _describe(exc)) from exc
        return session

    def _hello(self) -> None:
        code, message = self.smtp.ehlo()
        if code != 250:  # RFC 5321 §4.1.4: an old server may only know HELO
            code, message = self.smtp.helo()
            if code != 250:
                raise HostUnusable("deferred", _reply(code, message))

    def _starttls(self, policy: TLSPolicy, context: ssl.SSLContext) -> None:
        if not self.smtp.has_extn("starttls"):
            if policy.require_tls:
                raise HostUnusable("skipped", None, "STARTTLS not offered; TLS is required")
            return
        code, message = self.smtp.docmd("STARTTLS")
        if code != 220:  # RFC 3207 §4: e.g. 454; carry on in clear only if allowed
            if policy.require_tls:
                raise HostUnusable("tls-failed", _reply(code, message))
            return
        try:
            assert self.smtp.sock is not None
            self.smtp.sock = context.wrap_socket(
                self.smtp.sock, server_hostname=self.candidate.host
            )
        except NetworkError as exc:
            failure = HostUnusable("tls-failed", None, f"TLS handshake failed: {_describe(exc)}")
            failure.clear_retry = not policy.require_tls
            raise failure from exc
        # RFC 3207 §4.2: forget everything learnt before TLS and greet again.
        self.smtp.file = None
        self.smtp.helo_resp = self.smtp.ehlo_resp = None
        self.smtp.esmtp_features = {}
        self.smtp.does_esmtp = False
        sock = self.smtp.sock
        if isinstance(sock, ssl.SSLSocket):
            self.tls = True
            self.tls_version = sock.version() or ""
            cipher = sock.cipher()
            self.tls_cipher = cipher[0] if cipher else ""
        self._hello()

    def has(self, extension: str) -> bool:
        return bool(self.smtp.has_extn(extension))

    def size_limit(self) -> int:
        """RFC 1870 §4: the SIZE parameter; 0 means no fixed limit."""
        value = self.smtp.esmtp_features.get("size", "").strip()
        return int(value) if value.isdigit() else 0

    def command(self, verb: str, argument: str = "") -> Reply:
        """One command and its reply; CR/LF in `argument` raises ValueError (smtplib)."""
        code, message = self.smtp.docmd(verb, argument)
        return _reply(code, message)

    def send_data(self, chunks: Iterable[bytes]) -> Reply:
        """DATA: expect 354, stream the wire-ready chunks, then "." CRLF (RFC 5321 §4.1.1.4).

        `chunks` must come from `datastream.wire_chunks` (normalised, ending in CRLF)."""
        reply = self.command("DATA")
        if reply.code != 354:
            return reply
        sock = self.smtp.sock
        assert sock is not None
        buffer = bytearray()
        for chunk in chunks:  # coalesce small pieces into fewer writes
            buffer += chunk
            if len(buffer) >= 64 * 1024:
                sock.sendall(buffer)
                buffer.clear()
        buffer += TERMINATOR
        sock.sendall(buffer)
        code, message = self.smtp.getreply()
        return _reply(code, message)

    def reset(self) -> bool:
        """RSET before reusing a session (RFC 5321 §4.1.1.5); False if it is not usable."""
        try:
            ok = self.command("RSET").code == 250
        except NetworkError:
            ok = False
        self.smtp.command_encoding = "ascii"
        return ok

    def quit(self) -> None:
        """QUIT politely (a few seconds at most), then close."""
        with contextlib.suppress(*NetworkError):
            if self.smtp.sock is not None:
                self.smtp.sock.settimeout(QUIT_TIMEOUT)
                self.smtp.quit()
        self.close()

    def close(self) -> None:
        with contextlib.suppress(*NetworkError):
            self.smtp.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(f"{type(exc).__name__}: {text}".split())
