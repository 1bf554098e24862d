"""Turning a plan into applied (or undone) migrations, one transaction each, or one for all.

Invariant: a step either commits together with its bookkeeping row, its history row and
``PRAGMA user_version``, or leaves no trace but a failed history row. The applied set is re-read
under the write lock before every step, so concurrent runners apply each migration exactly once.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from engine import sqlite as sq
from engine.errors import ConcurrentChangeError, MetamigrateError, MigrationError
from engine.events import (
    Event,
    EventHandler,
    MigrationFailed,
    MigrationFinished,
    MigrationSkipped,
    MigrationStarted,
    RunFinished,
    RunStarted,
)
from engine.migration import Migration, Registry
from engine.models import Direction, PlanStep, RunResult
from engine.recorder import Recorder, utc_now
from engine.tx import Tx


class _TransactionEnded(Exception):
    """Migration code ended the engine's transaction (or SQLite did, after a fatal error)."""


@dataclass
class _StepOutcome:
    skipped: bool
    duration_ms: float


class Executor:
    """Runs plan steps on one connection, with events and history."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        registry: Registry,
        *,
        busy_timeout: float,
        on_event: EventHandler | None = None,
    ) -> None:
        self.conn = conn
        self.registry = registry
        self.busy_timeout = busy_timeout
        self.on_event = on_event
        self.recorder = Recorder(conn)
        self.tx = Tx(conn)
        self.expect_current: int | None = None

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    # -- runs ---------------------------------------------------------------------------------

    def run(
        self,
        direction: Direction,
        steps: Sequence[PlanStep],
        *,
        from_version: int,
        target: int,
        atomic: bool = False,
        expect_current: int | None = None,
    ) -> RunResult:
        """``expect_current``: refuse (ConcurrentChangeError) unless the database is still at
        that version once the write lock is held for the first step."""
        self.expect_current = expect_current
        self._emit(
            RunStarted(direction, from_version, target, tuple((s.version, s.name) for s in steps))
        )
        done: list[PlanStep] = []
        skipped: list[PlanStep] = []
        try:
            if atomic:
                done, skipped = self._run_atomic(steps)
            else:
                for index, step in enumerate(steps):
                    outcome = self._run_own_transaction(step, last=index == len(steps) - 1)
                    (skipped if outcome.skipped else done).append(step)
        except MetamigrateError as exc:
            reached = self._version_now()
            self._emit(
                RunFinished(
                    direction,
                    from_version,
                    reached,
                    False,
                    tuple(s.version for s in done),
                    str(exc),
                )
            )
            raise
        reached = self._version_now()
        self._emit(
            RunFinished(direction, from_version, reached, True, tuple(s.version for s in done))
        )
        return RunResult(direction, from_version, reached, tuple(done), tuple(skipped))

    def _version_now(self) -> int:
        with contextlib.suppress(sqlite3.Error):
            return self.recorder.head()[0]
        return -1

    def _run_own_transaction(self, step: PlanStep, *, last: bool) -> _StepOutcome:
        migration = self.registry.get(step.version)
        with self._foreign_keys_off(migration.disable_foreign_keys):
            sq.begin_immediate(self.conn, busy_timeout=self.busy_timeout)
            try:
                self.recorder.ensure_tables()
                self._check_expected()
                if self._already_done(step):
                    self._rollback()
                    self._emit(MigrationSkipped(step.version, step.name, step.direction))
                    return _StepOutcome(skipped=True, duration_ms=0.0)
                # Inside the try: a handler that raises must not leave the transaction open.
                self._emit(MigrationStarted(step.version, step.name, step.direction))
            except BaseException:
                self._rollback()
                raise
            started_at = utc_now()
            started = time.perf_counter()
            try:
                duration = self._execute(step, migration, started_at, started, fingerprint=last)
                self._commit()
            except BaseException as exc:
                self._fail(step, exc, started_at, started)
        # The same duration as the bookkeeping row: the migration's own work, without the commit.
        self._emit(MigrationFinished(step.version, step.name, step.direction, duration))
        return _StepOutcome(skipped=False, duration_ms=duration)

    def _run_atomic(self, steps: Sequence[PlanStep]) -> tuple[list[PlanStep], list[PlanStep]]:
        needs_fk_off = any(self.registry.get(s.version).disable_foreign_keys for s in steps)
        done: list[PlanStep] = []
        skipped: list[PlanStep] = []
        durations: list[float] = []
        with self._foreign_keys_off(needs_fk_off):
            sq.begin_immediate(self.conn, busy_timeout=self.busy_timeout)
            step: PlanStep | None = None
            started_at, started = utc_now(), time.perf_counter()
            try:
                self.recorder.ensure_tables()
                self._check_expected()
                for index, step in enumerate(steps):
                    if self._already_done(step):
                        skipped.append(step)
                        continue
                    migration = self.registry.get(step.version)
                    self._emit(MigrationStarted(step.version, step.name, step.direction))
                    started_at, started = utc_now(), time.perf_counter()
                    last = index == len(steps) - 1
                    durations.append(
                        self._execute(step, migration, started_at, started, fingerprint=last)
                    )
                    done.append(step)
                self._commit()
            except ConcurrentChangeError:
                self._rollback()
                raise
            except BaseException as exc:
                if step is None:
                    self._rollback()
                    raise
                self._fail(step, exc, started_at, started, undone=done)
        for finished, duration in zip(done, durations, strict=True):
            self._emit(
                MigrationFinished(finished.version, finished.name, finished.direction, duration)
            )
        return done, skipped

    # -- one step -----------------------------------------------------------------------------

    def _check_expected(self) -> None:
        """Under the write lock of the first step: is the database where the plan was made?"""
        if self.expect_current is None:
            return
        check_expected_version(self.recorder.head()[0], self.expect_current)
        self.expect_current = None  # checked once, at the start; later steps re-check their own

    def _already_done(self, step: PlanStep) -> bool:
        """Re-read the applied set under the lock: skip what another runner did, refuse the rest."""
        top, applied = self.recorder.head_and_applied(step.version)
        if step.direction == "up":
            if applied:
                return True
            if top != step.version - 1:
                raise ConcurrentChangeError(
                    f"Cannot apply version {step.version}: the database is now at version {top} "
                    "(another runner changed it); nothing was changed, run the command again."
                )
            return False
        if not applied:
            return True
        if top != step.version:
            raise ConcurrentChangeError(
                f"Cannot undo version {step.version}: the database is now at version {top} "
                "(another runner changed it); nothing was changed, run the command again."
            )
        return False

    def _execute(
        self,
        step: PlanStep,
        migration: Migration,
        started_at: str,
        started: float,
        *,
        fingerprint: bool,
    ) -> float:
        """Run one step and its bookkeeping (no commit); returns the step's duration in ms."""
        func = migration.up if step.direction == "up" else migration.down
        if func is None:
            raise MigrationError(
                f"Migration {migration.label} is irreversible (no down); nothing was undone.",
                version=step.version,
                direction=step.direction,
            )
        with sq.transactions_forbidden(self.conn):
            func(self.tx)
        if not self.conn.in_transaction:
            raise _TransactionEnded()
        if migration.disable_foreign_keys:
            problems = sq.foreign_key_problems(self.conn)
            if problems:
                raise MigrationError(
                    f"Migration {migration.label} left broken foreign keys ({problems[0]}); "
                    "it was rolled back.",
                    version=step.version,
                    direction=step.direction,
                )
        duration_ms = (time.perf_counter() - started) * 1000
        # The schema's description costs a scan of the whole schema, so it is taken where a run
        # comes to rest; verify() compares the live schema with it and says what changed.
        described = _describe(self.conn) if fingerprint else None
        if step.direction == "up":
            entry = self.registry.file_of(step.version)
            self.recorder.record_applied(
                version=step.version,
                name=migration.name,
                description=migration.description,
                checksum=migration.checksum,
                source_key=entry.stat_key if entry else None,
                reversible=migration.reversible,
                fingerprint=described[0] if described else None,
                schema_facts=described[1] if described else None,
                applied_at=started_at,
                duration_ms=duration_ms,
            )
            new_version = step.version
        else:
            self.recorder.record_unapplied(step.version)
            new_version = step.version - 1
            if described and new_version > 0:
                self.recorder.fill_fingerprint(new_version, *described)
        sq.set_user_version(self.conn, new_version)
        self.recorder.append_history(
            version=step.version,
            name=migration.name,
            direction=step.direction,
            started_at=started_at,
            finished_at=utc_now(),
            duration_ms=duration_ms,
            success=True,
            error=None,
        )
        return duration_ms

    def _rollback(self) -> None:
        sq.rollback_if_open(self.conn)
        self.recorder.forget()

    def _commit(self) -> None:
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()
            raise

    def _fail(
        self,
        step: PlanStep,
        exc: BaseException,
        started_at: str,
        started: float,
        *,
        undone: Sequence[PlanStep] = (),
    ) -> None:
        """Roll back, record the failed attempt in its own transaction, raise one clear error."""
        self._rollback()
        duration_ms = (time.perf_counter() - started) * 1000
        version_now = self._version_now()
        cause = describe_failure(exc)
        verb = "apply" if step.direction == "up" else "undo"
        label = f"{step.version:04d}_{step.name}"
        rolled = ""
        if undone:
            rolled = f" The whole plan was rolled back ({len(undone)} earlier step(s) included)."
        message = (
            f"Could not {verb} migration {label}: {cause}. "
            f"The database is unchanged at version {version_now}.{rolled}"
        )
        if isinstance(exc, KeyboardInterrupt):
            message = f"Interrupted while trying to {verb} migration {label}; " + (
                f"the database is unchanged at version {version_now}."
            )
        self._record_failure(step, started_at, duration_ms, cause)
        self._emit(MigrationFailed(step.version, step.name, step.direction, message, duration_ms))
        if isinstance(exc, MigrationError) and exc.version == step.version:
            raise MigrationError(
                message, version=step.version, direction=step.direction, cause=exc.cause
            ) from exc
        raise MigrationError(
            message, version=step.version, direction=step.direction, cause=exc
        ) from exc

    def _record_failure(
        self, step: PlanStep, started_at: str, duration_ms: float, cause: str
    ) -> None:
        # Best effort: on a full disk or a read-only file the failure cannot be written, and the
        # operator still gets the error itself.
        try:
            sq.begin_immediate(self.conn, busy_timeout=self.busy_timeout)
            self.recorder.ensure_tables()
            self.recorder.append_history(
                version=step.version,
                name=step.name,
                direction=step.direction,
                started_at=started_at,
                finished_at=utc_now(),
                duration_ms=duration_ms,
                success=False,
                error=cause,
            )
            # The run stopped here: the version it reached gets its schema recorded, so verify
            # can still check for drift (it was applied mid-run, without a description).
            top = self.recorder.head()[0]
            if top > 0:
                self.recorder.fill_fingerprint(top, *_describe(self.conn))
            self.conn.execute("COMMIT")
        except (sqlite3.Error, MetamigrateError):
            self._rollback()

    @contextlib.contextmanager
    def _foreign_keys_off(self, needed: bool) -> Iterator[None]:
        """PRAGMA foreign_keys is a no-op inside a transaction, so it is switched around it."""
        if not needed:
            yield
            return
        was_on = bool(self.conn.execute("PRAGMA foreign_keys").fetchone()[0])
        self.conn.execute("PRAGMA foreign_keys = OFF")
        try:
            yield
        finally:
            if was_on:
                self.conn.execute("PRAGMA foreign_keys = ON")


def check_expected_version(current: int, expect_current: int | None) -> None:
    """Refuse a run whose plan was made (and shown) for another version than the current one."""
    if expect_current is not None and current != expect_current:
        raise ConcurrentChangeError(
            f"The database is now at version {current}, not {expect_current} as planned "
            "(another runner changed it); nothing was changed. Look at the new plan and "
            "confirm again."
        )


def _describe(conn: sqlite3.Connection) -> tuple[str, str]:
    """(fingerprint, encoded structural description) of the live application schema."""
    from engine.backends.base import fingerprint_of
    from engine.drift import encode

    facts = sq.schema_entries(conn)
    return fingerprint_of(facts), encode(facts)


def describe_failure(exc: BaseException) -> str:
    """The cause of a failed step, in words (no traceback)."""
    if isinstance(exc, _TransactionEnded):
        return (
            "the migration ended the engine's transaction (COMMIT/ROLLBACK inside up/down, "
            "or SQLite aborted it); migrations must not control transactions"
        )
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        if text == "not authorized":
            return (
                "the migration tried to BEGIN, COMMIT or ROLLBACK; migrations run inside the "
                "engine's transaction and must not control it"
            )
        name = getattr(exc, "sqlite_errorname", "")
        if name.startswith("SQLITE_FULL") or "database or disk is full" in text:
            return "disk full (SQLite rolled the step back); free space and retry"
        if name.startswith("SQLITE_BUSY") or "locked" in text:
            return f"the database is locked by another connection ({text})"
        return f"SQLite error: {text}"
    if isinstance(exc, MigrationError):
        return exc.message
    if isinstance(exc, MetamigrateError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
