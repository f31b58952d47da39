"""Relay models: the relay policies (configuration) and the queue (messages)."""

from .config import (
    ConfigVersion,
    DeliveryRoute,
    ExternalDomain,
    SendingConnectionPolicy,
    TLSVersion,
)
from .queue import DeliveryAttempt, Message, MessageState, Recipient, RecipientState

__all__ = [
    "ConfigVersion",
    "DeliveryAttempt",
    "DeliveryRoute",
    "ExternalDomain",
    "Message",
    "MessageState",
    "Recipient",
    "RecipientState",
    "SendingConnectionPolicy",
    "TLSVersion",
]
