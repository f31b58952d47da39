"""The policy engine: ordered outbound policies over plain data. Pure Python.

No Django, Celery, DNS or sockets here (an import-linter contract in pyproject.toml checks
it): the worker builds a ``MessageContext``, calls ``evaluate`` and carries out the verdict.

The evaluation contract
=======================

Input: a ``Ruleset`` (``compile_ruleset(specs)``, once per configuration change) and a
``MessageContext`` (``context_from_bytes(...)`` or built by hand). Output: a ``Verdict``.
``evaluate`` has no side effects and never raises for a compiled ruleset.

1. Policies run in list order. A disabled policy is skipped (trace: ``skipped_disabled``).
2. IF: the conditions, each joined to the one before by ``and`` or ``or``; ``and`` binds
   tighter (``a and b or c`` is ``(a and b) or c``). It is compiled to an OR of AND-groups;
   the first group that holds is the trace's ``if_reason``. An empty IF always matches
   ("TARGET message" = every message; ``if_reason`` "always").
3. EXCEPT IF: the same form. If the IF matched and any EXCEPT IF group holds, the policy does
   not fire (``except_vetoed_by`` names the group). An empty EXCEPT IF never vetoes.
4. A condition's ``negate`` inverts its answer. Without data a condition does not hold (no
   client IP, null sender ``<>``, no Subject), so its negation does.
5. A policy that fires applies all its actions, in order: ``route`` (the last one wins),
   ``add_header``, ``add_tag``; a policy may also have one of the final actions
   ``redirect_secure_mailbox``, ``hold``, ``reject``.
6. Later policies see the headers and tags added by earlier ones in the same evaluation
   (Setup B's policy 4 sees policy 3's ``X-SecureMailNotification``).
7. Processing stops after a policy fires unless it has ``continue_processing``; a final
   action always stops it. Policies after the stop get a trace entry with ``reached=False``.
8. The verdict lists the actions applied (in order), the route, the headers and tags added,
   ``final`` (None / "redirect" / "hold" / "reject") with ``profile`` or ``reason``, one
   trace entry per policy, and the message's ``parse_notes``.
9. Bad input is evaluated, never refused: a header that cannot be parsed or decoded counts
   as absent (an undecodable encoded-word is kept as it is, RFC 2047 §6.2), and each such
   problem is a parse note carried into the verdict.

Matching (details in ``policies.engine.patterns``): patterns are case-insensitive wildcards
(``*``, ``?``; nothing else is special); addresses are matched as ``local@domain``; tags are
compared case-insensitively; the client IP is matched against IPv4/IPv6 addresses and CIDR
ranges, an IPv4-mapped IPv6 client address counting as its IPv4 address.
"""

from .actions import (
    ACTION_KINDS,
    Action,
    AddHeader,
    AddTag,
    Hold,
    RedirectSecureMailbox,
    Reject,
    Route,
    action_from_dict,
)
from .conditions import REGISTRY as CONDITION_KINDS
from .conditions import HeaderMatch
from .describe import describe_conditions, describe_policy
from .errors import PolicySyntaxError
from .message import MessageContext
from .parsing import DEFAULT_MAX_HEADER_BYTES, context_from_bytes
from .patterns import (
    validate_address_patterns,
    validate_header_name,
    validate_ip_list,
    validate_patterns,
    validate_tags,
)
from .reference import reference_policies
from .ruleset import Ruleset, compile_ruleset
from .specs import ConditionSpec, PolicySpec
from .trace import TraceEntry
from .verdict import Verdict, evaluate

__all__ = [
    "ACTION_KINDS",
    "CONDITION_KINDS",
    "DEFAULT_MAX_HEADER_BYTES",
    "Action",
    "AddHeader",
    "AddTag",
    "ConditionSpec",
    "HeaderMatch",
    "Hold",
    "MessageContext",
    "PolicySpec",
    "PolicySyntaxError",
    "RedirectSecureMailbox",
    "Reject",
    "Route",
    "Ruleset",
    "TraceEntry",
    "Verdict",
    "action_from_dict",
    "compile_ruleset",
    "context_from_bytes",
    "describe_conditions",
    "describe_policy",
    "evaluate",
    "reference_policies",
    "validate_address_patterns",
    "validate_header_name",
    "validate_ip_list",
    "validate_patterns",
    "validate_tags",
]
