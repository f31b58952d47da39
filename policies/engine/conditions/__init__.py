"""Condition kinds: small handlers in a registry, each with its parameter schema.

Importing this package registers every kind; ``handler_for(kind)`` finds one.
"""

from . import content, envelope
from .base import REGISTRY, Check, ConditionKind, handler_for
from .content import HeaderMatch

__all__ = [
    "REGISTRY",
    "Check",
    "ConditionKind",
    "HeaderMatch",
    "content",
    "envelope",
    "handler_for",
]
