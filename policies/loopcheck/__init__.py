"""The loop check: how the configuration could make mail loop or be lost (DESIGN.md, "The
reference setup": "a wrong setup loops endlessly ... visible before it happens").

The check itself is pure (``check_loops(LoopConfig) -> LoopReport``); ``collect`` (Django)
reads the configuration into a ``LoopConfig``: import it from ``policies.loopcheck.collect``.
"""

from .check import check_loops
from .config import DomainInfo, LoopConfig, ProfileInfo, RouteInfo, SendingInfo, host_is_self
from .findings import (
    DSN_REDIRECTED,
    DSN_ROUTE_LOOPS,
    ERROR,
    LOOP_ROUTE_UNCAUGHT,
    NOTIFICATION_REDIRECTED,
    NOTIFICATION_ROUTE_LOOPS,
    POLICY_INVALID,
    SENDER_CHECK_ONE_SIDE,
    WARNING,
    Finding,
    LoopReport,
    PathReport,
)

__all__ = [
    "DSN_REDIRECTED",
    "DSN_ROUTE_LOOPS",
    "ERROR",
    "LOOP_ROUTE_UNCAUGHT",
    "NOTIFICATION_REDIRECTED",
    "NOTIFICATION_ROUTE_LOOPS",
    "POLICY_INVALID",
    "SENDER_CHECK_ONE_SIDE",
    "WARNING",
    "DomainInfo",
    "Finding",
    "LoopConfig",
    "LoopReport",
    "PathReport",
    "ProfileInfo",
    "RouteInfo",
    "SendingInfo",
    "check_loops",
    "host_is_self",
]
