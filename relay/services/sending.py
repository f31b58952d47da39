"""The delivery stage: claim due recipients, deliver per domain, record what happened.

The pure client (`relay.delivery.deliver`) talks SMTP; this module loads the configuration
(route, sending connection policy), feeds it the raw spool stream with the policy-added
headers prepended as raw lines, and stores attempts, recipient states, retries and DSNs.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import re
import time
from collections import defaultdict
from collections.abc import Sequence

import dns.resolver
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mailgate.logging import message_logger
from mailgate.rows import db_value, rows_update
from relay.conncache import ConnectionCache
from relay.delivery import Attempt, DeliveryJob, DeliveryResult, RecipientResult, deliver
from relay.models import (
    DeliveryAttempt,
    Message,
    Recipient,
    RecipientState,
    SendingConnectionPolicy,
)
from relay.models.queue import FINAL_RECIPIENT_STATES, TAG_PURL, Relation
from relay.mx import make_resolver
from relay.routing import RouteSpec, candidates_for
from relay.selectors import config_snapshot, domain_settings
from relay.services import queue
from relay.services.bounce import Failure, message_bounce
from relay.spool import spool_open
from relay.tls import TLSPolicy

log = logging.getLogger(__name__)

# RFC 5322 §3.6.8: a field name is printable US-ASCII except the colon.
_FIELD_NAME = re.compile(r"^[\x21-\x39\x3b-\x7e]{1,76}$")

MAX_HOPS_FOLLOWED = 100  # loop-back parents followed to find a notification's tag

# The claim of a run is renewed before a domain once this many seconds have passed since it
# was taken (the lease is minutes long: a claim taken just now needs no renewal).
RENEW_AFTER = 10.0

_cache: ConnectionCache | None = None
_cache_pid = 0


def connection_cache() -> ConnectionCache:
    """One connection cache per worker process (a forked child starts its own)."""
    global _cache, _cache_pid
    if _cache is None or _cache_pid != os.getpid():
        _cache = ConnectionCache(settings.MAILGATE_CONNECTION_CACHE_IDLE)
        _cache_pid = os.getpid()
    return _cache


def connection_cache_close() -> None:
    if _cache is not None and _cache_pid == os.getpid():
        _cache.close()


def message_deliver(
    message_id: int, *, message: Message | None = None, claimed: list[Recipient] | None = None
) -> int:
    """Deliver the due recipients of one message; return how many this run claimed.

    The policy stage, which has the message in hand and has already claimed its recipients
    in its own transaction, passes both (`claimed` are then ours, under their lease)."""
    if claimed is None:
        claimed = queue.recipients_claim(message_id)
    if not claimed:
        queue.message_finish_if_done(message_id)
        return 0
    if message is None:
        message = Message.objects.get(pk=message_id)
    by_domain: dict[str, list[Recipient]] = defaultdict(list)
    for recipient in claimed:
        by_domain[recipient.domain].append(recipient)
    failures: list[Failure] = []
    done = False
    claimed_at = time.monotonic()
    try:
        for domain, batch in by_domain.items():
            recipients = batch
            if time.monotonic() - claimed_at > RENEW_AFTER:  # a long run keeps its claim fresh
                recipients = queue.recipients_renew(batch)
            if recipients:
                result = _deliver_domain(message, domain, recipients)
                new_failures, done = _record(message, recipients, result, finish=not failures)
                failures.extend(new_failures)
    finally:
        # Whatever went wrong above, nothing stays `delivering` longer than needed.
        queue.recipients_release_lease([r for r in claimed if r.state == RecipientState.DELIVERING])
    if failures:
        with transaction.atomic():  # bounced without its DSN cannot happen
            message_bounce(message=message, failures=failures)
            queue.message_finish_if_done(message_id)
    elif not done:
        queue.message_finish_if_done(message_id)  # one conditional UPDATE: no transaction
    return len(claimed)


def _deliver_domain(message: Message, domain: str, recipients: list[Recipient]) -> DeliveryResult:
    route, tls_policy = delivery_settings(domain, message.route_name)
    resolver = _resolver(tuple(settings.MAILGATE_DNS_NAMESERVERS), settings.MAILGATE_DNS_TIMEOUT)
    candidates = candidates_for(
        domain, route, resolver=resolver, default_port=settings.MAILGATE_DELIVERY_PORT
    )
    job = DeliveryJob(
        queue_id=message.queue_id,
        sender=message.envelope_sender,
        recipients=tuple(r.address for r in recipients),
        open_data=lambda: spool_open(message.spool_name),
        prepend=header_lines(message.headers_added),
        is_notification=message_is_notification(message),
    )
    return deliver(
        job,
        candidates,
        tls_policy,
        local_hostname=settings.MAILGATE_HOSTNAME,
        cache=connection_cache(),
    )


def message_is_notification(message: Message) -> bool:
    """Tagged 'Secure Collaboration: PURL', or a looped-back copy of such a message.

    Tags do not travel over SMTP: a notification handed back to Mailgate (its first host
    answered 4xx, say) re-enters untagged, yet it is the same notification, linked to it by
    our own Received id on a loop-back. Without this, "Do not use TLS for Secure
    Collaboration notifications" would not apply to the copy, and a notification to a
    partner without STARTTLS could never be delivered once it had gone round."""
    seen = 0
    current: Message | None = message
    while current is not None and seen < MAX_HOPS_FOLLOWED:
        if TAG_PURL in (current.tags or []):
            return True
        if current.relation != Relation.LOOPBACK or current.parent_id is None:
            return False
        current = Message.objects.filter(pk=current.parent_id).first()
        seen += 1
    return False


@functools.lru_cache(maxsize=8)
def _resolver(nameservers: tuple[str, ...], timeout: float) -> dns.resolver.Resolver:
    """One resolver per process and setting (the system one reads /etc/resolv.conf)."""
    return make_resolver(list(nameservers), timeout)


def delivery_settings(domain: str, route_name: str = "") -> tuple[RouteSpec, TLSPolicy]:
    """The route (a policy's choice overrides the domain's) and the sending policy."""
    snapshot = config_snapshot()
    found = domain_settings(domain, snapshot)
    route = found.route
    if route_name:
        chosen = snapshot.routes.get(route_name)
        if chosen is None:
            log.warning("route %r chosen by a policy does not exist; using %s", route_name, route)
        else:
            route = chosen
    spec = RouteSpec(use_dns_first=route.use_dns_first, hosts=tuple(route.hosts or ()))
    return spec, tls_policy_from(found.sending_policy)


def tls_policy_from(policy: SendingConnectionPolicy) -> TLSPolicy:
    return TLSPolicy(
        enable_tls=policy.enable_tls,
        require_tls=policy.require_tls and policy.enable_tls,
        verify_certificate=policy.verify_certificate,
        min_tls_version=policy.min_tls_version,
        connect_timeout=float(policy.connect_timeout),
        command_timeout=float(policy.command_timeout),
        no_tls_for_notifications=policy.no_tls_for_notifications,
    )


def header_lines(headers: Sequence[Sequence[str]]) -> bytes:
    """Policy-added headers as raw lines, prepended to the untouched message.

    Never re-serialised by the `email` package; a name or value that could break the header
    section (CR, LF, a colon in the name) is dropped, not repaired (RFC 5322 §2.2, §3.6.8)."""
    lines: list[bytes] = []
    for pair in headers or ():
        name, value = str(pair[0]), str(pair[1])
        if not _FIELD_NAME.match(name) or "\r" in value or "\n" in value or "\0" in value:
            log.warning("dropped an invalid policy header %r", name)
            continue
        lines.append(f"{name}: {value}\r\n".encode())
    return b"".join(lines)


def _record(
    message: Message, recipients: list[Recipient], result: DeliveryResult, *, finish: bool = True
) -> tuple[list[Failure], bool]:
    """Store the attempts and each recipient's outcome; (the new failures, whether the
    message is done). With `finish` and no failure, a message whose recipients are all
    final now is marked done in the same transaction: one write transaction, not two. A
    failure leaves that to the caller, which accepts the DSN in the same transaction."""
    now = timezone.now()
    outcomes = {r.address: r for r in result.recipients}
    failures: list[Failure] = []
    stored: list[tuple[Recipient, RecipientResult, Failure | None]] = []
    with transaction.atomic():
        DeliveryAttempt.objects.bulk_create(
            [_attempt_row(message, attempt) for attempt in result.attempts]
        )
        for recipient in recipients:
            outcome = outcomes.get(recipient.address)
            if outcome is None:
                continue
            updated, failure = _apply_outcome(message, recipient, outcome, now)
            if updated:
                stored.append((recipient, outcome, failure))
            if failure is not None:
                failures.append(failure)
        final = all(r.state in FINAL_RECIPIENT_STATES for r in recipients)
        done = finish and final and not failures and queue.message_finish_if_done(message.pk)
    for recipient, outcome, failure in stored:  # once committed: what happened
        _log_outcome(message, recipient, outcome, failure, result.attempts)
    return failures, done


def _log_outcome(
    message: Message,
    recipient: Recipient,
    outcome: RecipientResult,
    failure: Failure | None,
    attempts: Sequence[Attempt],
) -> None:
    """One INFO line per recipient: addresses, hosts, codes and replies, never content."""
    message_log = message_logger(message.queue_id, __name__)
    reply = f"{outcome.reply_code or ''} {outcome.reply}".strip()
    if recipient.state == RecipientState.DELIVERED:
        # The last attempt that carried this recipient is the session that took it.
        last = next((a for a in reversed(attempts) if recipient.address in a.recipients), None)
        host = f"{last.host} [{last.ip}]:{last.port}" if last else outcome.remote_mta
        tls = (last.tls_version or "TLS") if last and last.tls else "no TLS"
        message_log.info("delivered %s: %s, %s, %s", recipient.address, host, tls, reply)
    elif failure is not None:
        message_log.info("bounced %s: %s %s", recipient.address, failure.status, failure.diagnostic)
    else:
        message_log.info(
            "deferred %s (attempt %d): %s", recipient.address, recipient.attempts, reply
        )


def _apply_outcome(
    message: Message, recipient: Recipient, outcome: RecipientResult, now: dt.datetime
) -> tuple[bool, Failure | None]:
    """Store one recipient's outcome under our claim; (stored, the failure for its DSN)."""
    attempts = recipient.attempts + 1
    reply = f"{outcome.reply_code or ''} {outcome.reply}".strip()
    fields: dict[str, object] = {"attempts": attempts, "lease_until": None, "last_response": reply}
    failure = None
    if outcome.state == "delivered":
        fields.update(state=RecipientState.DELIVERED, final_at=now, next_attempt_at=None)
    elif outcome.state == "bounced":
        fields.update(state=RecipientState.BOUNCED, final_at=now, next_attempt_at=None)
        failure = Failure(recipient, outcome.status, reply, outcome.remote_mta)
    elif queue.is_expired(message, now):
        # RFC 3463 X.4.7: delivery time expired; the last temporary reply is the diagnostic.
        fields.update(state=RecipientState.BOUNCED, final_at=now, next_attempt_at=None)
        failure = Failure(recipient, "4.4.7", f"Delivery time expired; last reply: {reply}")
    else:
        fields.update(state=RecipientState.DEFERRED, next_attempt_at=now + queue.backoff(attempts))
    # Only our own claim is written (state and lease value): an admin's hold or bounce, or
    # another run that took over an expired lease, is not overwritten.
    # Written out (mailgate.rows): one per recipient and attempt, 0.2 ms of ORM each.
    ours, params = "id = %s AND state = %s", [recipient.pk, str(RecipientState.DELIVERING)]
    if recipient.lease_until is None:  # not so under a claim; as the ORM's filter would say
        ours += " AND lease_until IS NULL"
    else:
        ours += " AND lease_until = %s"
        params.append(db_value(Recipient, "lease_until", recipient.lease_until))
    updated = rows_update(Recipient, fields, ours, params)
    recipient.state = str(fields["state"])
    recipient.attempts = attempts
    return bool(updated), (failure if updated else None)


def _attempt_row(message: Message, a: Attempt) -> DeliveryAttempt:
    return DeliveryAttempt(
        message=message, recipients=list(a.recipients), duration_ms=a.duration_ms,
        host=a.host, ip=a.ip, port=a.port, source=a.source, tls=a.tls,
        tls_version=a.tls_version or "", tls_cipher=a.tls_cipher or "",
        outcome=a.outcome, reply_code=a.reply_code, reply=a.reply,
    )  # fmt: skip
