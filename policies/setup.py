"""``secure_setup``: build the reference Setup A or B (DESIGN.md) in one idempotent step.

Creates or updates the sending connection policy "Require TLS", the delivery route
"Loopback route" (MX first, then Mailgate's own smtpd), the partner domains (Setup A) or the
Default sending policy (Setup B), the delivery profile, and the three (A) or four (B)
delivery policies from ``policies.engine.reference_policies``, first in the list. Objects
already as wanted are not written (their ``updated_at`` does not move). A dry run does the
same work in a transaction that is rolled back, so its report and loop check are exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction

from policies.engine import PolicySpec, PolicySyntaxError, reference_policies
from policies.loopcheck import Finding
from policies.loopcheck.collect import loop_check_run
from policies.models import ContentPolicy, PolicyVersion
from policies.services import policy_from_spec, policy_update
from relay.hosts import HostSyntaxError, domain_to_ascii
from relay.models import DeliveryRoute, ExternalDomain, SendingConnectionPolicy
from relay.models.config import DEFAULT_NAME
from securemailbox.models import DeliveryProfile, Verification

REQUIRE_TLS = "Require TLS"
LOOPBACK_ROUTE = "Loopback route"
DEFAULT_PROFILE = "My delivery profile"
TLS_FOR_PARTNERS = {"enable_tls": True, "require_tls": True, "no_tls_for_notifications": True}

CREATED, CHANGED, UNCHANGED = "created", "changed", "unchanged"


class SetupError(ValueError):
    """Options the setup cannot use; the message is shown to the admin."""


@dataclass(frozen=True)
class SetupOptions:
    mode: str  # "A": partner domains must get TLS; "B": all outbound mail
    local_domain: str
    partners: tuple[str, ...] = ()
    notification_sender: str = ""  # "": the profile's sender, else secureMailer@<local domain>
    profile: str = DEFAULT_PROFILE
    verification: str = ""  # "": keep the profile's (a new profile gets "none")


@dataclass(frozen=True)
class SetupChange:
    object: str  # e.g. "sending connection policy 'Require TLS'"
    action: str  # CREATED, CHANGED or UNCHANGED
    detail: str = ""

    def to_text(self, dry_run: bool = False) -> str:
        verb = f"would be {self.action}" if dry_run and self.action != UNCHANGED else self.action
        return f"{self.object}: {verb}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class SetupResult:
    changes: list[SetupChange] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # the loop check of the result
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return any(c.action != UNCHANGED for c in self.changes)


def loopback_host() -> str:
    """Mailgate's own smtpd as a route host; a bare host means MAILGATE_DELIVERY_PORT."""
    port = settings.MAILGATE_SMTP_PORT
    return "127.0.0.1" if port == settings.MAILGATE_DELIVERY_PORT else f"127.0.0.1:{port}"


def setup_options_clean(options: SetupOptions) -> SetupOptions:
    """Validated, normalised options (A-label domains); raises SetupError."""
    if options.mode not in ("A", "B"):
        raise SetupError("The mode is A (partner domains) or B (all outbound mail).")
    try:
        local = domain_to_ascii(options.local_domain)
        partners = tuple(dict.fromkeys(domain_to_ascii(p) for p in options.partners if p.strip()))
    except HostSyntaxError as error:
        raise SetupError(str(error)) from None
    if options.mode == "B" and partners:
        raise SetupError("Setup B sends all outbound mail through the loopback route: no partners.")
    if local in partners:
        raise SetupError(f"{local} is your own domain, not a partner.")
    sender = options.notification_sender.strip()
    if sender:
        try:
            validate_email(sender)
        except ValidationError:
            raise SetupError(f"'{sender}' is not an email address.") from None
    if options.verification and options.verification not in Verification.values:
        raise SetupError(f"Verification is one of {', '.join(Verification.values)}.")
    if not options.profile.strip():
        raise SetupError("Name the delivery profile.")
    return SetupOptions(
        options.mode, local, partners, sender, options.profile.strip(), options.verification
    )


def secure_setup(*, options: SetupOptions, dry_run: bool = False) -> SetupResult:
    """Build Setup A or B; report each object's action and the loop check of the result."""
    options = setup_options_clean(options)
    result = SetupResult(dry_run=dry_run)
    with transaction.atomic():
        _build(options, result.changes)
        result.findings = loop_check_run().findings
        if dry_run:
            transaction.set_rollback(True)
    return result


def _build(options: SetupOptions, changes: list[SetupChange]) -> None:
    require = _ensure(changes, SendingConnectionPolicy, REQUIRE_TLS, TLS_FOR_PARTNERS)
    _ensure(changes, DeliveryRoute, DEFAULT_NAME, {}, {"use_dns_first": True, "hosts": []})
    loop = _ensure(
        changes, DeliveryRoute, LOOPBACK_ROUTE, {"use_dns_first": True, "hosts": [loopback_host()]}
    )
    if options.mode == "A":
        for partner in options.partners:
            _ensure_domain(changes, partner, loop, require)
    else:
        _ensure(changes, SendingConnectionPolicy, DEFAULT_NAME, TLS_FOR_PARTNERS)
    profile = _ensure_profile(changes, options)
    _ensure_policies(changes, options, profile, loop)


def _ensure(
    changes: list[SetupChange],
    model: type[models.Model],
    name: str,
    desired: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
) -> Any:
    label = f"{model._meta.verbose_name} '{name}'"
    obj = model._default_manager.filter(name__iexact=name).first()
    if obj is None:
        obj = model._default_manager.create(name=name, **{**(defaults or {}), **desired})
        changes.append(SetupChange(label, CREATED))
        return obj
    changes.append(_update(obj, desired, label))
    return obj


def _update(obj: models.Model, desired: Mapping[str, Any], label: str) -> SetupChange:
    diff = {k: v for k, v in desired.items() if getattr(obj, k) != v}
    if not diff:
        return SetupChange(label, UNCHANGED)
    detail = "; ".join(f"{_label(obj, k)}: {getattr(obj, k)} → {v}" for k, v in diff.items())
    for key, value in diff.items():
        setattr(obj, key, value)
    obj.save(update_fields=[*diff, "updated_at"])
    return SetupChange(label, CHANGED, detail)


def _label(obj: models.Model, name: str) -> str:
    return str(getattr(obj._meta.get_field(name), "verbose_name", name))


def _ensure_domain(
    changes: list[SetupChange],
    domain: str,
    route: DeliveryRoute,
    sending: SendingConnectionPolicy,
) -> None:
    label = f"external domain '{domain}'"
    desired = {"route": route, "sending_policy": sending}
    entry = ExternalDomain.objects.filter(domain=domain).first()
    if entry is None:
        ExternalDomain.objects.create(domain=domain, kind=ExternalDomain.Kind.DOMAIN, **desired)
        changes.append(SetupChange(label, CREATED, f"→ '{route}' + '{sending}'"))
    else:
        changes.append(_update(entry, desired, label))


def _ensure_profile(changes: list[SetupChange], options: SetupOptions) -> DeliveryProfile:
    label = f"delivery profile '{options.profile}'"
    profile = DeliveryProfile.objects.filter(name__iexact=options.profile).first()
    desired: dict[str, Any] = {}
    if options.notification_sender:
        desired["notification_sender"] = options.notification_sender
    if options.verification:
        desired["verification"] = options.verification
    if profile is None:
        defaults = {
            "notification_sender": f"secureMailer@{options.local_domain}",
            "verification": Verification.NONE,
        }
        profile = DeliveryProfile.objects.create(name=options.profile, **{**defaults, **desired})
        changes.append(SetupChange(label, CREATED, f"sender {profile.notification_sender}"))
        return profile
    changes.append(_update(profile, desired, label))
    return profile


def _ensure_policies(
    changes: list[SetupChange],
    options: SetupOptions,
    profile: DeliveryProfile,
    loop: DeliveryRoute,
) -> None:
    local, _, domain = profile.notification_sender.rpartition("@")
    specs = reference_policies(
        options.mode,  # type: ignore[arg-type]
        local_domain=options.local_domain,
        profile=profile.name,
        loopback_route=loop.name,
        default_route=DEFAULT_NAME,
        sender_pattern=f"{local}*@{domain}",
    )
    rows, actions = [], []
    for spec in specs:
        row, action = _ensure_policy(spec)
        rows.append(row)
        actions.append(action)
    moved = _put_first(rows)
    for position, (row, action) in enumerate(zip(rows, actions, strict=True), start=1):
        label = f"delivery policy {position} '{row.name}'"
        if action == UNCHANGED and row.pk in moved:
            changes.append(SetupChange(label, CHANGED, f"moved to position {position}"))
        else:
            changes.append(SetupChange(label, action))
    if any(pk not in {r.pk for r in rows} for pk in moved):
        changes.append(
            SetupChange("other delivery policies", CHANGED, "now after the reference policies")
        )
    if options.mode == "A":
        _note_setup_b_leftover(changes, options)


def _ensure_policy(spec: PolicySpec) -> tuple[ContentPolicy, str]:
    row = ContentPolicy.objects.filter(name__iexact=spec.name).first()
    if row is None:
        return policy_from_spec(spec), CREATED
    want = {**spec.to_dict(), "id": row.pk}
    try:
        if PolicySpec.from_dict(row.to_spec()).to_dict() == want:
            return row, UNCHANGED
    except PolicySyntaxError:
        pass  # a stored policy that no longer compiles is rewritten
    policy_update(
        policy=row,
        name=spec.name,
        if_conditions=want["if"],
        except_conditions=want["except_if"],
        actions=want["then"],
        enabled=spec.enabled,
        continue_processing=spec.continue_processing,
        description=row.description,
    )
    return row, CHANGED


def _put_first(rows: list[ContentPolicy]) -> set[int]:
    """Renumber: ``rows`` first, in order, then the others as they were; the moved pks."""
    first = {r.pk for r in rows}
    others = [p for p in ContentPolicy.objects.order_by("position", "id") if p.pk not in first]
    moved = []
    for position, policy in enumerate([*rows, *others], start=1):
        if policy.position != position:
            policy.position = position
            moved.append(policy)
    if moved:
        ContentPolicy.objects.bulk_update(moved, ["position"])
        PolicyVersion.bump()  # bulk_update sends no signals
    return {p.pk for p in moved}


def _note_setup_b_leftover(changes: list[SetupChange], options: SetupOptions) -> None:
    only_b = reference_policies("B", local_domain=options.local_domain)[-1].name
    leftover = ContentPolicy.objects.filter(name__iexact=only_b, enabled=True).first()
    if leftover is not None:
        changes.append(
            SetupChange(
                f"delivery policy '{leftover.name}'",
                UNCHANGED,
                "belongs to Setup B: disable or delete it for Setup A",
            )
        )
