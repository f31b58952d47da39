"""What the engine knows about a message: ``MessageContext``, and its per-evaluation view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .patterns import IPAddress, client_address


@dataclass(frozen=True)
class MessageContext:
    """Plain, read-only facts about one message (build it by hand or with context_from_bytes).

    ``headers`` maps lower-case header names to their unfolded, RFC 2047-decoded values, in
    message order. ``envelope_sender`` is ``""`` for the null reverse-path ``<>``.
    """

    client_ip: str | None = None
    envelope_sender: str = ""
    header_from: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    tags: frozenset[str] = frozenset()
    is_dsn: bool = False
    size: int = 0
    subject: str | None = None
    attachments: tuple[tuple[str, str], ...] = ()
    parse_notes: tuple[str, ...] = ()


def canonical_address(address: str) -> str | None:
    """``local@domain`` for matching; None for the null reverse-path; ``local@`` without a domain.

    Angle brackets and surrounding spaces are dropped (RFC 5321 §4.1.2 path syntax).
    """
    text = address.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if not text:
        return None
    return text if "@" in text else f"{text}@"


class EvalState:
    """One evaluation's view: the context, normalised once, plus what earlier policies added."""

    __slots__ = (
        "added_headers",
        "attachments",
        "client_ip",
        "ctx",
        "header_from",
        "headers",
        "is_dsn",
        "recipients",
        "sender",
        "size",
        "subject",
        "tags",
    )

    def __init__(self, ctx: MessageContext) -> None:
        self.ctx = ctx
        self.client_ip: IPAddress | None = client_address(ctx.client_ip)
        self.sender = canonical_address(ctx.envelope_sender)
        self.header_from = _canonical_all(ctx.header_from)
        self.recipients = _canonical_all(ctx.recipients)
        self.headers = ctx.headers
        self.added_headers: dict[str, list[str]] = {}
        self.tags = {tag.strip().lower() for tag in ctx.tags}
        self.is_dsn = ctx.is_dsn
        self.size = ctx.size
        self.subject = ctx.subject
        self.attachments = ctx.attachments

    def header_values(self, lower_name: str) -> tuple[str, ...] | list[str]:
        """The message's values for a header, then those added by earlier policies."""
        values = self.headers.get(lower_name, ())
        added = self.added_headers.get(lower_name)
        return [*values, *added] if added else values


def _canonical_all(addresses: tuple[str, ...]) -> tuple[str, ...]:
    out = (canonical_address(a) for a in addresses)
    return tuple(a for a in out if a is not None)
