"""Evaluating a queued message: the worker's entry point (docs/INTERFACES.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from policies.engine import Verdict, context_from_bytes, evaluate
from policies.loader import get_ruleset
from relay.spool import spool_read

if TYPE_CHECKING:
    from relay.models import Message


def policies_evaluate(
    message: Message, raw: bytes | None = None, *, recipients: Sequence[str] | None = None
) -> Verdict:
    """Run the enabled policies (cached ruleset) over a queued message (`recipients`: its
    envelope recipients, when the caller has read them already)."""
    if raw is None:
        raw = spool_read(message.spool_name)
    if recipients is None:
        recipients = list(message.recipients.values_list("address", flat=True))
    ruleset = get_ruleset()
    ctx = context_from_bytes(
        raw,
        client_ip=message.client_ip,
        envelope_sender=message.envelope_sender,
        recipients=list(recipients),
        tags=list(message.tags or ()),
        scan_attachments="attachment" in ruleset.kinds,
    )
    return evaluate(ruleset, ctx)
