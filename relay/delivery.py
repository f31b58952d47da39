"""Outbound delivery of one message to the candidate hosts of one domain.

Plain inputs in (`DeliveryJob`, `Candidates`, `TLSPolicy`), a `DeliveryResult` out; no ORM.
The caller stores the attempts and recipient states, schedules retries and sends DSNs.

Rules (DESIGN.md "Deliver"; RFC 5321 §5.1, §4.2.5, RFC 3207):
* hosts are tried in order; one session carries every still-pending recipient;
* with require_tls, a host without STARTTLS or whose handshake fails is skipped: MAIL FROM
  is never sent in clear (checked once more right before the transaction);
* RCPT 2xx → go on; 4xx → the recipient is tried at the next host; 5xx → bounced (final);
* connection failure, timeout, 421 → next host; when hosts run out, pending → deferred.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from relay.addresses import address_problem
from relay.conncache import CacheKey, ConnectionCache
from relay.datastream import DataInfo, measure
from relay.mx import DNSStatus
from relay.routing import Candidate, Candidates
from relay.smtpclient import HostUnusable, NetworkError, Reply, Session
from relay.tls import TLSPolicy, client_context, effective
from relay.transaction import Transaction, run_transaction


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    queue_id: str
    sender: str  # "" for the null reverse-path (bounces)
    recipients: tuple[str, ...]
    open_data: Callable[[], BinaryIO]  # opens the spool file; read in chunks, never whole
    prepend: bytes = b""  # raw header lines (CRLF-terminated) sent before the message
    is_notification: bool = False  # tagged 'Secure Collaboration: PURL'


@dataclass(frozen=True, slots=True)
class Attempt:
    host: str
    ip: str
    port: int
    source: str  # "mx", "a", "route"
    tls: bool
    tls_version: str
    tls_cipher: str
    outcome: str  # delivered, deferred, bounced, skipped, tls-failed, error
    reply_code: int | None
    reply: str
    duration_ms: int
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecipientResult:
    address: str
    state: str  # "delivered", "deferred" or "bounced"
    status: str  # RFC 3463 enhanced status, e.g. "2.0.0", "4.4.1", "5.1.1"
    reply_code: int | None
    reply: str
    remote_mta: str | None  # the host that gave the final answer, for the DSN


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    recipients: tuple[RecipientResult, ...]
    attempts: tuple[Attempt, ...]

    def _in(self, state: str) -> tuple[RecipientResult, ...]:
        return tuple(r for r in self.recipients if r.state == state)

    @property
    def delivered(self) -> tuple[RecipientResult, ...]:
        return self._in("delivered")

    @property
    def deferred(self) -> tuple[RecipientResult, ...]:
        return self._in("deferred")

    @property
    def bounced(self) -> tuple[RecipientResult, ...]:
        return self._in("bounced")


# A context per (policy, CA file), made once per process: building one (and loading the CA
# bundle when certificates are verified) cost more than the SMTP dialogue on loopback.
_client_context = functools.lru_cache(maxsize=64)(client_context)


class _Run:
    """The state of one `deliver()` call: final results, pending recipients, attempts."""

    def __init__(self, job: DeliveryJob, policy: TLSPolicy, cafile: str | None) -> None:
        self.job = job
        self.policy = policy
        self.context: ssl.SSLContext | None = (
            _client_context(policy, cafile) if policy.enable_tls else None
        )
        self.results: dict[str, RecipientResult] = {}
        self.pending: list[str] = []
        self.attempts: list[Attempt] = []
        self.last_temporary: Reply | str = "no host could be reached"
        self._info: DataInfo | None = None

    def info(self) -> DataInfo:
        if self._info is None:
            self._info = measure(self.job.prepend, self.job.open_data)
        return self._info

    def final(self, address: str, reply: Reply, host: str | None) -> None:
        state = "delivered" if reply.is_ok else "bounced"
        self.results[address] = RecipientResult(
            address, state, reply.status, reply.code, reply.text, host
        )

    def record(
        self, candidate: Candidate, session: Session | None, outcome: str, started: float,
        reply: Reply | None, detail: str, recipients: tuple[str, ...],
    ) -> None:  # fmt: skip
        self.attempts.append(
            Attempt(
                host=candidate.host, ip=candidate.ip, port=candidate.port,
                source=candidate.source, tls=bool(session and session.tls),
                tls_version=session.tls_version if session else "",
                tls_cipher=session.tls_cipher if session else "",
                outcome=outcome, reply_code=reply.code if reply else None,
                reply=str(reply) if reply else detail,
                duration_ms=int((time.monotonic() - started) * 1000), recipients=recipients,
            )
        )  # fmt: skip


def deliver(
    job: DeliveryJob,
    candidates: Candidates,
    tls_policy: TLSPolicy,
    *,
    local_hostname: str,
    cache: ConnectionCache | None = None,
    cafile: str | None = None,
) -> DeliveryResult:
    """Deliver `job` to the first hosts of `candidates` that take it."""
    run = _Run(job, effective(tls_policy, job.is_notification), cafile)
    sender_problem = address_problem(job.sender, null_ok=True)
    for address in dict.fromkeys(job.recipients):
        problem = address_problem(address)
        if sender_problem:  # RFC 3463 §3.2: X.1.7 bad sender's address syntax
            run.final(address, Reply(553, f"5.1.7 Bad sender address: {sender_problem}"), None)
        elif problem:  # X.1.3 bad destination address syntax
            run.final(address, Reply(553, f"5.1.3 Bad recipient address: {problem}"), None)
        else:
            run.pending.append(address)
    if run.pending and not candidates.hosts:
        _no_hosts(run, candidates)
    elif run.pending and _spool_readable(run):
        for candidate in candidates.hosts:
            if not run.pending:
                break
            _try_host(run, candidate, cache, local_hostname)
    _defer_pending(run)
    ordered = tuple(run.results[address] for address in dict.fromkeys(job.recipients))
    return DeliveryResult(ordered, tuple(run.attempts))


def _spool_readable(run: _Run) -> bool:
    """Measure the message once, before any connection: a missing spool file defers."""
    try:
        run.info()
    except OSError as exc:
        run.last_temporary = Reply(451, f"4.3.0 Cannot read the message: {exc}")
        return False
    return True


def _defer_pending(run: _Run) -> None:
    """Recipients no host took, with the last temporary reason (RFC 3463 X.4.1 otherwise)."""
    for address in run.pending:
        last = run.last_temporary
        reply = last if isinstance(last, Reply) else Reply(451, f"4.4.1 {last}")
        if not reply.is_temporary:  # e.g. a 554 greeting: that host only; defer
            reply = Reply(451, f"4.4.1 {reply}")
        run.results[address] = RecipientResult(
            address, "deferred", reply.status, reply.code, reply.text, None
        )


def _no_hosts(run: _Run, candidates: Candidates) -> None:
    reason = candidates.reason or "no host to deliver to"
    if candidates.status is DNSStatus.PERMANENT:  # RFC 3463: 5.1.2 bad destination system
        for address in run.pending:
            run.final(address, Reply(550, f"5.1.2 {reason}"), None)
        run.pending = []
    else:  # 4.4.3: directory server failure (DNS)
        run.last_temporary = Reply(451, f"4.4.3 {reason}")


def _try_host(
    run: _Run, candidate: Candidate, cache: ConnectionCache | None, local_hostname: str
) -> None:
    started = time.monotonic()
    recipients = tuple(run.pending)
    key: CacheKey = (candidate.ip, candidate.port, run.policy.cache_key, local_hostname)
    session = _cached(cache, key, candidate)
    if session is None:
        session = _open(run, candidate, local_hostname, started)
        if session is None:
            return
    if run.policy.require_tls and not session.tls:  # never MAIL FROM in clear: last guard
        session.quit()
        run.record(candidate, session, "skipped", started, None, "TLS required", recipients)
        return
    try:
        outcome = run_transaction(Transaction(session, run.job, recipients, run.info))
    except (*NetworkError, ValueError) as exc:  # ValueError: smtplib refused CR/LF
        session.close()
        run.last_temporary = f"{candidate.host}[{candidate.ip}]: {exc}"
        run.record(candidate, session, "error", started, None, str(exc), recipients)
        return
    for address, reply in outcome.final.items():
        run.final(address, reply, candidate.host)
    run.pending = [address for address in run.pending if address not in outcome.final]
    if outcome.temporary is not None:
        run.last_temporary = outcome.temporary
    if outcome.reusable and cache is not None:
        cache.put(key, session)
    elif outcome.reusable:
        session.quit()
    else:
        session.close()
    run.record(candidate, session, outcome.outcome, started, outcome.reply, "", recipients)


def _cached(cache: ConnectionCache | None, key: CacheKey, candidate: Candidate) -> Session | None:
    if cache is None:
        return None
    session = cache.take(key)
    if session is not None and not session.reset():
        session.close()
        return None
    if session is not None:
        session.candidate = candidate
    return session


def _open(run: _Run, candidate: Candidate, local_hostname: str, started: float) -> Session | None:
    """A new session, or None with the failed attempt(s) recorded."""
    recipients = tuple(run.pending)
    context = run.context
    for _ in range(2):
        try:
            return Session.open(
                candidate, run.policy, local_hostname=local_hostname, context=context
            )
        except HostUnusable as exc:
            run.record(candidate, None, exc.outcome, started, exc.reply, exc.detail, recipients)
            run.last_temporary = exc.reply or f"{candidate.host}[{candidate.ip}]: {exc.detail}"
            if not exc.clear_retry:
                return None
            # RFC 3207 §4.1 / RFC 7435: opportunistic TLS failed; reconnect in clear.
            context = None
            started = time.monotonic()
    return None
