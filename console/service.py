"""EngineService: the console's one door to the engine, used from worker threads only.

Invariant: every engine call the console makes goes through ``attempt``, the one place where an
exception becomes a result (``Outcome``) with the operator's sentence; workers post that
outcome in a message and never see an exception. The event loop never calls a method here except
``attempt`` inside a thread worker: each opens its own SQLite connections (they belong to the
thread that made them).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from console.formatting import migration_label
from engine import (
    BackupInfo,
    DeploymentManager,
    DeploymentStatus,
    Event,
    MetamigrateError,
    MigrationFinished,
    MigrationManager,
    MigrationStatus,
    PlanStep,
    Registry,
    RehearsalReport,
    RestoreResult,
    RollbackImpact,
    RunResult,
)
from engine.backends import is_file_location, is_url
from engine.settings import DEFAULT_BUSY_TIMEOUT, default_backup_folder

if TYPE_CHECKING:
    from console.watcher import DatabaseWatcher
    from engine import HistoryEntry
    from engine.backends.base import ConnectOptions

T = TypeVar("T")

#: How long a read waits for another writer's lock; runs wait the engine's busy timeout
#: (``Settings.busy_timeout``, ``--busy-timeout``), like the CLI.
READ_BUSY_TIMEOUT = 1.0

Direction = Literal["up", "down"]


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What an engine call gave: ``value``, or ``error`` (one sentence for the operator)."""

    value: T | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class MigratePlan:
    steps: list[PlanStep]
    current_version: int
    latest_version: int
    #: There is no database yet: confirming this migrate creates it.
    creates_database: bool = False


@dataclass(frozen=True)
class RollbackPlan:
    """The plan down to 0, newest first; every rollback target's plan is a prefix of it."""

    full_down_plan: list[PlanStep]
    current_version: int
    #: Where the pre-rollback backup goes (None: backups are off).
    backup_folder: str | None
    #: False when there is no database yet (nothing to roll back; only a migrate creates it).
    database_exists: bool = True


@dataclass(frozen=True)
class BackupList:
    backups: list[BackupInfo]
    folder: str


@dataclass(frozen=True)
class RunRequest:
    """A confirmed migrate or rollback: the plan shown was made at ``expect_current``."""

    direction: Direction
    target: int
    expect_current: int


class RunStopped(MetamigrateError):
    """The operator closed the console during a run: it stopped after the current step."""


def unexpected(exc: BaseException) -> str:
    """A bug's sentence: the console reports it and keeps running (no traceback on screen)."""
    return f"Unexpected error (a bug, please report it): {type(exc).__name__}: {exc}"


def relative(path: str) -> str:
    """``path`` relative to the working directory when it is inside it (shorter in the log)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return path


def no_database_text(database: str, *, read_only: bool, pending: int = 0) -> str:
    """What the console says while there is no database at ``database`` (nothing created it)."""
    if read_only:
        return (
            f"No database at {database}: there is nothing to read, and migrate is not available "
            "read-only. Open the console without --read-only to create it."
        )
    return (
        f"No database at {database} yet; press m to create it and apply {pending} "
        f"migration{'s' if pending != 1 else ''}."
    )


#: Which reload wins when several wait for the one in flight (see ``LoadRequests``).
LOAD_PRIORITY = {"verify": 3, "refresh": 2, "open": 2, "run": 1, "external": 0}


class LoadRequests:
    """Reloads asked for while one runs are merged into one more, for the reason that matters
    most (verify, then refresh/open, then the others), so a poll never swallows a Verify and
    loads never overlap (their results arrive in order)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = False
        self._waiting: str | None = None
        #: Loads started so far (tests use it to see that an idle console does no work).
        self.started = 0

    def add(self, reason: str) -> bool:
        """Ask for a load; True when the caller must start the worker that runs them."""
        with self._lock:
            waiting = self._waiting
            if waiting is None or LOAD_PRIORITY.get(reason, 0) >= LOAD_PRIORITY.get(waiting, 0):
                self._waiting = reason
            if self._busy:
                return False
            self._busy = True
            return True

    def take(self) -> str | None:
        """The next load's reason, or None (and the worker ends) when nothing waits."""
        with self._lock:
            reason, self._waiting = self._waiting, None
            if reason is None:
                self._busy = False
            else:
                self.started += 1
            return reason


class EngineService:
    """The engine for one database and one set of migrations, as the console uses it."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        migrations: Registry | str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        busy_timeout: float | None = None,
        base_path: str | os.PathLike[str] | None = None,
        connect_options: ConnectOptions | None = None,
        backup_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """``connect_options``: how a server is reached (its schema, timeouts); ``backup_dir``:
        the backups folder (default: the engine's, beside a SQLite file; for a server, in
        ``base_path`` when given, as the CLI does)."""
        #: The database as given: a path, or a server URL (kept as text: a Path of
        #: ``postgresql://...`` reads ``postgresql:/...``, a relative file path).
        self.location = os.fspath(db_path)
        #: A file path, or a server URL kept as text.
        self.db_path: str | Path = self.location if is_url(db_path) else Path(db_path)
        self.connect_options = connect_options
        if backup_dir is None and base_path is not None and not is_file_location(db_path):
            backup_dir = default_backup_folder(db_path, base_path)
        self.backup_dir = backup_dir
        self.migrations = migrations
        self.read_only = read_only
        self.busy_timeout = DEFAULT_BUSY_TIMEOUT if busy_timeout is None else busy_timeout
        self.base_path = Path(base_path) if base_path is not None else None
        self._registry: Registry | None = migrations if isinstance(migrations, Registry) else None
        #: Set when the console closes: a run stops after the step that is running.
        self.stop_run = threading.Event()

    @property
    def what_is_replaced(self) -> str:
        """What a restore replaces: the database "file" (SQLite), or a server's "schema"."""
        return "file" if is_file_location(self.location) else "schema"

    # -- the one place an exception becomes a result --------------------------------------------

    @staticmethod
    def attempt(call: Callable[[], T]) -> Outcome[T]:
        try:
            return Outcome(value=call())
        except MetamigrateError as exc:
            return Outcome(error=exc.message)
        except Exception as exc:  # A bug must not kill the console: say it, keep running.
            return Outcome(error=unexpected(exc))

    # -- managers -------------------------------------------------------------------------------

    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry.from_spec(self.migrations)
        return self._registry

    def _manager(
        self, *, busy_timeout: float, on_event: Callable[[Event], None] | None = None
    ) -> MigrationManager:
        manager = MigrationManager(
            self.location,
            self.registry(),
            busy_timeout=busy_timeout,
            on_event=on_event,
            read_only=self.read_only,
            backup_dir=self.backup_dir,
            connect_options=self.connect_options,
        )
        if self.base_path is not None:
            from engine.metadata import attach_catalog_check

            attach_catalog_check(manager, self.base_path)
        return manager

    def reader(self) -> MigrationManager:
        return self._manager(busy_timeout=READ_BUSY_TIMEOUT)

    def _quiet(self) -> MigrationManager:
        """For rehearsals and impact: the run's busy timeout, no events (nothing is kept)."""
        return self._manager(busy_timeout=self.busy_timeout)

    # -- reading --------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the database is there; asking never creates it (only a confirmed migrate
        does, ``run``)."""
        return self.reader().exists()

    def statuses(self) -> tuple[list[MigrationStatus], int]:
        manager = self.reader()
        return manager.status(), manager.latest_version

    def readiness(self, *, full_checksums: bool) -> DeploymentStatus:
        """Verify (v) re-reads every migration file; opening and following the database trust
        the size/mtime cache (quick with a thousand migrations)."""
        return DeploymentManager(self.reader()).status(full_checksums=full_checksums)

    def migrate_plan(self) -> MigratePlan:
        manager = self.reader()
        steps = manager.plan(manager.latest_version)
        return MigratePlan(
            steps,
            manager.current_version,
            manager.latest_version,
            creates_database=not manager.exists(),
        )

    def rollback_plan(self) -> RollbackPlan:
        manager = self.reader()
        steps = manager.plan(0)
        current = max((step.version for step in steps), default=0)
        folder = relative(str(manager.backups.folder)) if manager.backup_enabled else None
        return RollbackPlan(steps, current, folder, database_exists=manager.exists())

    def rollback_impact(self, target: int) -> RollbackImpact:
        # It takes the write lock for a moment (the downs run in a transaction rolled back).
        return self._quiet().rollback_impact(target)

    def rehearse(self, target: int) -> RehearsalReport:
        return self._quiet().rehearse(target)

    def backup_folder(self) -> str:
        return relative(str(self.reader().backups.folder))

    def backups(self) -> BackupList:
        manager = self.reader()
        return BackupList(manager.list_backups(), relative(str(manager.backups.folder)))

    def history(self, limit: int | None = None) -> list[HistoryEntry]:
        return self.reader().history(limit)

    # -- writing --------------------------------------------------------------------------------

    def run(
        self,
        request: RunRequest,
        on_event: Callable[[Event], None],
        watcher: DatabaseWatcher | None = None,
    ) -> RunResult:
        """Migrate or roll back as confirmed; the engine refuses if the database moved since.
        ``watcher`` does not look meanwhile (the run's commits are the console's own)."""

        def forward(event: Event) -> None:
            on_event(event)
            self._stop_if_asked(event)

        manager = self._manager(busy_timeout=self.busy_timeout, on_event=forward)
        with _not_watched(watcher):
            if request.direction == "up":
                return manager.migrate_to(request.target, expect_current=request.expect_current)
            return manager.rollback(request.target, expect_current=request.expect_current)

    def _stop_if_asked(self, event: Event) -> None:
        """When the operator quits during a run, the run stops after the step that is running:
        raising here, after that step committed, ends the plan with the database at a good
        version (never between BEGIN and COMMIT: MigrationFinished comes after the commit)."""
        if self.stop_run.is_set() and isinstance(event, MigrationFinished):
            version = event.version if event.direction == "up" else event.version - 1
            raise RunStopped(
                f"Stopped after {migration_label(event.version, event.name)} because the console "
                f"was closed; the database is at version {version}."
            )

    def restore(
        self,
        info: BackupInfo,
        watcher: DatabaseWatcher | None,
        on_event: Callable[[Event], None] | None = None,
    ) -> RestoreResult:
        manager = self._manager(busy_timeout=self.busy_timeout, on_event=on_event)
        manager.backups.describe(info.path)  # a bad file is refused before anything changes
        # The watcher's connection would keep the old file (and refuse a WAL restore).
        with _not_watched(watcher):
            return manager.restore(info)


def _not_watched(watcher: DatabaseWatcher | None) -> AbstractContextManager[None]:
    """The console's own change to the database: ``watcher`` (if any) pauses around it."""
    return watcher.paused() if watcher is not None else nullcontext()


def service_of(app: object) -> EngineService:
    """The console app's service (screens reach the engine through it, in their workers)."""
    service = getattr(app, "service", None)
    if not isinstance(service, EngineService):
        raise TypeError(f"{app!r} is not the metamigrate console")
    return service
