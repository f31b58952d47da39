"""What the loop check reports: findings (a problem, the objects involved, the fix) and the
paths it followed, as plain data with a JSON-able dict form."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

ERROR = "error"
WARNING = "warning"

LOOP_ROUTE_UNCAUGHT = "LOOP_ROUTE_UNCAUGHT"
NOTIFICATION_REDIRECTED = "NOTIFICATION_REDIRECTED"
DSN_REDIRECTED = "DSN_REDIRECTED"
SENDER_CHECK_ONE_SIDE = "SENDER_CHECK_ONE_SIDE"
NOTIFICATION_ROUTE_LOOPS = "NOTIFICATION_ROUTE_LOOPS"
DSN_ROUTE_LOOPS = "DSN_ROUTE_LOOPS"
POLICY_INVALID = "POLICY_INVALID"

TITLES = {
    LOOP_ROUTE_UNCAUGHT: "Mail handed back to Mailgate is not caught",
    NOTIFICATION_REDIRECTED: "Notifications would be redirected again",
    DSN_REDIRECTED: "Delivery status notifications would be redirected",
    SENDER_CHECK_ONE_SIDE: "A sender condition checks only one side",
    NOTIFICATION_ROUTE_LOOPS: "Notifications go round through Mailgate",
    DSN_ROUTE_LOOPS: "Delivery status notifications go round through Mailgate",
    POLICY_INVALID: "A stored delivery policy cannot be read",
}


@dataclass(frozen=True)
class Finding:
    """One way mail could loop or be lost, in plain words, with the fix."""

    severity: str  # ERROR or WARNING
    code: str
    message: str
    fix: str
    policies: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return TITLES.get(self.code, self.code)

    @property
    def alert_class(self) -> str:
        """The Bootstrap alert colour."""
        return "danger" if self.severity == ERROR else "warning"

    @property
    def key(self) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        """Findings with the same key say the same thing: only the first is kept."""
        return (self.code, self.policies, self.routes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "title": self.title,
            "message": self.message,
            "fix": self.fix,
            "policies": list(self.policies),
            "routes": list(self.routes),
            "domains": list(self.domains),
        }

    def to_text(self) -> str:
        lines = [f"{self.severity.upper()} {self.code}: {self.message}"]
        for label, names in (
            ("policies", self.policies),
            ("routes", self.routes),
            ("domains", self.domains),
        ):
            if names:
                lines.append(f"  {label}: {', '.join(names)}")
        lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


@dataclass(frozen=True)
class PathReport:
    """One simulated message, hop by hop."""

    scenario: str
    steps: tuple[str, ...]
    outcome: str

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "steps": list(self.steps), "outcome": self.outcome}


@dataclass
class LoopReport:
    findings: list[Finding] = field(default_factory=list)
    paths: list[PathReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, finding: Finding) -> None:
        """Keep one finding per key; an error replaces a warning saying the same thing."""
        for index, seen in enumerate(self.findings):
            if seen.key == finding.key:
                kept = finding if (seen.severity, finding.severity) == (WARNING, ERROR) else seen
                domains = tuple(dict.fromkeys((*seen.domains, *finding.domains)))
                self.findings[index] = replace(kept, domains=domains)
                return
        self.findings.append(finding)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "findings": [f.to_dict() for f in self.findings],
            "paths": [p.to_dict() for p in self.paths],
        }
