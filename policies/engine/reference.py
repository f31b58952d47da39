"""The reference setup's outbound policies (DESIGN.md "The reference setup"), as specs.

The setup wizard (``manage.py secure_setup``) and the tests build from this one place.

Policy 3 of the article reads ``secureMailer.*@yourdomain.com``. Our patterns are wildcards,
not regular expressions, so taken literally that needs a dot after "secureMailer" and would
not match the notification sender ``secureMailer@yourdomain.com``: notifications would never
get ``X-SecureMailNotification``, and a looped-back notification would be redirected to the
Secure Mailbox again, the endless loop the article warns about. So both policies 2 and 3 use
``secureMailer*@<domain>`` here (the article's evident intent); pass ``sender_pattern`` to
build something else.
"""

from __future__ import annotations

from typing import Literal

from .actions import AddHeader, RedirectSecureMailbox, Route
from .specs import ConditionSpec, PolicySpec

NOTIFICATION_HEADER = "X-SecureMailNotification"
NOTIFICATION_TAG = "Secure Collaboration: PURL"
LOOPBACK_IP = "127.0.0.1"
FROM_LOOPBACK = ConditionSpec("sender_ip", {"values": [LOOPBACK_IP]})
HAS_NOTIFICATION_HEADER = ConditionSpec("header", {"values": [{"name": NOTIFICATION_HEADER}]})


def reference_policies(
    mode: Literal["A", "B"] = "A",
    *,
    local_domain: str = "yourdomain.com",
    profile: str = "My delivery profile",
    loopback_route: str = "Loopback route",
    default_route: str = "Default",
    sender_pattern: str | None = None,
    first_id: int = 1,
) -> list[PolicySpec]:
    """Setup A: policies 1-3. Setup B: the same plus policy 4 (all outbound mail via loopback)."""
    if mode not in ("A", "B"):
        raise ValueError(f"mode must be 'A' or 'B', not {mode!r}")
    sender = sender_pattern or f"secureMailer*@{local_domain}"
    from_ip, has_header = FROM_LOOPBACK, HAS_NOTIFICATION_HEADER
    from_notifier = ConditionSpec("sender_address", {"values": [sender], "check": "both"})
    policies = [
        _redirect_looped_back(first_id, profile),
        PolicySpec(
            id=first_id + 1,
            name="Deliver looped-back notifications by the default route",
            if_conditions=(from_notifier, from_ip, has_header),
            actions=(Route(default_route),),
            continue_processing=True,
        ),
        PolicySpec(
            id=first_id + 2,
            name="Mark Secure Mailbox notifications",
            if_conditions=(from_notifier,),
            except_conditions=(has_header,),
            actions=(AddHeader(NOTIFICATION_HEADER, "YES"),),
            continue_processing=True,
        ),
    ]
    if mode == "B":
        policies.append(_all_mail_via_loopback(first_id + 3, loopback_route))
    return policies


def _redirect_looped_back(policy_id: int, profile: str) -> PolicySpec:
    return PolicySpec(
        id=policy_id,
        name="Redirect looped-back mail to the Secure Mailbox",
        if_conditions=(FROM_LOOPBACK,),
        except_conditions=(HAS_NOTIFICATION_HEADER, ConditionSpec("is_dsn", join="or")),
        actions=(RedirectSecureMailbox(profile),),
    )


def _all_mail_via_loopback(policy_id: int, route: str) -> PolicySpec:
    return PolicySpec(
        id=policy_id,
        name="Send all outbound mail by the loopback route",
        if_conditions=(ConditionSpec("tags_none", {"values": [NOTIFICATION_TAG]}),),
        except_conditions=(
            ConditionSpec("sender_address", {"values": ["MAILER-DAEMON"], "check": "both"}),
            FROM_LOOPBACK,
            ConditionSpec("is_dsn"),
            ConditionSpec("header", HAS_NOTIFICATION_HEADER.params, join="or"),
        ),
        actions=(Route(route),),
        continue_processing=True,
    )
