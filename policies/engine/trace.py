"""The trace: one entry per policy, saying what happened to it and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """What one policy did for one message.

    ``reached`` is False for the policies after the one that stopped processing.
    ``if_reason`` names the IF group that matched (``"always"`` for an empty IF);
    ``except_vetoed_by`` the EXCEPT IF group that vetoed; both None otherwise.
    """

    policy_id: int
    name: str
    reached: bool = True
    skipped_disabled: bool = False
    if_matched: bool = False
    if_reason: str | None = None
    except_vetoed_by: str | None = None
    fired: bool = False
    stopped_here: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
