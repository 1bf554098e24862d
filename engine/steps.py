"""Applying one migration step: the one place that runs an up or down and writes its bookkeeping.

The executor (one transaction per step, or one for all with ``--atomic``), the rehearsal and the
rollback impact (the same steps in a transaction that is rolled back) all call ``StepRunner.run``.

Invariant: the caller holds the write transaction; ``run`` either returns with the step's effects
and its bookkeeping (the ``schema_migrations`` row, the version marker, a history row) in that
transaction, or raises and leaves the caller to roll back. Migration code cannot end the
transaction: the backend refuses transaction control while it runs, and a transaction that ended
anyway (the database aborted it) is detected before anything is recorded.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from engine.backends.base import Backend, TraceCallback, TransactionEnded, fingerprint_of
from engine.errors import MetamigrateError, MigrationError
from engine.migration import Migration, MigrationFunc, Registry
from engine.models import PlanStep
from engine.recorder import Recorder, utc_now
from engine.tx import Tx


@dataclass(frozen=True)
class StepResult:
    #: The migration's own work in ms (without the bookkeeping or the commit).
    duration_ms: float
    #: Rows the migration inserted, updated or deleted (bookkeeping excluded).
    rows_changed: int


class StepRunner:
    """Runs plan steps inside the caller's open write transaction on one backend."""

    def __init__(self, backend: Backend, registry: Registry, recorder: Recorder) -> None:
        self.backend = backend
        self.registry = registry
        self.recorder = recorder
        self.tx = Tx(backend)
        #: A migration's own LOCK_TIMEOUT/STATEMENT_TIMEOUT is in force (in the open transaction,
        #: or the session's outside one); a new transaction starts with the run's defaults.
        self._own_timeouts = False
        #: Between ``defer_bookkeeping`` and ``flush_bookkeeping``: the rows of the steps run.
        self._pending: _Bookkeeping | None = None

    def transaction_started(self) -> None:
        """The caller opened a new transaction: the run's default timeouts are in force."""
        self._own_timeouts = False

    def apply_timeouts(self, migration: Migration) -> None:
        """A migration's ``LOCK_TIMEOUT`` / ``STATEMENT_TIMEOUT`` (servers), and back to the run's
        defaults for the next migration of the same transaction. ``run`` calls it, so a real run,
        a rehearsal and the rollback impact wait for locks alike."""
        wanted = migration.lock_timeout is not None or migration.statement_timeout is not None
        setter = getattr(self.backend, "set_step_timeouts", None)
        if setter is None or not (wanted or self._own_timeouts):
            return
        setter(migration.lock_timeout, migration.statement_timeout)
        self._own_timeouts = wanted

    def defer_bookkeeping(self) -> None:
        """From now on ``record`` keeps the steps' rows, and ``flush_bookkeeping`` writes them all
        at once, still inside the same transaction (``--atomic``: one transaction for the plan).

        Every statement prepared before a DDL statement is prepared again after it, so three
        bookkeeping statements per step cost more than the step's own DDL does; written
        together they are three statements for the whole plan. Nothing outside the transaction
        can tell: it commits all of them or none."""
        self._pending = _Bookkeeping()

    def flush_bookkeeping(self) -> None:
        """Write what ``defer_bookkeeping`` kept (no commit); record each step at once again."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._write(pending)

    def discard_bookkeeping(self) -> None:
        """The transaction was rolled back: forget what was kept."""
        self._pending = None

    def run(
        self,
        step: PlanStep,
        migration: Migration,
        *,
        started_at: str | None = None,
        started: float | None = None,
        fingerprint: bool = False,
        trace: TraceCallback | None = None,
    ) -> StepResult:
        """Run ``step`` and write its bookkeeping (no commit). ``fingerprint`` records the schema
        fingerprint (a scan of the whole schema: taken where a run comes to rest); ``trace``
        sees every statement the migration itself runs."""
        backend = self.backend
        started_at = started_at or utc_now()
        started = time.perf_counter() if started is None else started
        func = _function_of(step, migration)
        self.apply_timeouts(migration)
        rows_before = backend.rows_changed()
        tracing = backend.trace(trace) if trace is not None else contextlib.nullcontext()
        # The guard outside the trace: its own statements are not the migration's SQL.
        with backend.transaction_control_forbidden(), tracing:
            func(self.tx)
        rows = backend.rows_changed() - rows_before
        if not backend.in_transaction:
            raise TransactionEnded()  # the database aborted it (the guard was in place)
        if migration.disables_foreign_keys(backend.capabilities.name):
            problems = backend.foreign_key_problems()
            if problems:
                raise MigrationError(
                    f"Migration {migration.label} left broken foreign keys ({problems[0]}); "
                    "it was rolled back.",
                    version=step.version,
                    direction=step.direction,
                )
        duration_ms = (time.perf_counter() - started) * 1000
        self.record(step, migration, started_at, duration_ms, fingerprint=fingerprint)
        return StepResult(duration_ms, rows)

    def run_outside_transaction(self, step: PlanStep, migration: Migration) -> None:
        """Run a ``TRANSACTION = False`` step's up or down in autocommit (the caller holds the
        session-level migration lock and has committed the attempt's history row); the caller
        records the result with ``record(..., attempt=...)`` in a transaction afterwards."""
        func = _function_of(step, migration)
        self.apply_timeouts(migration)
        with self.backend.transaction_control_forbidden():
            func(self.tx)

    def record(
        self,
        step: PlanStep,
        migration: Migration,
        started_at: str,
        duration_ms: float,
        *,
        fingerprint: bool,
        attempt: int | None = None,
    ) -> None:
        """Write the bookkeeping of a step that succeeded (inside the caller's transaction);
        ``attempt``: the in-progress history row of a non-transactional step, now finished."""
        kept = self._pending
        rows = kept if kept is not None else _Bookkeeping()
        # The schema's description costs a scan of the whole schema, so it is taken where a run
        # comes to rest; verify() compares the live schema with it and says what changed.
        described = describe(self.backend) if fingerprint else None
        if step.direction == "up":
            entry = self.registry.file_of(step.version)
            rows.applied.append(
                {
                    "version": step.version,
                    "name": migration.name,
                    "description": migration.description,
                    "checksum": migration.checksum,
                    "source_key": entry.stat_key if entry else None,
                    "reversible": migration.reversible,
                    "fingerprint": described[0] if described else None,
                    "schema_facts": described[1] if described else None,
                    "applied_at": started_at,
                    "duration_ms": duration_ms,
                }
            )
            rows.marker = step.version
        else:
            rows.unapplied.append(step.version)
            rows.marker = step.version - 1
            if described and rows.marker > 0:
                rows.fingerprint = (rows.marker, *described)
        if attempt is not None:
            self._write(rows)
            self.recorder.finish_attempt(attempt, duration_ms=duration_ms, success=True, error=None)
            return
        rows.history.append(attempt_row(step, migration.name, started_at, duration_ms, error=None))
        if kept is None:
            self._write(rows)

    def _write(self, rows: _Bookkeeping) -> None:
        """The bookkeeping statements, in the order a single step has always written them."""
        recorder = self.recorder
        recorder.record_applied_many(rows.applied)
        recorder.record_unapplied_many(rows.unapplied)
        if rows.fingerprint is not None:
            recorder.fill_fingerprint(*rows.fingerprint)
        if rows.marker is not None:
            self.backend.write_version_marker(rows.marker)
        recorder.append_history_many(rows.history)


class _Bookkeeping:
    """The rows of the steps run since ``StepRunner.defer_bookkeeping``, in run order."""

    def __init__(self) -> None:
        #: ``Recorder.record_applied`` / ``append_history`` keyword arguments, one per step.
        self.applied: list[dict[str, Any]] = []
        self.unapplied: list[int] = []
        self.history: list[dict[str, Any]] = []
        #: The version marker after the last step (None: no step yet).
        self.marker: int | None = None
        #: (version, fingerprint, description) to fill in where a rollback came to rest.
        self.fingerprint: tuple[int, str, str] | None = None


def _function_of(step: PlanStep, migration: Migration) -> MigrationFunc:
    """The up or down the step runs (an irreversible migration has no down: refused)."""
    func = migration.up if step.direction == "up" else migration.down
    if func is None:
        raise MigrationError(
            f"Migration {migration.label} is irreversible (no down); nothing was undone.",
            version=step.version,
            direction=step.direction,
        )
    return func


def attempt_row(
    step: PlanStep, name: str, started_at: str, duration_ms: float, *, error: str | None
) -> dict[str, Any]:
    """``Recorder.append_history`` arguments for an attempt of ``step`` that ends now (``error``
    None: it succeeded)."""
    return {
        "version": step.version,
        "name": name,
        "direction": step.direction,
        "started_at": started_at,
        "finished_at": utc_now(),
        "duration_ms": duration_ms,
        "success": error is None,
        "error": error,
    }


def describe(backend: Backend) -> tuple[str, str]:
    """(fingerprint, encoded structural description) of the live application schema."""
    from engine.drift import encode

    facts = backend.describe_schema().facts
    return fingerprint_of(facts), encode(facts)


def describe_failure(exc: BaseException, backend: Backend | None = None) -> str:
    """The cause of a failed step, in words (no traceback): the one wording of step failures."""
    if isinstance(exc, TransactionEnded):
        if exc.closed:
            return (
                "the migration closed the engine's database connection; migrations must not "
                "close it"
            )
        if exc.guard_removed:
            return (
                "the migration removed the engine's transaction guard and ended its transaction "
                "(COMMIT/ROLLBACK inside up/down); migrations must not control transactions"
            )
        return (
            "the migration's transaction ended (the database aborted it and rolled the step "
            "back by itself); migrations must not control transactions"
        )
    if isinstance(exc, SystemExit):
        return f"the migration called sys.exit({exc.code!r})"
    if isinstance(exc, MetamigrateError):
        return exc.message
    if backend is not None and isinstance(exc, backend.driver_errors):
        return backend.describe_step_error(exc)
    if type(exc).__module__ == "sqlite3":
        # No backend at hand (an old caller of executor.describe_failure): SQLite's words.
        from engine.backends import module_for

        phrase: str = module_for("sqlite").describe_step_error(exc)
        return phrase
    return f"{type(exc).__name__}: {exc}"
