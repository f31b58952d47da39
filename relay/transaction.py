"""One mail transaction on an open session: MAIL FROM, RCPT TO for each recipient, DATA.

Envelope addresses are checked before this runs (relay.addresses) and written as
`FROM:<addr>` / `TO:<addr>` here, never through smtplib's re-parsing `quoteaddr()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from relay.addresses import needs_smtputf8
from relay.datastream import DataInfo, wire_chunks
from relay.smtpclient import Reply, Session

if TYPE_CHECKING:
    from relay.delivery import DeliveryJob


@dataclass(frozen=True, slots=True)
class Transaction:
    session: Session
    job: DeliveryJob
    recipients: tuple[str, ...]
    info: Callable[[], DataInfo]  # wire size and 8-bit flag, measured once per message


@dataclass(slots=True)
class TxOutcome:
    outcome: str  # delivered, deferred, bounced
    reply: Reply | None  # the reply that decided the outcome
    final: dict[str, Reply] = field(default_factory=dict)  # recipient → 2xx/5xx reply
    temporary: Reply | None = None  # the last 4xx: recipients not in `final` wait for it
    reusable: bool = True  # the session is between transactions and may be cached


def run_transaction(tx: Transaction) -> TxOutcome:
    """Raise OSError/SMTPException on network failure (the caller moves to the next host)."""
    session, job = tx.session, tx.job
    utf8 = needs_smtputf8(job.sender, *tx.recipients)
    if utf8 and not session.has("smtputf8"):
        # RFC 6531 §3.4: non-ASCII addresses must not be sent to a server without SMTPUTF8.
        return _all(tx, Reply(553, "5.6.7 SMTPUTF8 is required, but was not offered by host"))
    info = tx.info()
    limit = session.size_limit()
    if limit and info.size > limit:  # RFC 1870 §6: do not send what the peer will refuse
        text = f"5.3.4 Message size {info.size} exceeds the fixed limit {limit} of the host"
        return _all(tx, Reply(552, text))
    reply = session.command("MAIL", f"FROM:<{job.sender}>{_mail_params(session, info, utf8)}")
    if not reply.is_ok:
        return _all(tx, reply, reusable=reply.code != 421 and session.reset())
    return _recipients_then_data(tx)


def _mail_params(session: Session, info: DataInfo, utf8: bool) -> str:
    params = []
    if session.has("size"):  # RFC 1870 §3: declare the size
        params.append(f"SIZE={info.size}")
    if info.eight_bit and session.has("8bitmime"):  # RFC 6152 §3
        # Without 8BITMIME the data is sent as is, as Postfix does by default: converting
        # would re-serialise the message (DESIGN.md: raw bytes out).
        params.append("BODY=8BITMIME")
    if utf8:  # RFC 6531 §3.4
        params.append("SMTPUTF8")
        session.smtp.command_encoding = "utf-8"
    return "".join(f" {param}" for param in params)


def _recipients_then_data(tx: Transaction) -> TxOutcome:
    session = tx.session
    result = TxOutcome("deferred", None)
    accepted: list[str] = []
    for address in tx.recipients:
        reply = session.command("RCPT", f"TO:<{address}>")
        if reply.code == 421:  # RFC 5321 §3.8: the server is closing; next host
            return TxOutcome("deferred", reply, result.final, reply, reusable=False)
        if reply.is_ok:
            accepted.append(address)
        elif reply.is_temporary:  # 4xx: this recipient is tried at the next host
            result.temporary = result.reply = reply
        else:  # 5xx: final for this recipient (RFC 5321 §4.2.1)
            result.final[address] = reply
            result.reply = result.reply or reply
    if not accepted:
        result.outcome = "deferred" if result.temporary else "bounced"
        result.reusable = session.reset()
        return result
    with tx.job.open_data() as stream:
        reply = session.send_data(wire_chunks(tx.job.prepend, stream))
    result.reply = reply
    if reply.is_ok or not reply.is_temporary:  # RFC 5321 §4.2.5: one reply for everyone
        result.final.update(dict.fromkeys(accepted, reply))
    else:
        result.temporary = reply
    result.outcome = "delivered" if reply.is_ok else "deferred" if reply.is_temporary else "bounced"
    result.reusable = reply.code != 421  # a reused session starts with RSET anyway
    return result


def _all(tx: Transaction, reply: Reply, *, reusable: bool = True) -> TxOutcome:
    """The same reply for every recipient (MAIL refused, message too big...)."""
    if reply.is_temporary:
        return TxOutcome("deferred", reply, {}, reply, reusable)
    return TxOutcome("bounced", reply, dict.fromkeys(tx.recipients, reply), None, reusable)
