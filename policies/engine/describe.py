"""``describe_policy``: a policy as the vendor's one-line sentence."""

from __future__ import annotations

from collections.abc import Iterable

from .specs import ConditionSpec, PolicySpec


def describe_conditions(conditions: Iterable[ConditionSpec]) -> str:
    """Conditions in order, each after its own ``and`` / ``or``."""
    parts: list[str] = []
    for index, condition in enumerate(conditions):
        if index:
            parts.append(condition.join)
        parts.append(condition.describe())
    return " ".join(parts)


def describe_policy(spec: PolicySpec) -> str:
    """E.g. "TARGET message IF is sent from any of the IP addresses 127.0.0.1 EXCEPT IF message
    contains any of the headers: 'X-SecureMailNotification' or message is a delivery status
    notification THEN Redirect to Secure Mailbox using 'My delivery profile'".

    An empty IF reads "TARGET message THEN ..." (every message); an empty EXCEPT IF is left out.
    """
    sentence = ["TARGET message"]
    if spec.if_conditions:
        sentence.append(f"IF {describe_conditions(spec.if_conditions)}")
    if spec.except_conditions:
        sentence.append(f"EXCEPT IF {describe_conditions(spec.except_conditions)}")
    sentence.append("THEN " + " and ".join(a.describe() for a in spec.actions))
    text = " ".join(sentence)
    if spec.continue_processing:
        text += " and continue processing"
    return text
