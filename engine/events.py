"""Typed progress events, sent to ``on_event`` while a run is in progress (for UIs and logs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunStarted:
    direction: str
    from_version: int
    target_version: int
    steps: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class MigrationStarted:
    version: int
    name: str
    direction: str


@dataclass(frozen=True)
class MigrationFinished:
    version: int
    name: str
    direction: str
    duration_ms: float


@dataclass(frozen=True)
class MigrationSkipped:
    """Another runner applied (or undid) this step first; nothing was done."""

    version: int
    name: str
    direction: str


@dataclass(frozen=True)
class MigrationFailed:
    version: int
    name: str
    direction: str
    error: str
    duration_ms: float


@dataclass(frozen=True)
class RunFinished:
    direction: str
    from_version: int
    to_version: int
    success: bool
    done: tuple[int, ...] = field(default=())
    error: str | None = None


@dataclass(frozen=True)
class BackupTaken:
    """A verified backup was written before the run changed anything (see ``engine.backup``)."""

    path: str
    version: int
    size: int


Event = (
    RunStarted
    | MigrationStarted
    | MigrationFinished
    | MigrationSkipped
    | MigrationFailed
    | RunFinished
    | BackupTaken
)
EventHandler = Callable[[Event], None]
