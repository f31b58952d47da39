"""The one error the engine raises for a malformed policy."""

from __future__ import annotations


class PolicySyntaxError(ValueError):
    """A policy, condition, action or value is malformed.

    ``field`` names what is wrong, as a dotted path the Django forms can map to a form field:
    ``"values"``, ``"if[0].values[2]"``, ``"then[1].params.name"``, ``"kind"``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def within(self, prefix: str) -> PolicySyntaxError:
        """The same error, with ``prefix`` put in front of its field path."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        if self.field.startswith("["):
            field = f"{prefix}{self.field}"
        return PolicySyntaxError(field, self.message)
