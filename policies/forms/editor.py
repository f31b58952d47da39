"""The delivery policy editor: the policy form and its IF, EXCEPT IF and THEN rows, as one."""

from __future__ import annotations

from typing import Any

from crispy_forms.layout import Layout
from django import forms

from mailgate.forms import CrispyModelForm
from policies import services
from policies.engine import PolicySyntaxError, describe_policy
from policies.models import ContentPolicy

from .rows import (
    action_formset,
    action_initial,
    capitalised,
    condition_formset,
    condition_initial,
)


class PolicyForm(CrispyModelForm):
    class Meta:
        model = ContentPolicy
        fields = ["name", "enabled", "description", "continue_processing"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "and continue processing" is drawn in the THEN section of the page.
        self.helper.layout = Layout("name", "enabled", "description")
        self.helper.disable_csrf = True


class PolicyEditor:
    """The whole editor page: the policy form and its IF, EXCEPT IF and THEN row formsets."""

    def __init__(self, data: Any = None, *, instance: ContentPolicy | None = None) -> None:
        self.instance = instance
        self.form = PolicyForm(data, instance=instance)
        conditions = list(instance.conditions.all()) if instance else []
        actions = list(instance.actions.all()) if instance else []
        # A new policy starts with one empty IF row and one empty THEN row.
        extra = 1 if instance is None else 0
        self.if_rows = condition_formset(extra)(
            data,
            prefix="if",
            initial=[condition_initial(c) for c in conditions if c.section == "if"],
        )
        self.except_rows = condition_formset()(
            data,
            prefix="except",
            initial=[condition_initial(c) for c in conditions if c.section == "except"],
        )
        self.then_rows = action_formset(extra)(
            data, prefix="then", initial=[action_initial(a) for a in actions]
        )
        self.errors: list[str] = []

    def is_valid(self) -> bool:
        parts: list[Any] = [self.form, self.if_rows, self.except_rows, self.then_rows]
        valid = [part.is_valid() for part in parts]  # every part, so every error shows
        if not all(valid):
            return False
        try:
            self.spec = services.policy_validate(**self.rows(), policy_id=self._pk())
        except PolicySyntaxError as error:
            self._add_error(error)
            return False
        return True

    def rows(self) -> dict[str, Any]:
        """The service keyword arguments (call after ``is_valid``)."""
        data = self.form.cleaned_data
        return {
            "name": data["name"],
            "enabled": data["enabled"],
            "continue_processing": data["continue_processing"],
            "if_conditions": self.if_rows.specs(),
            "except_conditions": self.except_rows.specs(),
            "actions": self.then_rows.specs(),
        }

    def sentence(self) -> str:
        return describe_policy(self.spec)

    def save(self) -> ContentPolicy | None:
        """Store through the services; None (with errors) if the database disagrees."""
        description = self.form.cleaned_data.get("description", "")
        try:
            if self.instance is None:
                return services.policy_create(**self.rows(), description=description)
            return services.policy_update(
                policy=self.instance, **self.rows(), description=description
            )
        except PolicySyntaxError as error:
            self._add_error(error)
            return None

    def _pk(self) -> int:
        return self.instance.pk if self.instance is not None else 0

    def _add_error(self, error: PolicySyntaxError) -> None:
        if error.field == "name":
            self.form.add_error("name", capitalised(error.message))
        elif error.field.startswith("then"):
            self.errors.append(f"THEN: {error.message}")
        else:
            self.errors.append(capitalised(str(error)))
