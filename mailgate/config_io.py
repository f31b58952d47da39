"""Configuration as code: the whole configuration as one YAML document, and back.

Sections, in dependency order: sending connection policies, delivery routes, delivery
profiles, external domains/hosts (which name a route and a sending policy), delivery policies
(in order; their actions name routes and profiles). Objects are matched by name (domains by
their A-label), so an import is idempotent: what is already as the file says is not written.

`config_apply` validates everything first (model validation, the policy engine's own spec
check) and writes in one transaction: either the whole file is applied or nothing is. A dry
run does the same work and rolls it back, so its report is exact. Objects not in the file are
kept unless `prune` is set. Delivery policies named in the file take the first positions, in
the file's order; the others follow in their current order.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import models, transaction

from policies.engine import PolicySpec, PolicySyntaxError
from policies.models import ContentPolicy, PolicyVersion
from policies.services import policy_create, policy_delete, policy_update, policy_validate
from relay.hosts import HostSyntaxError, domain_to_ascii
from relay.models import DeliveryRoute, ExternalDomain, SendingConnectionPolicy
from securemailbox.models import DeliveryProfile

FORMAT_VERSION = 1
SKIP_FIELDS = {"id", "created_at", "updated_at"}
POLICY_FIELDS = ("name", "enabled", "description", "continue_processing", "if", "except_if", "then")


@dataclass(frozen=True)
class Section:
    key: str  # YAML key
    model: type[models.Model]
    label: str  # for reports
    match: str = "name"  # the natural key
    refs: dict[str, type[models.Model]] = field(default_factory=dict)  # FK field → model


SECTIONS = (
    Section("sending_policies", SendingConnectionPolicy, "sending connection policy"),
    Section("routes", DeliveryRoute, "delivery route"),
    Section("delivery_profiles", DeliveryProfile, "delivery profile"),
    Section(
        "external_domains",
        ExternalDomain,
        "external domain/host",
        match="domain",
        refs={"route": DeliveryRoute, "sending_policy": SendingConnectionPolicy},
    ),
)
POLICIES_KEY = "delivery_policies"
KNOWN_KEYS = {"version", *(s.key for s in SECTIONS), POLICIES_KEY}


class ConfigError(ValueError):
    """The file cannot be applied; `errors` lists every problem as "where: what"."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Change:
    object: str  # e.g. "delivery route 'Loopback route'"
    action: str  # created, changed, unchanged, deleted
    diff: tuple[str, ...] = ()  # "field: old → new"


# --- export ---------------------------------------------------------------------------------


def _fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if f.name not in SKIP_FIELDS]


def _plain(obj: models.Model, section: Section) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in _fields(section.model):
        value = getattr(obj, f.name)
        if f.is_relation:
            value = getattr(value, "name", None)
        elif isinstance(f, models.BinaryField):
            value = base64.b64encode(bytes(value or b"")).decode("ascii")
        data[f.name] = value
    return data


def _policy_plain(policy: ContentPolicy) -> dict[str, Any]:
    raw = policy.to_spec()
    try:
        spec = PolicySpec.from_dict(raw).to_dict()
    except PolicySyntaxError:  # exported as stored: the import will name the problem
        spec = raw
    return _normal(spec, policy.description)


def _normal(spec: dict[str, Any], description: str) -> dict[str, Any]:
    """A policy as exported: the engine's normal form, with the description; the first
    condition of a section has no word before it (stored as "and")."""
    spec = {**spec, "description": description}
    for key in ("if", "except_if"):
        spec[key] = [
            {**c, "join": "and"} if i == 0 else c for i, c in enumerate(spec.get(key) or [])
        ]
    return {key: spec[key] for key in POLICY_FIELDS}


def config_data() -> dict[str, Any]:
    data: dict[str, Any] = {"version": FORMAT_VERSION}
    for section in SECTIONS:
        rows = section.model.objects.order_by(section.match)  # type: ignore[attr-defined]
        data[section.key] = [_plain(obj, section) for obj in rows]
    policies = ContentPolicy.objects.order_by("position", "id").prefetch_related(
        "conditions", "actions__route", "actions__profile"
    )
    data[POLICIES_KEY] = [_policy_plain(p) for p in policies]
    return data


def config_export() -> str:
    header = "# Mailgate configuration (manage.py config_export); apply with config_import.\n"
    body = yaml.safe_dump(config_data(), sort_keys=False, allow_unicode=True, width=100)
    return header + body


# --- import ---------------------------------------------------------------------------------


def config_load(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(["the file must be a mapping of sections"])
    errors = [f"{key}: not a known section" for key in data if key not in KNOWN_KEYS]
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        errors.append(f"version: only version {FORMAT_VERSION} is understood")
    for key in KNOWN_KEYS - {"version"}:
        items = data.get(key) or []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            errors.append(f"{key}: must be a list of mappings")
    if errors:
        raise ConfigError(errors)
    return data


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        f"{k}: {_show(old.get(k))} → {_show(new.get(k))}" for k in new if old.get(k) != new.get(k)
    )


class _Run:
    def __init__(self, prune: bool) -> None:
        self.prune = prune
        self.changes: list[Change] = []
        self.errors: list[str] = []

    def record(self, name: str, old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
        """Note the change; True when something must be written."""
        if old is None:
            self.changes.append(Change(name, "created"))
            return True
        diff = _diff(old, new)
        self.changes.append(Change(name, "changed" if diff else "unchanged", diff))
        return bool(diff)

    def section(self, section: Section, items: list[dict[str, Any]]) -> set[str]:
        """Create or update the section's objects; the natural keys seen in the file."""
        allowed = {f.name for f in _fields(section.model)}
        seen: set[str] = set()
        for index, item in enumerate(items):
            where = f"{section.key}[{index}]"
            unknown = set(item) - allowed
            if unknown:
                self.errors.append(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
                continue
            self._upsert(section, item, where, seen)
        return seen

    def prune_section(self, section: Section, seen: set[str]) -> None:
        manager = section.model.objects  # type: ignore[attr-defined]
        for obj in manager.exclude(**{f"{section.match}__in": seen}):
            self._delete(obj, f"{section.label} '{getattr(obj, section.match)}'")

    def _upsert(self, section: Section, item: dict[str, Any], where: str, seen: set[str]) -> None:
        key = str(item.get(section.match) or "").strip()
        if section.match == "domain":
            try:
                key = domain_to_ascii(key)
            except (HostSyntaxError, ValueError) as exc:
                self.errors.append(f"{where}.domain: {exc}")
                return
        if not key or key in seen:
            self.errors.append(f"{where}.{section.match}: missing or repeated '{key}'")
            return
        seen.add(key)
        manager = section.model.objects  # type: ignore[attr-defined]
        obj = manager.filter(**{section.match: key}).first()
        old = _plain(obj, section) if obj is not None else None
        obj = obj or section.model()
        values = {**item, section.match: key}
        for name, value in values.items():
            if name in section.refs:
                ref = section.refs[name].objects.filter(name=value).first()  # type: ignore[attr-defined]
                if ref is None:
                    self.errors.append(f"{where}.{name}: there is no {name} '{value}'")
                    return
                value = ref
            elif isinstance(section.model._meta.get_field(name), models.BinaryField):
                value = base64.b64decode(value or "")
            setattr(obj, name, value)
        try:
            obj.full_clean()
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.errors.append(f"{where}.{name}: {' '.join(messages)}")
            return
        if self.record(f"{section.label} '{key}'", old, _plain(obj, section)):
            obj.save()

    def _delete(self, obj: models.Model, name: str) -> None:
        if getattr(obj, "is_default", False):
            return
        try:
            with transaction.atomic():
                obj.delete()
        except models.ProtectedError:
            self.errors.append(f"{name}: still in use, not deleted")
            return
        self.changes.append(Change(name, "deleted"))

    def policies(self, items: list[dict[str, Any]]) -> None:
        wanted: list[ContentPolicy] = []
        for index, item in enumerate(items):
            policy = self._policy(item, f"{POLICIES_KEY}[{index}]")
            if policy is not None:
                wanted.append(policy)
        if self.errors:
            return
        keep = {p.pk for p in wanted}
        others = list(ContentPolicy.objects.exclude(pk__in=keep).order_by("position", "id"))
        if self.prune:
            for policy in others:
                policy_delete(policy=policy)
                self.changes.append(Change(f"delivery policy '{policy.name}'", "deleted"))
            others = []
        _reorder([*wanted, *others], self.changes)

    def _policy(self, item: dict[str, Any], where: str) -> ContentPolicy | None:
        unknown = set(item) - set(POLICY_FIELDS)
        if unknown:
            self.errors.append(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
            return None
        args: dict[str, Any] = {
            "name": str(item.get("name") or "").strip(),
            "if_conditions": item.get("if") or [],
            "except_conditions": item.get("except_if") or [],
            "actions": item.get("then") or [],
            "enabled": item.get("enabled", True),
            "continue_processing": item.get("continue_processing", False),
        }
        description = str(item.get("description") or "")
        existing = ContentPolicy.objects.filter(name__iexact=args["name"]).first()
        try:
            new = _normal(policy_validate(**args).to_dict(), description)
            old = _policy_plain(existing) if existing else None
            if not self.record(f"delivery policy '{args['name']}'", old, new):
                return existing
            if existing is None:
                return policy_create(**args, description=description)
            return policy_update(policy=existing, **args, description=description)
        except PolicySyntaxError as exc:
            self.errors.append(f"{where}: {exc}")
            return None


def _reorder(ordered: list[ContentPolicy], changes: list[Change]) -> None:
    """Give `ordered` the positions 1..N, when their relative order is not already so."""
    current = list(ContentPolicy.objects.order_by("position", "id").values_list("pk", flat=True))
    if current == [p.pk for p in ordered]:
        return
    for position, policy in enumerate(ordered, start=1):
        policy.position = position
    ContentPolicy.objects.bulk_update(ordered, ["position"])
    PolicyVersion.bump()  # bulk_update sends no signals
    changes.append(Change("delivery policy order", "changed", tuple(p.name for p in ordered)))


class _DryRun(Exception):
    pass


def config_apply(text: str, *, dry_run: bool = False, prune: bool = False) -> list[Change]:
    """Apply a YAML configuration; raises ConfigError (nothing written) when it has errors."""
    data = config_load(text)
    run = _Run(prune)
    try:
        with transaction.atomic():
            seen = {s.key: run.section(s, data.get(s.key) or []) for s in SECTIONS}
            run.policies(data.get(POLICIES_KEY) or [])  # prunes policies first: they refer
            if prune and not run.errors:  # to routes and profiles
                for section in reversed(SECTIONS):
                    run.prune_section(section, seen[section.key])
            if run.errors:
                raise ConfigError(run.errors)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return run.changes


def changes_report(changes: Iterable[Change], *, verbose: bool = False) -> list[str]:
    lines = []
    for change in changes:
        if change.action == "unchanged" and not verbose:
            continue
        lines.append(f"{change.action:9} {change.object}")
        lines.extend(f"            {line}" for line in change.diff)
    return lines
