"""Forms of the delivery policy editor and the policy tester."""

from .editor import PolicyEditor, PolicyForm
from .rows import (
    ACTION_PARAMS,
    CONDITION_PARAMS,
    ActionForm,
    ActionFormSet,
    ConditionForm,
    ConditionFormSet,
)
from .tester import PolicyTestForm

__all__ = [
    "ACTION_PARAMS",
    "CONDITION_PARAMS",
    "ActionForm",
    "ActionFormSet",
    "ConditionForm",
    "ConditionFormSet",
    "PolicyEditor",
    "PolicyForm",
    "PolicyTestForm",
]
