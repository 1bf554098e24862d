"""Plain records the engine returns: plan steps and per-migration status."""

from __future__ import annotations

from engine.records import Record

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from typing import Literal, TypeAlias

    Direction: TypeAlias = Literal["up", "down"]
    State: TypeAlias = Literal["pending", "applied", "unknown"]
else:
    Direction = State = str  # at run time only their values' type (annotations are strings)


class PlanStep(Record):
    """One migration to apply ("up") or undo ("down")."""

    __slots__ = ("direction", "name", "reversible", "version")
    direction: Direction
    version: int
    name: str
    reversible: bool

    def __init__(
        self, direction: Direction, version: int, name: str, reversible: bool = True
    ) -> None:
        self._set(direction, version, name, reversible)

    def to_dict(self) -> dict[str, object]:
        return self.as_dict()


class MigrationStatus(Record):
    """A version as the code and the database see it.

    ``status`` is "pending" (in code, not applied), "applied", or "unknown" (recorded in the
    database, absent from the code: the database is ahead of the code).
    """

    __slots__ = (
        "applied_at",
        "checksum_ok",
        "description",
        "duration_ms",
        "name",
        "reversible",
        "status",
        "version",
    )
    version: int
    name: str
    description: str
    status: State
    applied_at: str | None
    duration_ms: float | None
    checksum_ok: bool | None
    reversible: bool | None

    def __init__(
        self,
        version: int,
        name: str,
        description: str,
        status: State,
        applied_at: str | None,
        duration_ms: float | None = None,
        checksum_ok: bool | None = None,
        reversible: bool | None = None,
    ) -> None:
        self._set(
            version, name, description, status, applied_at, duration_ms, checksum_ok, reversible
        )

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


class RunResult(Record):
    """What a migrate or rollback call did."""

    __slots__ = ("direction", "done", "from_version", "skipped", "to_version")
    direction: Direction
    from_version: int
    to_version: int
    done: tuple[PlanStep, ...]
    skipped: tuple[PlanStep, ...]

    def __init__(
        self,
        direction: Direction,
        from_version: int,
        to_version: int,
        done: tuple[PlanStep, ...] = (),
        skipped: tuple[PlanStep, ...] = (),
    ) -> None:
        self._set(direction, from_version, to_version, done, skipped)

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
