"""Turning a plan into applied (or undone) migrations, one transaction each, or one for all.

Invariant: a step either commits together with its bookkeeping row, its history row and the
version marker, or leaves no trace but a failed history row. The applied set is re-read under the
migration lock (taken with the write transaction) before every step, so concurrent runners apply
each migration exactly once. The step itself is run by ``engine.steps.StepRunner``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.backends import as_backend
from engine.backends.base import Backend, ConnectOptions
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
from engine.settings import DEFAULT_BUSY_TIMEOUT
from engine.steps import (
    StepRunner,
    TransactionEnded,
    attempt_row,
    describe,
    describe_failure,
)

#: Older name of ``engine.steps.TransactionEnded``.
_TransactionEnded = TransactionEnded

__all__ = ["Executor", "check_expected_version", "describe_failure"]


@dataclass
class _StepOutcome:
    skipped: bool
    duration_ms: float


class _KnownApplied:
    """The applied set as read under the migration lock, kept up to date with this run's own
    committed steps: valid for as long as no other connection has committed since."""

    def __init__(self, versions: set[int], token: object = None) -> None:
        self.versions = versions
        self.top = max(versions, default=0)
        #: The backend's change token when the set was read (SQLite: ``PRAGMA data_version``).
        self.token = token

    def of(self, step: PlanStep) -> tuple[int, bool]:
        """(highest applied, is ``step``'s version applied): ``Executor._already_done``'s facts."""
        return self.top, step.version in self.versions

    def ran(self, step: PlanStep) -> None:
        """``step`` was applied or undone in this run's transaction."""
        if step.direction == "up":
            self.versions.add(step.version)
            self.top = step.version
            return
        self.versions.discard(step.version)
        below = step.version - 1
        self.top = below if below in self.versions or below == 0 else max(self.versions, default=0)


class Executor:
    """Runs plan steps on one backend, with events and history."""

    def __init__(
        self,
        conn: Backend | Any,
        registry: Registry,
        *,
        busy_timeout: float | None = None,
        on_event: EventHandler | None = None,
    ) -> None:
        """``conn``: a backend, or a raw connection to wrap (then ``busy_timeout`` applies)."""
        self.backend = as_backend(
            conn, ConnectOptions(busy_timeout=busy_timeout or DEFAULT_BUSY_TIMEOUT)
        )
        self.conn = self.backend.connection
        self.registry = registry
        self.busy_timeout = self.backend.options.busy_timeout
        self.on_event = on_event
        self.recorder = Recorder(self.backend)
        self.runner = StepRunner(self.backend, registry, self.recorder)
        self.tx = self.runner.tx
        self.expect_current: int | None = None
        #: Retries of a step that hit its lock_timeout (``--lock-retries``), with backoff.
        self.lock_retries = max(0, self.backend.options.lock_retries)
        self._unfinished_checked = False
        #: One transaction per step on a backend whose change token is cheap: the applied set as
        #: this run last knew it under the lock (None: read it under the next step's lock).
        self._known: _KnownApplied | None = None
        #: Set once a step has committed, or when migration code ended the engine's transaction
        #: (then part of it may be committed): from then on the run cannot be said to have
        #: changed nothing (its backup is kept).
        self.may_have_changed = False
        #: Where the database is, to read the version afresh if migration code closes ours.
        self._location = self.backend.location

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
        self._unfinished_checked = False
        self._known = None
        self._emit(
            RunStarted(direction, from_version, target, tuple((s.version, s.name) for s in steps))
        )
        done: list[PlanStep] = []
        skipped: list[PlanStep] = []
        try:
            if atomic:
                self._refuse_outside_transaction_in_atomic(steps)
                done, skipped = self._run_atomic(steps)
            else:
                for index, step in enumerate(steps):
                    outcome = self._run_with_retries(step, last=index == len(steps) - 1)
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
        """The highest version the bookkeeping records now (-1: it cannot be read)."""
        with contextlib.suppress(*self.backend.driver_errors):
            return self.recorder.head()[0]
        if self.backend.path is not None:
            # Migration code closed the connection: ask the file through a fresh one.
            from engine.backends import open_backend

            with contextlib.suppress(MetamigrateError, *self.backend.driver_errors):
                fresh = open_backend(self._location, ConnectOptions(read_only=True, create=False))
                try:
                    return Recorder(fresh).head()[0]
                finally:
                    fresh.close()
        return -1

    def _run_with_retries(self, step: PlanStep, *, last: bool) -> _StepOutcome:
        """One step; one that failed on its lock_timeout is retried ``lock_retries`` times, after
        0.5 s, 1 s, 2 s, ... (each attempt has its own history row)."""
        attempt = 0
        while True:
            try:
                if not self.registry.get(step.version).transaction:
                    return self._run_outside_transaction(step, last=last)
                return self._run_own_transaction(step, last=last)
            except MigrationError as exc:
                if attempt >= self.lock_retries or not self._hit_lock_timeout(exc):
                    raise
                time.sleep(min(0.5 * 2**attempt, 30.0))
                attempt += 1

    def _hit_lock_timeout(self, exc: MigrationError) -> bool:
        from engine.backends.base import error_kind_of

        cause = exc.cause
        return (
            cause is not None
            and isinstance(cause, self.backend.driver_errors)
            and (error_kind_of(self.backend, cause) == "locked")
        )

    def _refuse_outside_transaction_in_atomic(self, steps: Sequence[PlanStep]) -> None:
        outside = [s for s in steps if not self.registry.get(s.version).transaction]
        if outside:
            names = ", ".join(f"{s.version:04d}_{s.name}" for s in outside)
            raise MigrationError(
                f"Migration(s) {names} set TRANSACTION = False and cannot run inside --atomic's "
                "single transaction; nothing was changed. Migrate without --atomic.",
                version=outside[0].version,
                direction=outside[0].direction,
            )

    def _refuse_unfinished(self) -> None:
        """Under the migration lock: an attempt that died outside a transaction blocks the run
        until an operator has looked (repair clears it)."""
        from engine.unfinished import describe

        entries = self.recorder.all_unfinished()
        if entries:
            raise MigrationError(
                describe(entries[0]) + " Nothing was run.",
                version=entries[0].version,
                direction="up" if entries[0].direction == "up" else "down",
            )

    def _run_outside_transaction(self, step: PlanStep, *, last: bool) -> _StepOutcome:
        """A ``TRANSACTION = False`` step: under the session-level migration lock, an in-progress
        history row is committed, the step runs in autocommit, then its bookkeeping commits (and
        the history row is finished). Dying in between leaves the row in progress: reported."""
        migration = self.registry.get(step.version)
        backend = self.backend
        self._known = None
        with backend.outside_transaction():
            backend.begin_write()
            try:
                self.recorder.ensure_tables()
                self._check_expected()
                self._refuse_unfinished()
                if self._already_done(step):
                    self._rollback()
                    self._emit(MigrationSkipped(step.version, step.name, step.direction))
                    return _StepOutcome(skipped=True, duration_ms=0.0)
                started_at = utc_now()
                attempt = self.recorder.begin_attempt(
                    version=step.version,
                    name=migration.name,
                    direction=step.direction,
                    started_at=started_at,
                )
                self._commit()
                self._emit(MigrationStarted(step.version, step.name, step.direction))
            except BaseException:
                self._rollback()
                raise
            started = time.perf_counter()
            try:
                self.runner.transaction_started()
                # Outside a transaction each statement takes effect at once: from here on the
                # run has changed the database, whatever happens next.
                self.may_have_changed = True
                self.runner.run_outside_transaction(step, migration)
                duration = (time.perf_counter() - started) * 1000
                backend.begin_write()
                self.runner.record(
                    step, migration, started_at, duration, fingerprint=last, attempt=attempt
                )
                self._commit()
            except BaseException as exc:
                self._fail(step, exc, started_at, started, attempt=attempt)
        self._emit(MigrationFinished(step.version, step.name, step.direction, duration))
        return _StepOutcome(skipped=False, duration_ms=duration)

    def _run_own_transaction(self, step: PlanStep, *, last: bool) -> _StepOutcome:
        migration = self.registry.get(step.version)
        dialect = self.backend.capabilities.name
        with self.backend.foreign_keys_disabled(migration.disables_foreign_keys(dialect)):
            self.backend.begin_write()
            self.runner.transaction_started()
            try:
                self.recorder.ensure_tables()
                if not self._unfinished_checked:
                    # Once per run, under the lock (a step of its own re-checks it).
                    self._refuse_unfinished()
                    self._unfinished_checked = True
                self._check_expected()
                if self._already_done(step, self._known_under_lock(step)):
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
                self.may_have_changed = True
                if self._known is not None:
                    self._known.ran(step)
            except BaseException as exc:
                self._fail(step, exc, started_at, started)
        # The same duration as the bookkeeping row: the migration's own work, without the commit.
        self._emit(MigrationFinished(step.version, step.name, step.direction, duration))
        return _StepOutcome(skipped=False, duration_ms=duration)

    def _run_atomic(self, steps: Sequence[PlanStep]) -> tuple[list[PlanStep], list[PlanStep]]:
        dialect = self.backend.capabilities.name
        needs_fk_off = any(
            self.registry.get(s.version).disables_foreign_keys(dialect) for s in steps
        )
        done: list[PlanStep] = []
        skipped: list[PlanStep] = []
        durations: list[float] = []
        with self.backend.foreign_keys_disabled(needs_fk_off):
            self.backend.begin_write()
            step: PlanStep | None = None
            started_at, started = utc_now(), time.perf_counter()
            try:
                self.recorder.ensure_tables()
                self._refuse_unfinished()
                self._check_expected()
                self.runner.transaction_started()
                # One transaction holds the lock for the whole plan: the applied set is read once
                # and kept up to date here, and the bookkeeping is written after the last step.
                known = _KnownApplied(self.recorder.applied_set())
                self.runner.defer_bookkeeping()
                for index, step in enumerate(steps):
                    if self._already_done(step, known.of(step)):
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
                    known.ran(step)
                self.runner.flush_bookkeeping()
                self._commit()
                self.may_have_changed = bool(done)
            except ConcurrentChangeError:
                self.runner.discard_bookkeeping()
                self._rollback()
                raise
            except BaseException as exc:
                self.runner.discard_bookkeeping()
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

    def _known_under_lock(self, step: PlanStep) -> tuple[int, bool] | None:
        """(highest applied, is ``step``'s version applied) without reading the bookkeeping,
        when the backend's change token (read now, under the lock) says no other connection
        has committed since this run last read or wrote it; None: read it (``_already_done``).

        SQLite's ``PRAGMA data_version`` changes only when another connection commits, so an
        unchanged value means the applied set is what this run's own commits left: a runner
        that applied anything in between changed it, and the set is read again. On the first
        step the whole set is read once instead of the step's two lookups."""
        if not self.backend.capabilities.change_polling:
            return None
        token = self.backend.change_token()
        known = self._known
        if known is None or known.token != token:
            known = self._known = _KnownApplied(self.recorder.applied_set(), token)
        return known.of(step)

    def _already_done(self, step: PlanStep, known: tuple[int, bool] | None = None) -> bool:
        """Re-read the applied set under the lock: skip what another runner did, refuse the rest.
        ``known``: (highest applied, is this step's version applied) as this run's own
        transaction has them, instead of a read."""
        top, applied = known if known is not None else self.recorder.head_and_applied(step.version)
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
        result = self.runner.run(
            step, migration, started_at=started_at, started=started, fingerprint=fingerprint
        )
        return result.duration_ms

    def _rollback(self) -> None:
        self.backend.rollback()
        self.recorder.forget()

    def _commit(self) -> None:
        try:
            self.backend.commit()
        except self.backend.driver_errors:
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
        attempt: int | None = None,
    ) -> None:
        """Roll back, record the failed attempt in its own transaction, raise one clear error."""
        self._rollback()
        duration_ms = (time.perf_counter() - started) * 1000
        cause = describe_failure(exc, self.backend)
        self._reconnect_if_lost()
        version_now = self._version_now()
        verb = "apply" if step.direction == "up" else "undo"
        label = f"{step.version:04d}_{step.name}"
        rolled = ""
        if undone:
            rolled = f" The whole plan was rolled back ({len(undone)} earlier step(s) included)."
        message = (
            f"Could not {verb} migration {label}: {cause}. "
            f"The database is unchanged at version {version_now}.{rolled}"
        )
        if attempt is not None:
            message = (
                f"Could not {verb} migration {label}: {cause}. It ran outside a transaction, so "
                "part of it may have taken effect (an invalid index?): inspect the database "
                f"before retrying. The database is at version {version_now}."
            )
        if isinstance(exc, TransactionEnded) and not exc.known_unchanged:
            # Never "unchanged": what the code did before it ended the transaction may be in the
            # database. Say what the bookkeeping says, and what to do.
            self.may_have_changed = True
            recorded = (
                f"the bookkeeping says version {version_now}"
                if version_now >= 0
                else "the bookkeeping cannot be read now"
            )
            message = (
                f"Could not {verb} migration {label}: {cause}. Part of it may have been committed: "
                f"{recorded}, but the database may hold some of its changes. Run metamigrate "
                "verify, then repair by hand or restore the backup taken before this run."
            )
        elif isinstance(exc, KeyboardInterrupt):
            message = f"Interrupted while trying to {verb} migration {label}; " + (
                f"the database is unchanged at version {version_now}."
            )
        self._record_failure(step, started_at, duration_ms, cause, attempt=attempt)
        self._emit(MigrationFailed(step.version, step.name, step.direction, message, duration_ms))
        if isinstance(exc, MigrationError) and exc.version == step.version:
            raise MigrationError(
                message, version=step.version, direction=step.direction, cause=exc.cause
            ) from exc
        raise MigrationError(
            message, version=step.version, direction=step.direction, cause=exc
        ) from exc

    def _reconnect_if_lost(self) -> None:
        """The server dropped the connection (it rolled the step back): a new connection, so the
        failure can still be recorded and the version reported (servers only)."""
        reconnect = getattr(self.backend, "reconnect", None)
        if reconnect is None:
            return
        try:
            reconnect()
        except MetamigrateError:
            return
        self.recorder.forget()

    def _record_failure(
        self,
        step: PlanStep,
        started_at: str,
        duration_ms: float,
        cause: str,
        *,
        attempt: int | None = None,
    ) -> None:
        # Best effort: on a full disk or a read-only file the failure cannot be written, and the
        # operator still gets the error itself.
        try:
            self.backend.begin_write()
            self.recorder.ensure_tables()
            if attempt is not None:
                self.recorder.finish_attempt(
                    attempt, duration_ms=duration_ms, success=False, error=cause
                )
                self.backend.commit()
                return
            self.recorder.append_history(
                **attempt_row(step, step.name, started_at, duration_ms, error=cause)
            )
            # The run stopped here: the version it reached gets its schema recorded, so verify
            # can still check for drift (it was applied mid-run, without a description).
            top = self.recorder.head()[0]
            if top > 0:
                self.recorder.fill_fingerprint(top, *describe(self.backend))
            self.backend.commit()
        except MetamigrateError:
            self._rollback()
        except self.backend.driver_errors:
            self._rollback()


def check_expected_version(current: int, expect_current: int | None) -> None:
    """Refuse a run whose plan was made (and shown) for another version than the current one."""
    if expect_current is not None and current != expect_current:
        raise ConcurrentChangeError(
            f"The database is now at version {current}, not {expect_current} as planned "
            "(another runner changed it); nothing was changed. Look at the new plan and "
            "confirm again."
        )
