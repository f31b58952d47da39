"""The editor's rows: one form per IF / EXCEPT IF condition and per THEN action.

Each row is validated by the engine itself (``ConditionSpec`` / ``action_from_dict``), so a
malformed pattern, IP range or header name becomes an error on its row and line, never a 500.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms

from policies.engine import ConditionSpec, PolicySyntaxError, action_from_dict
from policies.models import ActionKind, ConditionKind, Join
from relay.models import DeliveryRoute
from securemailbox.models import DeliveryProfile

SELECT = {"class": "form-select form-select-sm"}
TEXT = {"class": "form-control form-control-sm"}

# Which parameter inputs each condition kind uses (the editor's JS shows only these).
CONDITION_PARAMS: dict[str, tuple[str, ...]] = {
    "sender_ip": ("values",),
    "sender_address": ("values", "check"),
    "recipient_address": ("values",),
    "header": ("values",),
    "is_dsn": (),
    "tags_any": ("values",),
    "tags_none": ("values",),
    "subject": ("values",),
    "size_over": ("size",),
    "attachment": ("values",),
}
ACTION_PARAMS: dict[str, tuple[str, ...]] = {
    "redirect_secure_mailbox": ("profile",),
    "route": ("route",),
    "add_header": ("header_name", "header_value"),
    "add_tag": ("tag",),
    "hold": ("reason",),
    "reject": ("reason",),
}
# Engine parameter name → form field.
_ACTION_FIELDS = {
    "profile": "profile",
    "route": "route",
    "name": "header_name",
    "value": "header_value",
    "tag": "tag",
    "reason": "reason",
}
_VALUES_INDEX = re.compile(r"params\.values\[(\d+)\]")


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


class ConditionForm(forms.Form):
    """One condition row; ``values`` holds one entry per line."""

    kind = forms.ChoiceField(
        choices=[("", "Choose a condition…"), *ConditionKind.choices],
        widget=forms.Select(attrs={**SELECT, "data-role": "kind"}),
    )
    join = forms.ChoiceField(
        choices=Join.choices, initial=Join.AND, widget=forms.Select(attrs=SELECT)
    )
    negate = forms.BooleanField(label="not", required=False)
    values = forms.CharField(
        label="Values (one per line)",
        required=False,
        widget=forms.Textarea(attrs={**TEXT, "rows": 2, "class": TEXT["class"] + " mono"}),
    )
    check = forms.ChoiceField(
        label="Check",
        required=False,
        initial="both",
        choices=[
            ("both", "Envelope sender or From header"),
            ("envelope", "Envelope sender"),
            ("header", "From header"),
        ],
        widget=forms.Select(attrs=SELECT),
    )
    size = forms.IntegerField(
        label="Bytes", required=False, min_value=0, widget=forms.NumberInput(attrs=TEXT)
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        kind = cleaned.get("kind")
        if not kind or self.errors:
            return cleaned
        params, lines = self._params(kind, cleaned)
        try:
            spec = ConditionSpec(
                kind=kind,
                params=params,
                negate=bool(cleaned.get("negate")),
                join=cleaned.get("join") or "and",
            )
        except PolicySyntaxError as error:
            self._engine_error(error, lines)
        else:
            cleaned["spec"] = spec.to_dict()
        return cleaned

    def _params(self, kind: str, cleaned: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
        """Engine params, and the form line number of each entry of ``values``."""
        wanted = CONDITION_PARAMS[kind]
        params: dict[str, Any] = {}
        lines: list[int] = []
        if "values" in wanted:
            entries = []
            for number, line in enumerate((cleaned.get("values") or "").splitlines(), 1):
                if line.strip():
                    entries.append(line.strip())
                    lines.append(number)
            if kind == "header":
                params["values"] = [_header_entry(e) for e in entries]
            else:
                params["values"] = entries
        if "check" in wanted:
            params["check"] = cleaned.get("check") or "both"
        if "size" in wanted:
            params["bytes"] = cleaned.get("size")
            if params["bytes"] is None:
                params["bytes"] = -1  # let the engine word the error
        return params, lines

    def _engine_error(self, error: PolicySyntaxError, lines: list[int]) -> None:
        field = error.field
        message = capitalised(error.message)
        if field.startswith("params.values"):
            match = _VALUES_INDEX.match(field)
            if match and int(match.group(1)) < len(lines):
                message = f"Line {lines[int(match.group(1))]}: {error.message}"
            self.add_error("values", message)
        elif field == "params.check":
            self.add_error("check", message)
        elif field == "params.bytes":
            self.add_error("size", "Enter a whole number of bytes, 0 or more.")
        else:
            self.add_error(None, message)


def _header_entry(line: str) -> dict[str, Any]:
    """``Name`` or ``Name: value pattern`` (a header name cannot contain a colon)."""
    name, colon, value = line.partition(":")
    entry: dict[str, Any] = {"name": name.strip()}
    if colon and value.strip():
        entry["value"] = value.strip()
    return entry


class ActionForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("", "Choose an action…"), *ActionKind.choices],
        widget=forms.Select(attrs={**SELECT, "data-role": "kind"}),
    )
    profile = forms.ModelChoiceField(
        label="Delivery profile",
        queryset=DeliveryProfile.objects.order_by("name"),
        required=False,
        widget=forms.Select(attrs=SELECT),
    )
    route = forms.ModelChoiceField(
        label="Delivery route",
        queryset=DeliveryRoute.objects.order_by("name"),
        required=False,
        widget=forms.Select(attrs=SELECT),
    )
    header_name = forms.CharField(
        label="Header name", required=False, widget=forms.TextInput(attrs=TEXT)
    )
    header_value = forms.CharField(
        label="Header value", required=False, widget=forms.TextInput(attrs=TEXT)
    )
    tag = forms.CharField(label="Tag", required=False, widget=forms.TextInput(attrs=TEXT))
    reason = forms.CharField(label="Reason", required=False, widget=forms.TextInput(attrs=TEXT))

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        kind = cleaned.get("kind")
        if not kind or self.errors:
            return cleaned
        params: dict[str, Any] = {}
        for engine_name, field in _ACTION_FIELDS.items():
            if field not in ACTION_PARAMS[kind]:
                continue
            value: Any = cleaned.get(field)
            if value in (None, ""):
                self.add_error(field, "Required for this action.")
            params[engine_name] = getattr(value, "name", value)  # a route or profile: its name
        if self.errors:
            return cleaned
        try:
            action = action_from_dict({"kind": kind, "params": params})
        except PolicySyntaxError as error:
            target = _ACTION_FIELDS.get(error.field.removeprefix("params."))
            self.add_error(target, capitalised(error.message))
        else:
            cleaned["spec"] = action.to_dict()
        return cleaned


class RowFormSet(forms.BaseFormSet):
    """Rows in page order; empty new rows and removed rows are left out."""

    def specs(self) -> list[dict[str, Any]]:
        return [
            form.cleaned_data["spec"]
            for form in self.forms
            if form.cleaned_data.get("spec") and not form.cleaned_data.get("DELETE")
        ]


def condition_formset(extra: int = 0) -> type[RowFormSet]:
    return forms.formset_factory(  # type: ignore[return-value]
        ConditionForm,
        formset=RowFormSet,
        extra=extra,
        can_delete=True,
        max_num=50,
        validate_max=True,
    )


def action_formset(extra: int = 0) -> type[RowFormSet]:
    return forms.formset_factory(  # type: ignore[return-value]
        ActionForm, formset=RowFormSet, extra=extra, can_delete=True, max_num=20, validate_max=True
    )


ConditionFormSet = condition_formset()
ActionFormSet = action_formset()


def condition_initial(row: Any) -> dict[str, Any]:
    """A stored PolicyCondition as a form's initial data."""
    params = row.params or {}
    values = params.get("values", [])
    if row.kind == "header":
        values = [f"{v['name']}: {v['value']}" if v.get("value") else v["name"] for v in values]
    return {
        "kind": row.kind,
        "join": row.join,
        "negate": row.negate,
        "values": "\n".join(str(v) for v in values),
        "check": params.get("check", "both"),
        "size": params.get("bytes"),
    }


def action_initial(row: Any) -> dict[str, Any]:
    """A stored PolicyAction as a form's initial data."""
    params = row.params or {}
    return {
        "kind": row.kind,
        "profile": row.profile_id,
        "route": row.route_id,
        "header_name": params.get("name", ""),
        "header_value": params.get("value", ""),
        "tag": params.get("tag", ""),
        "reason": params.get("reason", ""),
    }
