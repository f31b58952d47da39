"""Relay models: the relay policies (configuration) and the queue (messages)."""

from .config import DeliveryRoute, ExternalDomain, SendingConnectionPolicy, TLSVersion
from .queue import DeliveryAttempt, Message, MessageState, Recipient, RecipientState

__all__ = [
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
