"""Every message the console's workers and widgets send, as small dataclasses in one place.

Workers run in threads and talk to the app only by posting these (``post_message`` is
thread-safe); handlers run on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from engine import (
    BackupInfo,
    DeploymentStatus,
    Event,
    MigrationStatus,
    PlanStep,
    RehearsalReport,
    RestoreResult,
    RollbackImpact,
    RunResult,
)


@dataclass
class StatusLoaded(Message):
    """The migration table's rows, read from the database."""

    generation: int
    statuses: list[MigrationStatus]
    latest_version: int
    reason: str


@dataclass
class ReadinessLoaded(Message):
    """The deployment gate's verdict, with every verification check."""

    generation: int
    deployment: DeploymentStatus
    reason: str


@dataclass
class LoadFailed(Message):
    """The database (or the migrations) could not be read; ``error`` is the engine's sentence."""

    generation: int
    error: str


@dataclass
class DatabaseChanged(Message):
    """The watcher saw another connection commit, or the file was replaced or removed."""

    reason: str


@dataclass
class EngineEvent(Message):
    """A progress event from a migrate or rollback running in a worker thread."""

    event: Event


@dataclass
class RunCompleted(Message):
    """A migrate or rollback ended: ``result`` on success, ``error`` (one sentence) on failure."""

    direction: str
    target: int
    result: RunResult | None = None
    error: str | None = None


@dataclass
class MigratePlanReady(Message):
    steps: list[PlanStep]
    current_version: int
    latest_version: int


@dataclass
class RollbackPlanReady(Message):
    """The plan down to 0, newest first; every rollback target's plan is a prefix of it."""

    full_down_plan: list[PlanStep]
    current_version: int
    cursor_version: int | None
    #: Where the pre-rollback backup goes (None: backups are off).
    backup_folder: str | None = None


@dataclass
class PlanFailed(Message):
    action: str
    error: str


@dataclass
class ImpactRequested(Message):
    """The rollback modal wants to know what a rollback to ``target`` would destroy."""

    target: int


@dataclass
class ImpactLoaded(Message):
    """What ``rollback_impact(target)`` found: ``impact``, or ``error`` (one sentence)."""

    target: int
    impact: RollbackImpact | None = None
    error: str | None = None


@dataclass
class RehearseRequested(Message):
    """A confirm modal's Rehearse button: run the plan to ``target`` and keep nothing."""

    target: int


@dataclass
class RehearsalDone(Message):
    """What ``rehearse(target)`` found: ``report``, or ``error`` (one sentence)."""

    target: int
    report: RehearsalReport | None = None
    error: str | None = None


@dataclass
class BackupsRequested(Message):
    """The Backups screen wants the list (again)."""


@dataclass
class BackupsLoaded(Message):
    """This database's backups, newest first, and the folder they live in."""

    backups: list[BackupInfo]
    folder: str
    error: str | None = None


@dataclass
class RestoreCompleted(Message):
    """A restore ended: ``result`` on success, ``error`` (one sentence) on failure."""

    backup: BackupInfo
    result: RestoreResult | None = None
    error: str | None = None
