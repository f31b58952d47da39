"""Evaluating a queued message: the worker's entry point (docs/INTERFACES.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from policies.engine import Verdict, context_from_bytes, evaluate
from policies.loader import get_ruleset
from relay.spool import spool_read

if TYPE_CHECKING:
    from relay.models import Message


def policies_evaluate(message: Message, raw: bytes | None = None) -> Verdict:
    """Run the enabled policies (cached ruleset) over a queued message."""
    if raw is None:
        raw = spool_read(message.spool_name)
    ruleset = get_ruleset()
    ctx = context_from_bytes(
        raw,
        client_ip=message.client_ip,
        envelope_sender=message.envelope_sender,
        recipients=list(message.recipients.values_list("address", flat=True)),
        tags=list(message.tags or ()),
        scan_attachments="attachment" in ruleset.kinds,
    )
    return evaluate(ruleset, ctx)
