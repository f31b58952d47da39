"""Policy services: evaluate a queued message, write policies, run the policy tester."""

from .evaluation import policies_evaluate
from .tester import PolicyTestError, policy_test_run
from .writes import (
    policy_create,
    policy_delete,
    policy_from_spec,
    policy_move,
    policy_set_enabled,
    policy_update,
    policy_validate,
)

__all__ = [
    "PolicyTestError",
    "policies_evaluate",
    "policy_create",
    "policy_delete",
    "policy_from_spec",
    "policy_move",
    "policy_set_enabled",
    "policy_test_run",
    "policy_update",
    "policy_validate",
]
