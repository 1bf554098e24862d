"""Plain records the engine returns: plan steps and per-migration status."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Direction = Literal["up", "down"]
State = Literal["pending", "applied", "unknown"]


@dataclass(frozen=True)
class PlanStep:
    """One migration to apply ("up") or undo ("down")."""

    direction: Direction
    version: int
    name: str
    reversible: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class MigrationStatus:
    """A version as the code and the database see it.

    ``status`` is "pending" (in code, not applied), "applied", or "unknown" (recorded in the
    database, absent from the code: the database is ahead of the code).
    """

    version: int
    name: str
    description: str
    status: State
    applied_at: str | None
    duration_ms: float | None = None
    checksum_ok: bool | None = None
    reversible: bool | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "applied_at": self.applied_at,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3),
            "checksum_ok": self.checksum_ok,
            "reversible": self.reversible,
        }


@dataclass(frozen=True)
class RunResult:
    """What a migrate or rollback call did."""

    direction: Direction
    from_version: int
    to_version: int
    done: tuple[PlanStep, ...] = ()
    skipped: tuple[PlanStep, ...] = ()

    @property
    def nothing_to_do(self) -> bool:
        return not self.done and not self.skipped

    def to_dict(self) -> dict[str, object]:
        return {
            "direction": self.direction,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "done": [step.to_dict() for step in self.done],
            "skipped": [step.to_dict() for step in self.skipped],
        }
