"""Writing policies: create, update, import a spec, delete, move, enable.

Writes take engine-format rows (``{"kind", "params", "negate", "join"}`` for conditions,
``{"kind", "params"}`` for actions; see ``policies.engine.specs``), validate them with the
engine before anything is stored, and resolve route and profile names to their rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from django.db import transaction
from django.db.models import Max

from policies.engine import ConditionSpec, PolicySpec, PolicySyntaxError
from policies.models import ActionKind, ContentPolicy, PolicyAction, PolicyCondition, PolicyVersion
from relay.models import DeliveryRoute
from securemailbox.models import DeliveryProfile

Rows = Sequence[Mapping[str, Any]]


def policy_validate(
    *,
    name: str,
    if_conditions: Rows = (),
    except_conditions: Rows = (),
    actions: Rows,
    enabled: bool = True,
    continue_processing: bool = False,
    policy_id: int = 0,
) -> PolicySpec:
    """The engine's spec for these rows; raises PolicySyntaxError (field: ``if[1].params...``)."""
    return PolicySpec.from_dict(
        {
            "id": policy_id,
            "name": name,
            "enabled": enabled,
            "if": [dict(c) for c in if_conditions],
            "except_if": [dict(c) for c in except_conditions],
            "then": [{"kind": a.get("kind"), "params": a.get("params", {})} for a in actions],
            "continue_processing": continue_processing,
        }
    )


@transaction.atomic
def policy_create(
    *,
    name: str,
    actions: Rows,
    if_conditions: Rows = (),
    except_conditions: Rows = (),
    enabled: bool = True,
    continue_processing: bool = False,
    description: str = "",
    position: int | None = None,
) -> ContentPolicy:
    """Validate and store a new policy, last in order unless ``position`` is given."""
    spec = policy_validate(
        name=name,
        if_conditions=if_conditions,
        except_conditions=except_conditions,
        actions=actions,
        enabled=enabled,
        continue_processing=continue_processing,
    )
    _check_name_free(spec.name, None)
    if position is None:
        position = (ContentPolicy.objects.aggregate(m=Max("position"))["m"] or 0) + 1
    policy = ContentPolicy.objects.create(
        name=spec.name,
        enabled=enabled,
        continue_processing=continue_processing,
        description=description,
        position=position,
    )
    _write_rows(policy, spec)
    return policy


@transaction.atomic
def policy_update(
    *,
    policy: ContentPolicy,
    name: str,
    actions: Rows,
    if_conditions: Rows = (),
    except_conditions: Rows = (),
    enabled: bool = True,
    continue_processing: bool = False,
    description: str = "",
) -> ContentPolicy:
    """Replace a policy's settings and all its conditions and actions."""
    spec = policy_validate(
        name=name,
        if_conditions=if_conditions,
        except_conditions=except_conditions,
        actions=actions,
        enabled=enabled,
        continue_processing=continue_processing,
        policy_id=policy.pk,
    )
    _check_name_free(spec.name, policy.pk)
    policy.name = spec.name
    policy.enabled = enabled
    policy.continue_processing = continue_processing
    policy.description = description
    policy.save()
    _write_rows(policy, spec)
    return policy


def policy_from_spec(
    spec: PolicySpec | Mapping[str, Any], *, description: str = ""
) -> ContentPolicy:
    """Store an engine spec (e.g. from ``reference_policies``) as a new policy; ids are ignored."""
    data = spec.to_dict() if isinstance(spec, PolicySpec) else dict(spec)
    return policy_create(
        name=data["name"],
        if_conditions=data.get("if", ()),
        except_conditions=data.get("except_if", ()),
        actions=data.get("then", ()),
        enabled=data.get("enabled", True),
        continue_processing=data.get("continue_processing", False),
        description=description,
    )


@transaction.atomic
def policy_delete(*, policy: ContentPolicy) -> None:
    policy.delete()
    _renumber(list(ContentPolicy.objects.order_by("position", "id")))


@transaction.atomic
def policy_move(*, policy: ContentPolicy, direction: Literal["up", "down"]) -> bool:
    """Swap a policy with its neighbour; False when it is already first (or last)."""
    ordered = list(ContentPolicy.objects.select_for_update().order_by("position", "id"))
    index = next(i for i, p in enumerate(ordered) if p.pk == policy.pk)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(ordered):
        return False
    ordered[index], ordered[other] = ordered[other], ordered[index]
    _renumber(ordered)
    return True


@transaction.atomic
def policy_set_enabled(*, policy: ContentPolicy, enabled: bool) -> ContentPolicy:
    policy.enabled = enabled
    policy.save(update_fields=["enabled", "updated_at"])
    return policy


def _renumber(ordered: list[ContentPolicy]) -> None:
    changed = []
    for position, item in enumerate(ordered, start=1):
        if item.position != position:
            item.position = position
            changed.append(item)
    ContentPolicy.objects.bulk_update(changed, ["position"])
    PolicyVersion.bump()  # bulk_update sends no signals


def _check_name_free(name: str, own_pk: int | None) -> None:
    clash = ContentPolicy.objects.filter(name__iexact=name.strip())
    if own_pk is not None:
        clash = clash.exclude(pk=own_pk)
    if clash.exists():
        raise PolicySyntaxError("name", f"'{name}' is already used (names ignore case).")


def _write_rows(policy: ContentPolicy, spec: PolicySpec) -> None:
    policy.conditions.all().delete()
    policy.actions.all().delete()
    conditions = [
        _condition_row(policy, section, position, condition)
        for section, items in (("if", spec.if_conditions), ("except", spec.except_conditions))
        for position, condition in enumerate(items)
    ]
    PolicyCondition.objects.bulk_create(conditions)
    PolicyAction.objects.bulk_create(
        [_action_row(policy, index, action.to_dict()) for index, action in enumerate(spec.actions)]
    )
    PolicyVersion.bump()  # bulk_create sends no signals


def _condition_row(
    policy: ContentPolicy, section: str, position: int, condition: ConditionSpec
) -> PolicyCondition:
    data = condition.to_dict()
    return PolicyCondition(
        policy=policy,
        section=section,
        position=position,
        join="and" if position == 0 else data["join"],
        kind=data["kind"],
        negate=data["negate"],
        params=data["params"],
    )


def _action_row(policy: ContentPolicy, index: int, data: dict[str, Any]) -> PolicyAction:
    row = PolicyAction(policy=policy, position=index, kind=data["kind"], params=data["params"])
    field = f"then[{index}].params"
    if row.kind == ActionKind.ROUTE:
        name = data["params"]["route"]
        row.route = DeliveryRoute.objects.filter(name=name).first()
        if row.route is None:
            raise PolicySyntaxError(f"{field}.route", f"there is no delivery route '{name}'")
    elif row.kind == ActionKind.REDIRECT_SECURE_MAILBOX:
        name = data["params"]["profile"]
        row.profile = DeliveryProfile.objects.filter(name=name).first()
        if row.profile is None:
            raise PolicySyntaxError(f"{field}.profile", f"there is no delivery profile '{name}'")
    return row
