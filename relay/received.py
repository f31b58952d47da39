"""Our ``Received:`` trace header: building it, and finding our own ones again.

The form follows RFC 5321 §4.4 (Stamp = From-domain By-domain Opt-info [CFWS] ";" date):

    Received: from <helo> ([<ip>])
            by <MAILGATE_HOSTNAME> (Mailgate) with ESMTPS id <queue_id>
            for <rcpt>; <RFC 5322 date>

* TCP-info is the bare address literal: no reverse DNS lookup is ever made (§4.4 allows it).
* ``with`` is an RFC 3848 protocol name: SMTP (HELO), ESMTP (EHLO), ESMTPS (EHLO + TLS).
* ``for`` only with a single recipient: listing one of several would disclose Bcc copies
  (the same choice Postfix makes).
* Messages Mailgate makes itself have no ``from`` clause (there is no client).

``by <hostname> (Mailgate)`` is the marker that recognises our own headers: their number is
the hop count (DESIGN.md: the hop limit that stops loops), and the ``id`` of the newest one
links a looped-back message to the message it came from.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from email.utils import format_datetime

# PARSE-1 (corpus smtp-attacks.md §6): header parsing cost grows with the header size, so
# only this much of a message is ever looked at as headers.
HEADER_SCAN_LIMIT = 256 * 1024

_HELO_UNSAFE = re.compile(r"[^A-Za-z0-9.\-_:\[\]]")
_ID = re.compile(rb"\bid\s+<?([0-9A-Za-z]{1,64})>?", re.IGNORECASE)


def header_block(raw: bytes, limit: int = HEADER_SCAN_LIMIT) -> bytes:
    """The header section of `raw` (RFC 5322 §2.1: up to the first empty line), capped."""
    if raw.startswith(b"\r\n"):
        return b""
    end = raw.find(b"\r\n\r\n", 0, limit)
    return raw[: end + 2] if end >= 0 else raw[:limit]


def header_fields(block: bytes) -> list[tuple[str, bytes]]:
    """Unfolded ``(lower-case name, raw value)`` pairs, in order (RFC 5322 §2.2.3)."""
    fields: list[tuple[str, bytes]] = []
    for line in block.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if fields:
                last_name, last_value = fields[-1]
                fields[-1] = (last_name, last_value + b" " + line.strip())
            continue
        raw_name, colon, value = line.partition(b":")
        if not colon:
            continue  # not a header field; the parsed view ignores it, the bytes stay
        fields.append((raw_name.strip().decode("ascii", "replace").lower(), value.strip()))
    return fields


def _marker(hostname: str) -> re.Pattern[bytes]:
    host = re.escape(hostname.encode("ascii", "replace"))
    return re.compile(rb"\bby\s+" + host + rb"\s+\(Mailgate\)", re.IGNORECASE)


def own_received_ids(block: bytes, hostname: str) -> list[str]:
    """The ``id`` of each of our own Received headers, newest (topmost) first.

    A header of ours without a readable id gives "" so that it still counts as a hop."""
    marker = _marker(hostname)
    ids: list[str] = []
    for name, value in header_fields(block):
        if name == "received" and marker.search(value):
            found = _ID.search(value)
            ids.append(found.group(1).decode("ascii") if found else "")
    return ids


def helo_for_header(helo: str) -> str:
    """The client's HELO name made safe for a header (INJ-5: no CR, LF or other controls)."""
    return _HELO_UNSAFE.sub("_", helo)[:255] or "unknown"


def received_build(
    *,
    hostname: str,
    queue_id: str,
    client_ip: str | None,
    client_helo: str = "",
    esmtp: bool = True,
    tls: bool = False,
    recipients: tuple[str, ...] | list[str] = (),
    when: datetime | None = None,
) -> bytes:
    """Our Received header as raw bytes ending in CRLF (folded, RFC 5322 §2.2.3)."""
    lines: list[str] = []
    if client_ip is not None:
        ip = ipaddress.ip_address(client_ip)
        literal = f"IPv6:{ip.compressed}" if ip.version == 6 else ip.compressed
        lines.append(f"from {helo_for_header(client_helo)} ([{literal}])")
        proto = "ESMTPS" if tls else ("ESMTP" if esmtp else "SMTP")
        lines.append(f"by {hostname} (Mailgate) with {proto} id {queue_id}")
    else:
        lines.append(f"by {hostname} (Mailgate) id {queue_id}")
    if len(recipients) == 1:
        lines.append(f"for <{recipients[0]}>")
    date = format_datetime(when or datetime.now(UTC))
    lines[-1] += f"; {date}"
    return ("Received: " + "\r\n\t".join(lines) + "\r\n").encode("utf-8", "surrogateescape")
