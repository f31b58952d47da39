"""Form helpers shared by the Admin UI apps."""

from __future__ import annotations

from typing import Any

from crispy_forms.helper import FormHelper
from django import forms
from django.db import models


class CrispyModelForm(forms.ModelForm):
    """A ModelForm rendered by crispy-forms inside the page's own <form> tag."""

    unique_name_field: str | None = "name"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        field = self.unique_name_field
        if field and cleaned.get(field):
            model: type[models.Model] = self._meta.model  # type: ignore[assignment]
            clash = model._default_manager.filter(**{f"{field}__iexact": cleaned[field]})
            if self.instance.pk:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error(field, f"'{cleaned[field]}' is already used (names ignore case).")
        return cleaned
