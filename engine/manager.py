"""MigrationManager: the engine's front door (status, plans, migrate, rollback, verify, history).

It never migrates on its own. Given a path or URL it opens a connection per operation (through
``engine.backends``), so it can be called from any thread (the console calls it from worker
threads); given a connection or a backend it uses that one and never closes it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.backends import (
    as_backend,
    display_location,
    is_connection,
    is_file_location,
    open_backend,
    sqlite_path,
)
from engine.backends.base import ConnectOptions
from engine.errors import BackupError, DatabaseNotFoundError, ReadOnlyDatabaseError
from engine.migration import Registry
from engine.models import MigrationStatus
from engine.planner import Planner
from engine.recorder import Recorder
from engine.settings import DEFAULT_BUSY_TIMEOUT, DEFAULT_KEEP_BACKUPS

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from typing import Any

    from engine.backends.base import Backend
    from engine.backup import BackupInfo, BackupManager, RestoreResult
    from engine.events import EventHandler
    from engine.lifecycle import LifecycleResult
    from engine.models import Direction, PlanStep, RunResult
    from engine.recorder import AppliedRow, HistoryEntry
    from engine.rehearsal import RehearsalReport, RollbackImpact
    from engine.targets import Target
    from engine.verify import ExtraCheck, VerificationReport

RegistrySpec = Registry | str | os.PathLike[str] | None


class MigrationManager:
    """Applies and undoes the migrations of ``registry`` on one database.

    ``db_path_or_connection``: a SQLite file path, ``sqlite:///path``, a ``postgresql://`` URL, an
    open DB-API connection (``sqlite3``/``psycopg``) or a ``Backend``; the last two are used as
    they are and never closed.
    """

    def __init__(
        self,
        db_path_or_connection: str | os.PathLike[str] | Backend | Any,
        registry: RegistrySpec = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        on_event: EventHandler | None = None,
        read_only: bool = False,
        backup: bool = True,
        backup_dir: str | os.PathLike[str] | None = None,
        keep_backups: int = DEFAULT_KEEP_BACKUPS,
        connect_options: ConnectOptions | None = None,
    ) -> None:
        """``connect_options``: the rest of how connections are opened (a server's schema, lock
        waits and timeouts, application_name); ``read_only`` and ``busy_timeout`` win over it."""
        self.registry = Registry.from_spec(registry)
        self._connect_options = connect_options or ConnectOptions()
        #: The one planner (targets, directions, refusals) of this manager's registry.
        self.planner = Planner(self.registry)
        self.busy_timeout = busy_timeout
        self.on_event = on_event
        self.read_only = read_only
        self._backend: Backend | None = None
        #: More checks for verify(), each called with the backend (the Iceberg catalog adds one).
        self.extra_checks: list[ExtraCheck] = []
        #: Take a verified backup before migrate/rollback change anything (only when there is
        #: something to run and the database is not empty); ``backup=`` per call overrides it.
        self.backup_enabled = backup
        self.backup_dir = backup_dir
        self.keep_backups = keep_backups
        #: The backup taken by the last migrate/rollback of this manager (None: none was needed).
        self.last_backup: BackupInfo | None = None
        given = db_path_or_connection
        if is_connection(given) or hasattr(given, "begin_write"):
            self._backend = as_backend(given, self.connect_options())
            self.location = self._backend.location
            path = self._backend.path
            self.db_path = path if path is not None else Path(self._backend.location)
        else:
            #: Where the database is, as given (a path or URL; may hold a password).
            self.location = os.fspath(given)
            #: The database file (SQLite); for a server, its URL with the password masked.
            self.db_path = (
                Path(sqlite_path(given))
                if is_file_location(given)
                else Path(display_location(given))
            )

    def __repr__(self) -> str:
        return f"MigrationManager({self.display!r}, {self.registry.source!r})"

    # -- connections --------------------------------------------------------------------------

    def connect_options(self) -> ConnectOptions:
        """How this manager opens its connections."""
        return self._connect_options.replace(
            read_only=self.read_only, busy_timeout=self.busy_timeout
        )

    @property
    def display(self) -> str:
        """The database for messages: a file path, or a URL with any password masked."""
        if self._backend is not None or is_file_location(self.location):
            return str(self.db_path)
        return display_location(self.location)

    @contextlib.contextmanager
    def backend(self) -> Iterator[Backend]:
        """A backend for one operation: the caller's own, or a fresh one closed afterwards."""
        if self._backend is not None:
            yield self._backend
            return
        backend = open_backend(self.location, self.connect_options())
        try:
            yield backend
        finally:
            backend.close()

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """The raw DB-API connection for one operation (the backend-specific escape hatch:
        ``sqlite3.Connection`` or ``psycopg.Connection``); engine code uses ``backend()``."""
        with self.backend() as backend:
            yield backend.connection

    @property
    def is_file_backed(self) -> bool:
        """True when the database is one local file (SQLite) rather than a server."""
        if self._backend is not None:
            return self._backend.path is not None or self.location == ":memory:"
        return is_file_location(self.location)

    def require_database(self) -> None:
        """Raise ``DatabaseNotFoundError`` when the database file does not exist (only
        ``migrate_to``/``migrate_to_latest`` and ``Store.open`` create one)."""
        if self._backend is None and not self.exists():
            raise DatabaseNotFoundError(f"no database at {self.display}; `migrate` creates it.")

    def exists(self) -> bool:
        """True when there is a database to read (a shared connection and a server database
        always count: connecting tells)."""
        if self._backend is not None or str(self.db_path) == ":memory:":
            return True
        if not is_file_location(self.location):
            return True
        try:
            return self.db_path.exists() or self.db_path.is_dir()  # a directory: refused on open
        except OSError as exc:  # a folder it cannot enter, a name over the limit
            from engine.errors import DatabasePathError
            from engine.files import path_problem

            raise DatabasePathError(path_problem(self.db_path, exc)) from exc

    # -- reading ------------------------------------------------------------------------------

    def _applied_now(self) -> dict[int, AppliedRow]:
        """The applied versions; a database that does not exist yet has none (and is not
        created by being asked)."""
        if not self.exists():
            return {}
        with self.backend() as backend:
            return self._applied(backend)

    def _applied(self, backend: Backend) -> dict[int, AppliedRow]:
        try:
            return Recorder(backend).applied()
        except backend.driver_errors as exc:
            raise backend.translate_error(exc, action="read") from exc

    def status(self) -> list[MigrationStatus]:
        """Every version the code or the database knows, in order."""
        return self._statuses(self._applied_now())

    def unfinished(self) -> list[str]:
        """A sentence per migration that began outside a transaction and never finished
        (``TRANSACTION = False`` on a server; see ``engine.unfinished``)."""
        if self.is_file_backed or not self.exists():
            return []
        from engine.unfinished import unfinished_problems

        with self.backend() as backend:
            if not backend.capabilities.non_transactional:
                return []
            try:
                return unfinished_problems(backend)
            except backend.driver_errors as exc:
                raise backend.translate_error(exc, action="read") from exc

    def _statuses(self, applied: dict[int, AppliedRow]) -> list[MigrationStatus]:
        statuses: list[MigrationStatus] = []
        known = self.registry.versions
        for version in sorted(set(known) | set(applied)):
            row = applied.get(version)
            if row is None:
                description, reversible = self.registry.header_of(version)
                statuses.append(
                    MigrationStatus(
                        version=version,
                        name=self.registry.name_of(version),
                        description=description,
                        status="pending",
                        applied_at=None,
                        reversible=reversible,
                    )
                )
                continue
            in_code = version in self.registry
            # Positional (the fields' order): one per applied migration, as cheap as it gets.
            statuses.append(
                MigrationStatus(
                    version,
                    row.name,
                    row.description,
                    "applied" if in_code else "unknown",  # status
                    row.applied_at,
                    row.duration_ms,
                    self._checksum_ok(row) if in_code else None,  # checksum_ok
                    row.reversible if in_code else False,  # reversible
                )
            )
        return statuses

    def _checksum_ok(self, row: AppliedRow) -> bool:
        entry = self.registry.file_of(row.version)
        if entry is not None and row.source_key == entry.stat_key:
            # Same size and modification time as when it was applied: the cached checksum holds.
            return True
        return self.registry.checksum_matches(row.version, row.checksum)

    @property
    def current_version(self) -> int:
        if not self.exists():
            return 0  # no database yet: nothing applied (and nothing is created to say so)
        with self.backend() as backend:
            try:
                return Recorder(backend).head()[0]
            except backend.driver_errors as exc:
                raise backend.translate_error(exc, action="read") from exc

    @property
    def latest_version(self) -> int:
        return self.registry.latest_version

    def pending(self) -> list[MigrationStatus]:
        return [item for item in self.status() if item.status == "pending"]

    def applied_versions(self) -> list[int]:
        return sorted(self._applied_now())

    def history(self, limit: int | None = None) -> list[HistoryEntry]:
        """Every attempt to apply or undo a migration, newest first."""
        if not self.exists():
            return []
        with self.backend() as backend:
            try:
                return Recorder(backend).history(limit)
            except backend.driver_errors as exc:
                raise backend.translate_error(exc, action="read") from exc

    # -- planning -----------------------------------------------------------------------------

    def plan(self, target: int | str | None = None, *, load: bool = False) -> list[PlanStep]:
        """The ordered steps that ``migrate_to(target)`` or ``rollback(target)`` would run.

        Reversibility is read from the files' headers without importing them; ``load=True``
        imports the planned migrations instead (for a caller about to run them anyway)."""
        applied = self._applied_now()
        target = self._check_target(target)
        if load:
            reversible = lambda v: self.registry.get(v).reversible  # noqa: E731
            return list(self.planner.plan(applied, target, reversible).steps)
        return list(self.planner.plan(applied, target).steps)

    def resolve_target(self, target: int | str | Target | None) -> int:
        """The absolute version ``target`` means now: a version, ``"+2"`` / ``"-1"`` (steps from
        the current version), ``"latest"``/``"head"`` or ``"base"``; checked like any target."""
        from engine.targets import Target, parse_target

        if target is None:
            return self.registry.latest_version
        spec = target if isinstance(target, Target) else parse_target(target)
        current = 0
        if spec.relative and self.exists():
            current = self.current_version
        return self._check_target(spec.resolve(current, self.registry.latest_version))

    def _check_target(self, target: int | str | Target | None) -> int:
        if target is not None and not isinstance(target, int):
            from engine.targets import Target

            if isinstance(target, str | Target):
                return self.resolve_target(target)
        return self.planner.check_target(target)

    def _plan(
        self,
        applied: dict[int, AppliedRow],
        target: int,
        reversible_of: Callable[[int], bool],
    ) -> tuple[Direction, list[PlanStep]]:
        """Older form of ``planner.plan``: (direction, steps)."""
        plan = self.planner.plan(applied, target, reversible_of)
        return plan.direction, list(plan.steps)

    # -- changing -----------------------------------------------------------------------------

    def migrate_to_latest(
        self,
        *,
        atomic: bool = False,
        backup: bool | None = None,
        expect_current: int | None = None,
    ) -> RunResult:
        return self.migrate_to(
            self.registry.latest_version,
            atomic=atomic,
            backup=backup,
            expect_current=expect_current,
        )

    def migrate_to(
        self,
        version: int | str,
        *,
        atomic: bool = False,
        backup: bool | None = None,
        expect_current: int | None = None,
    ) -> RunResult:
        """Apply pending migrations up to ``version`` (or ``"+2"``: two steps up), one
        transaction each (or one for all). The only operation that creates a missing database.

        ``backup`` (default: the manager's setting) takes a verified backup first when there is
        something to run; if it cannot be made, nothing runs. ``expect_current`` is the version
        the operator's plan was made for: when the database is at another version (at the start,
        or under the write lock before the first step) the run raises ``ConcurrentChangeError``
        before the backup and before any step.
        """
        target = self._check_target(version)
        return self._run("up", target, atomic=atomic, backup=backup, expect_current=expect_current)

    def rollback(
        self,
        to_version: int | str,
        *,
        atomic: bool = False,
        backup: bool | None = None,
        expect_current: int | None = None,
    ) -> RunResult:
        """Undo applied migrations down to ``to_version`` (0: empty schema; ``"-1"``: one step
        back), newest first.

        ``expect_current``: as for ``migrate_to``; a typed confirmation passes the version it
        showed, so a database changed meanwhile is refused, never rolled back.
        """
        target = self._check_target(to_version)
        self.require_database()
        return self._run(
            "down", target, atomic=atomic, backup=backup, expect_current=expect_current
        )

    def _run(
        self,
        direction: Direction,
        target: int,
        *,
        atomic: bool,
        backup: bool | None = None,
        expect_current: int | None = None,
    ) -> RunResult:
        if self.read_only:
            raise ReadOnlyDatabaseError(
                f"Database {self.display} was opened read-only; nothing was changed. "
                "Open it without --read-only to migrate."
            )
        if direction == "down":
            self.require_database()  # only migrate creates a database
        elif not self.exists():
            # A new database: import every planned migration before the file is created, so
            # one that fails at import (or calls sys.exit) leaves no empty database behind.
            self._load_plan(target)
        with self.backend() as backend:
            applied = self._applied(backend)
            current = max(applied, default=0)
            from engine.executor import Executor, check_expected_version

            check_expected_version(current, expect_current)
            plan = self.planner.plan_run(applied, target, direction)
            steps = list(plan.steps)
            self.last_backup = None
            taken: BackupInfo | None = None
            if steps and (self.backup_enabled if backup is None else backup):
                verb = "migrate" if direction == "up" else "rollback"
                taken = self._backup_before(backend, f"before {verb} to {target}")

            executor = Executor(backend, self.registry, on_event=self.on_event)
            try:
                result = executor.run(
                    direction,
                    steps,
                    from_version=current,
                    target=target,
                    atomic=atomic,
                    expect_current=expect_current,
                )
            except BaseException:
                self._discard_unused(taken, executor.may_have_changed)
                raise
            finally:
                from engine.checksum_cache import save_all

                save_all()  # the checksums computed for this run, for the next one
            changed = executor.may_have_changed or bool(result.done)
            if taken is not None and not self._discard_unused(taken, changed):
                self.backups.prune(protect=[taken.path])
            return result

    def _discard_unused(self, taken: BackupInfo | None, changed: bool) -> bool:
        """Delete the run's backup when the run changed nothing: it failed before its first
        change, or the check under the lock found everything done by another runner. Such a copy
        holds nothing new, and retries must not pile them up (retention is not run). True when
        there is no backup left to keep."""
        if taken is None:
            return True
        if changed:
            return False
        self.backups.discard(taken)
        self.last_backup = None
        return True

    def _load_plan(self, target: int) -> None:
        """Import the migrations that an up run from version 0 to ``target`` would apply (their
        reversibility from the imported code: reading each file's header as well would parse
        every file a second time)."""
        self.planner.plan({}, target, lambda version: self.registry.get(version).reversible)

    @staticmethod
    def _refuse_irreversible(steps: list[PlanStep]) -> None:
        Planner.refuse_irreversible(steps)

    # -- backups, rehearsal, rollback impact ---------------------------------------------------

    @property
    def backups(self) -> BackupManager:
        """The backups of this database (folder, listing, retention, restore). A server backend
        whose module offers ``backup_manager(location, backup_dir, keep=, options=)`` provides its
        own (dumps); without one, backups are refused with a sentence."""
        from engine.backup import BackupManager

        if not self.is_file_backed:
            from engine.backends import backend_module

            factory = getattr(backend_module(self.location), "backup_manager", None)
            if factory is None:
                raise BackupError(
                    f"metamigrate takes no backups of {self.display}; back it up with the "
                    "database's own tools, then run with --no-backup."
                )
            manager: BackupManager = factory(
                self.location,
                self.backup_dir,
                keep=self.keep_backups,
                options=self.connect_options(),
            )
            return manager
        return BackupManager(
            self.db_path, self.backup_dir, keep=self.keep_backups, busy_timeout=self.busy_timeout
        )

    def _backup_before(self, backend: Backend, reason: str) -> BackupInfo | None:
        """The backup before a run, taken under the write lock; nothing is pruned yet.

        A database another writer has locked is refused here, before any backup is written.
        """
        from engine.events import BackupTaken

        if str(self.db_path) == ":memory:" or backend.is_empty():
            return None  # nothing to lose
        info = self._take_backup(backend, reason, prune=False, for_writing=True)
        self.last_backup = info
        if self.on_event is not None:
            self.on_event(BackupTaken(str(info.path), info.version, info.size))
        return info

    def backup(self, *, reason: str = "manual") -> BackupInfo:
        """Take a verified backup now (see ``engine.backup``); returns what was written."""
        if not self.exists():
            raise BackupError(
                f"Database {self.display} does not exist; there is nothing to back up."
            )
        with self.backend() as backend:
            return self._take_backup(backend, reason)

    def _take_backup(
        self, backend: Backend, reason: str, *, prune: bool = True, for_writing: bool = False
    ) -> BackupInfo:
        """Take a backup while ``backend`` holds the write lock, so a writer holding it past the
        busy timeout is refused before anything is written, and a copy never waits on one.

        A SQLite file is copied through a fresh connection while ``backend`` keeps the lock (the
        copy is exactly what a run then starts from). A server database only checks the lock
        first. A database this process cannot write is copied without the lock, unless the
        backup is for a run that will write (that fails here, before any copy is made).
        """
        try:
            backend.begin_write()
        except ReadOnlyDatabaseError:
            if for_writing:
                raise
            return self._copy(backend, reason, prune=prune)
        if not self.is_file_backed:
            backend.rollback()
            return self._copy(backend, reason, prune=prune)
        try:
            return self.backups.take(reason=reason, prune=prune)
        finally:
            backend.rollback()

    def _copy(self, backend: Backend, reason: str, *, prune: bool) -> BackupInfo:
        if backend.capabilities.backup:
            return self.backups.take(backend.connection, reason=reason, prune=prune)
        return self.backups.take(reason=reason, prune=prune)

    def list_backups(self) -> list[BackupInfo]:
        """This database's backups, newest first."""
        return self.backups.list_backups()

    def restore(
        self, backup: str | os.PathLike[str] | BackupInfo, *, force: bool = False
    ) -> RestoreResult:
        """Put ``backup`` (a BackupInfo, a path, or a file name in the folder) back, atomically.

        The replaced database is kept as a backup first. Refused while another process holds the
        write lock, and for a manager built on a connection (close it and pass the path). On a
        server, also refused while other sessions are connected unless ``force``.
        """
        if force and self.is_file_backed:
            raise BackupError(
                "--force applies to PostgreSQL restores (other sessions connected); a SQLite "
                "file in use by another process cannot be replaced safely: stop it, then restore."
            )
        if self._backend is not None:
            raise BackupError(
                "Cannot restore through a manager that shares an open connection (a Store); "
                "close it and restore by path (metamigrate restore)."
            )
        if self.read_only:
            raise ReadOnlyDatabaseError(
                f"Database {self.display} was opened read-only; nothing was restored."
            )
        if force:
            restored: RestoreResult = self.backups.restore(backup, force=True)  # type: ignore[call-arg]
            return restored
        return self.backups.restore(backup)

    def rehearse(self, target: int | str | None = None) -> RehearsalReport:
        """Run the real plan to ``target`` (default latest; below current means a rollback) and
        keep nothing: inside one write transaction that is rolled back, or on a throw-away copy
        when a step needs foreign keys off on a connection that has them on, or the database is
        read-only. The report has, per step, the SQL run, its time, the rows changed, and whether
        it would fail (``report.ok``, ``report.failed_step``). Takes no backup. Raises like
        ``plan`` (bad target, database ahead of code) and refuses irreversible downs like
        ``rollback``; a locked database raises ``DatabaseLockedError`` after the busy timeout.
        """
        from engine.rehearsal import rehearse

        target = self.resolve_target(target)
        if not self.exists():
            # Nothing to read: rehearse the plan from version 0 on an empty scratch database,
            # so the operator's path is not created by a command that must change nothing.
            from engine.scratch import scratch_manager

            with scratch_manager(self.registry, busy_timeout=self.busy_timeout) as scratch:
                return rehearse(scratch, target)
        return rehearse(self, target)

    def rollback_impact(self, target: int | str, *, details: bool = True) -> RollbackImpact:
        """What ``rollback(target)`` would destroy, measured by rehearsing its downs (or, where
        they answer it exactly, by the live row counts and the schema recorded for the target:
        ``impact.measured_by``). ``details=False`` asks only whether data would be lost: when no
        application table holds a row, the empty drops are not listed and nothing is rehearsed.

        Nothing is kept (see ``rehearse``). The result lists the tables the downs drop with their
        row counts now (``dropped_tables``), the dropped columns with the rows that hold a value
        (``dropped_columns``), and rows deleted from tables that stay (``deleted_rows``);
        ``rows_lost``/``loses_data`` add them up, ``changes`` gives one phrase per loss ("drops
        table user_preferences, 1,204 rows") and ``summary()`` one sentence for a dialog. A down
        that would fail sets ``would_fail`` and ``error``. A rollback that ``loses_data`` must be
        confirmed by typing the target version (the CLI demands it even with --yes unless
        --force). Raises like ``rollback`` before anything runs: a target above the current
        version (``InvalidTargetError``), an irreversible migration in the way
        (``IrreversibleMigrationError``), a lock held past the busy timeout.
        """
        from engine.rehearsal import rollback_impact

        self.require_database()
        return rollback_impact(self, self.resolve_target(target), details=details)

    # -- changing the bookkeeping by hand (engine.lifecycle) ------------------------------------

    def stamp(self, version: int | str, *, reason: str, dry_run: bool = False) -> LifecycleResult:
        """Record exactly 1..``version`` as applied without running code (``reason`` required;
        recorded in the history as direction "stamp"). See ``engine.lifecycle``."""
        from engine.lifecycle import stamp

        return stamp(self, version, reason=reason, dry_run=dry_run)

    def unmark(self, version: int, *, reason: str, dry_run: bool = False) -> LifecycleResult:
        """Forget that the newest applied ``version`` was applied, without running its down."""
        from engine.lifecycle import unmark

        return unmark(self, version, reason=reason, dry_run=dry_run)

    def repair(self, version: int, *, reason: str, dry_run: bool = False) -> LifecycleResult:
        """Accept the edited code of applied ``version``, or clear an unfinished attempt on it."""
        from engine.lifecycle import repair

        return repair(self, version, reason=reason, dry_run=dry_run)

    def baseline(
        self, version: int | str, *, reason: str, force: bool = False, dry_run: bool = False
    ) -> LifecycleResult:
        """Adopt an unmanaged database at ``version`` once its schema matches what 1..N produce
        on a scratch database (``BaselineMismatchError`` lists the differences; ``force``
        accepts them, recorded)."""
        from engine.lifecycle import baseline

        return baseline(self, version, reason=reason, force=force, dry_run=dry_run)

    # -- checking -----------------------------------------------------------------------------

    def verify(self, *, full_checksums: bool = True) -> VerificationReport:
        """Every check; ``full_checksums=False`` re-parses only the migration files whose size
        or mtime changed since they were applied (quick enough for a UI refresh)."""
        return self.statuses_and_verification(full_checksums=full_checksums)[1]

    def statuses_and_verification(
        self, *, full_checksums: bool = True
    ) -> tuple[list[MigrationStatus], VerificationReport]:
        """``status()`` and ``verify()`` read on one connection (the deployment gate: one
        session per replica, the applied rows read once)."""
        from engine.verify import verify

        self.require_database()  # a database that does not exist must not pass verification
        with self.backend() as backend:
            statuses = self._statuses(self._applied(backend))
            report = verify(
                backend,
                self.registry,
                statuses,
                self.extra_checks,
                full_checksums=full_checksums,
            )
            return statuses, report
