"""MigrationManager: the engine's front door (status, plans, migrate, rollback, verify, history).

It never migrates on its own. Given a path it opens a connection per operation, so it can be
called from any thread (the console calls it from worker threads); given a connection it uses
that one and never closes it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from engine import sqlite as sq
from engine.errors import (
    BackupError,
    DatabaseNotFoundError,
    InvalidTargetError,
    IrreversibleMigrationError,
    ReadOnlyDatabaseError,
    SchemaMismatchError,
)
from engine.migration import Registry
from engine.models import Direction, MigrationStatus, PlanStep, RunResult
from engine.recorder import AppliedRow, HistoryEntry, Recorder
from engine.settings import DEFAULT_BUSY_TIMEOUT, DEFAULT_KEEP_BACKUPS

if TYPE_CHECKING:
    from engine.backup import BackupInfo, BackupManager, RestoreResult
    from engine.events import EventHandler
    from engine.lifecycle import LifecycleResult
    from engine.rehearsal import RehearsalReport, RollbackImpact
    from engine.targets import Target
    from engine.verify import ExtraCheck, VerificationReport

RegistrySpec = Registry | str | os.PathLike[str] | None


class MigrationManager:
    """Applies and undoes the migrations of ``registry`` on one SQLite database."""

    def __init__(
        self,
        db_path_or_connection: str | os.PathLike[str] | sqlite3.Connection,
        registry: RegistrySpec = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        on_event: EventHandler | None = None,
        read_only: bool = False,
        backup: bool = True,
        backup_dir: str | os.PathLike[str] | None = None,
        keep_backups: int = DEFAULT_KEEP_BACKUPS,
    ) -> None:
        self.registry = Registry.from_spec(registry)
        self.busy_timeout = busy_timeout
        self.on_event = on_event
        self.read_only = read_only
        self._conn: sqlite3.Connection | None = None
        #: More checks for verify(), each called with a connection (the Iceberg catalog adds one).
        self.extra_checks: list[ExtraCheck] = []
        #: Take a verified backup before migrate/rollback change anything (only when there is
        #: something to run and the database is not empty); ``backup=`` per call overrides it.
        self.backup_enabled = backup
        self.backup_dir = backup_dir
        self.keep_backups = keep_backups
        #: The backup taken by the last migrate/rollback of this manager (None: none was needed).
        self.last_backup: BackupInfo | None = None
        if isinstance(db_path_or_connection, sqlite3.Connection):
            self._conn = db_path_or_connection
            self.db_path = Path(sq.database_path(db_path_or_connection) or ":memory:")
        else:
            self.db_path = Path(db_path_or_connection)

    def __repr__(self) -> str:
        return f"MigrationManager({str(self.db_path)!r}, {self.registry.source!r})"

    # -- connections --------------------------------------------------------------------------

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation: the caller's own, or a fresh one closed afterwards."""
        if self._conn is not None:
            yield self._conn
            return
        conn = sq.connect(self.db_path, read_only=self.read_only, busy_timeout=self.busy_timeout)
        try:
            yield conn
        finally:
            conn.close()

    def require_database(self) -> None:
        """Raise ``DatabaseNotFoundError`` when the database file does not exist (only
        ``migrate_to``/``migrate_to_latest`` and ``Store.open`` create one)."""
        if self._conn is None and not self.exists():
            raise DatabaseNotFoundError(f"no database at {self.db_path}; `migrate` creates it.")

    def exists(self) -> bool:
        """True when there is a database to read (a shared connection always counts)."""
        if self._conn is not None or str(self.db_path) == ":memory:":
            return True
        return self.db_path.exists() or self.db_path.is_dir()  # a directory: refused on open

    # -- reading ------------------------------------------------------------------------------

    def _applied_now(self) -> dict[int, AppliedRow]:
        """The applied versions; a database that does not exist yet has none (and is not
        created by being asked)."""
        if not self.exists():
            return {}
        with self.connection() as conn:
            return self._applied(conn)

    def _applied(self, conn: sqlite3.Connection) -> dict[int, AppliedRow]:
        try:
            return Recorder(conn).applied()
        except sqlite3.Error as exc:
            raise sq.translate_error(exc, self.db_path, action="read") from exc

    def status(self) -> list[MigrationStatus]:
        """Every version the code or the database knows, in order."""
        return self._statuses(self._applied_now())

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
            statuses.append(
                MigrationStatus(
                    version=version,
                    name=row.name,
                    description=row.description,
                    status="applied" if in_code else "unknown",
                    applied_at=row.applied_at,
                    duration_ms=row.duration_ms,
                    checksum_ok=self._checksum_ok(row) if in_code else None,
                    reversible=row.reversible if in_code else False,
                )
            )
        return statuses

    def _checksum_ok(self, row: AppliedRow) -> bool:
        entry = self.registry.file_of(row.version)
        if entry is not None and row.source_key == entry.stat_key:
            # Same size and modification time as when it was applied: the cached checksum holds.
            return True
        return self.registry.checksum_of(row.version) == row.checksum

    @property
    def current_version(self) -> int:
        if not self.exists():
            return 0  # no database yet: nothing applied (and nothing is created to say so)
        with self.connection() as conn:
            try:
                return Recorder(conn).head()[0]
            except sqlite3.Error as exc:
                raise sq.translate_error(exc, self.db_path, action="read") from exc

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
        with self.connection() as conn:
            try:
                return Recorder(conn).history(limit)
            except sqlite3.Error as exc:
                raise sq.translate_error(exc, self.db_path, action="read") from exc

    # -- planning -----------------------------------------------------------------------------

    def plan(self, target: int | str | None = None) -> list[PlanStep]:
        """The ordered steps that ``migrate_to(target)`` or ``rollback(target)`` would run."""
        applied = self._applied_now()
        target = self._check_target(target)
        return self._plan(applied, target, lambda v: self.registry.header_of(v)[1])[1]

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
        latest = self.registry.latest_version
        if target is None:
            return latest
        if not isinstance(target, int):
            from engine.targets import Target

            if isinstance(target, str | Target):
                return self.resolve_target(target)
        if isinstance(target, bool) or not isinstance(target, int):
            raise InvalidTargetError(f"Target version {target!r} is not a whole number.")
        if target < 0:
            raise InvalidTargetError(
                f"Target version {target} is negative; use 0 for an empty schema or 1..{latest}."
            )
        if target > latest:
            raise InvalidTargetError(
                f"There is no migration {target}: the latest version is {latest}; "
                f"choose a target between 0 and {latest}."
            )
        return target

    def _plan(
        self,
        applied: dict[int, AppliedRow],
        target: int,
        reversible_of: Callable[[int], bool],
    ) -> tuple[Direction, list[PlanStep]]:
        """Steps from the applied set to ``target``; ``reversible_of`` asks the code, not the
        bookkeeping, because a down may have been added or removed since the version was applied."""
        unknown = sorted(v for v in applied if v not in self.registry)
        if unknown:
            raise SchemaMismatchError(
                f"The database is ahead of the code: version(s) {_join(unknown)} are applied but "
                "unknown to these migrations; deploy the code that has them, or roll back with it."
            )
        current = max(applied, default=0)
        stray = [v for v in self.registry.versions if v < current and v not in applied]
        if stray:
            raise SchemaMismatchError(
                f"Version(s) {_join(stray)} are pending below applied version {current}; the "
                "database was migrated with different code. Run verify and repair by hand."
            )
        if target >= current:
            steps = [
                PlanStep("up", v, self.registry.name_of(v), reversible_of(v))
                for v in range(current + 1, target + 1)
            ]
            return "up", steps
        return "down", [
            PlanStep("down", v, applied[v].name, reversible_of(v))
            for v in range(current, target, -1)
        ]

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
                f"Database {self.db_path} was opened read-only; nothing was changed. "
                "Open it without --read-only to migrate."
            )
        if direction == "down":
            self.require_database()  # only migrate creates a database
        with self.connection() as conn:
            applied = self._applied(conn)
            current = max(applied, default=0)
            from engine.executor import Executor, check_expected_version

            check_expected_version(current, expect_current)
            # Loading every migration of the plan before the first write makes a broken file
            # fail the run before anything changes.
            planned_direction, steps = self._plan(
                applied, target, lambda v: self.registry.get(v).reversible
            )
            if steps and planned_direction != direction:
                if direction == "up":
                    raise InvalidTargetError(
                        f"Version {target} is below the current version {current}; use rollback "
                        "to go down."
                    )
                raise InvalidTargetError(
                    f"Version {target} is above the current version {current}; "
                    "use migrate to go up."
                )
            if direction == "down":
                self._refuse_irreversible(steps)
            self.last_backup = None
            if steps and (self.backup_enabled if backup is None else backup):
                verb = "migrate" if direction == "up" else "rollback"
                self._backup_before(conn, f"before {verb} to {target}")

            executor = Executor(
                conn, self.registry, busy_timeout=self.busy_timeout, on_event=self.on_event
            )
            return executor.run(
                direction,
                steps,
                from_version=current,
                target=target,
                atomic=atomic,
                expect_current=expect_current,
            )

    @staticmethod
    def _refuse_irreversible(steps: list[PlanStep]) -> None:
        blocked = [s for s in steps if not s.reversible]
        if blocked:
            names = ", ".join(f"{s.version:04d}_{s.name}" for s in blocked)
            lowest_ok = max(s.version for s in blocked)
            raise IrreversibleMigrationError(
                f"Cannot roll back across irreversible migration(s) {names}; nothing was changed. "
                f"The lowest reachable version is {lowest_ok}."
            )

    # -- backups, rehearsal, rollback impact ---------------------------------------------------

    @property
    def backups(self) -> BackupManager:
        """The backups of this database (folder, listing, retention, restore)."""
        from engine.backup import BackupManager

        return BackupManager(
            self.db_path, self.backup_dir, keep=self.keep_backups, busy_timeout=self.busy_timeout
        )

    def _backup_before(self, conn: sqlite3.Connection, reason: str) -> None:
        from engine.events import BackupTaken

        if str(self.db_path) == ":memory:" or sq.is_empty(conn):
            return  # nothing to lose
        info = self.backups.take(conn, reason=reason)
        self.last_backup = info
        if self.on_event is not None:
            self.on_event(BackupTaken(str(info.path), info.version, info.size))

    def backup(self, *, reason: str = "manual") -> BackupInfo:
        """Take a verified backup now (see ``engine.backup``); returns what was written."""
        if self._conn is None and not self.db_path.exists():
            raise BackupError(
                f"Database {self.db_path} does not exist; there is nothing to back up."
            )
        with self.connection() as conn:
            return self.backups.take(conn, reason=reason)

    def list_backups(self) -> list[BackupInfo]:
        """This database's backups, newest first."""
        return self.backups.list_backups()

    def restore(self, backup: str | os.PathLike[str] | BackupInfo) -> RestoreResult:
        """Put ``backup`` (a BackupInfo, a path, or a file name in the folder) back, atomically.

        The replaced file is kept as a backup first. Refused while another process holds the
        write lock, and for a manager built on a connection (close it and pass the path).
        """
        if self._conn is not None:
            raise BackupError(
                "Cannot restore through a manager that shares an open connection (a Store); "
                "close it and restore by path (metamigrate restore)."
            )
        if self.read_only:
            raise ReadOnlyDatabaseError(
                f"Database {self.db_path} was opened read-only; nothing was restored."
            )
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

    def rollback_impact(self, target: int | str) -> RollbackImpact:
        """What ``rollback(target)`` would destroy, measured by rehearsing its downs.

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
        return rollback_impact(self, self.resolve_target(target))

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
        from engine.verify import verify

        self.require_database()  # a database that does not exist must not pass verification
        with self.connection() as conn:
            statuses = self._statuses(self._applied(conn))
            return verify(
                conn,
                self.registry,
                statuses,
                self.extra_checks,
                full_checksums=full_checksums,
            )


def _join(versions: list[int]) -> str:
    return ", ".join(str(v) for v in versions)
