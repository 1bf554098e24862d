"""Rehearsals: run the real plan, report what each step did, keep nothing.

Invariant: a rehearsal never changes the database file. It runs the plan inside one write
transaction that is always rolled back, or, when that cannot work, on a throw-away copy:
``PRAGMA foreign_keys`` cannot change inside a transaction, so a plan with a step that needs foreign
keys off (table rebuilds) on a connection that has them on, and a read-only database, are
rehearsed on a copy in a temporary folder that is deleted afterwards.

The rollback impact preview is a rehearsal of the downs that also compares the tables and columns
before and after, and counts the rows that would go with them.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from engine import sqlite as sq
from engine.errors import InvalidTargetError, MigrationError, ReadOnlyDatabaseError
from engine.executor import _TransactionEnded, describe_failure
from engine.migration import Migration
from engine.models import Direction, PlanStep
from engine.recorder import Recorder, utc_now
from engine.tx import Tx

if TYPE_CHECKING:
    from engine.manager import MigrationManager

StepState = Literal["ok", "failed", "not_run"]
Mode = Literal["transaction", "copy"]


@dataclass(frozen=True)
class RehearsedStep:
    """One step of a rehearsal: the SQL it ran, its time, the rows it changed, its error if any."""

    direction: Direction
    version: int
    name: str
    #: "ok", "failed" (``error`` says why), or "not_run" (an earlier step failed).
    status: StepState
    sql: tuple[str, ...] = ()
    duration_ms: float = 0.0
    #: Rows inserted, updated or deleted (``Connection.total_changes``; DDL is not counted).
    rows_changed: int = 0
    error: str | None = None

    @property
    def would_fail(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict[str, object]:
        return {
            "direction": self.direction,
            "version": self.version,
            "name": self.name,
            "status": self.status,
            "sql": list(self.sql),
            "duration_ms": round(self.duration_ms, 3),
            "rows_changed": self.rows_changed,
            "error": self.error,
        }


@dataclass(frozen=True)
class RehearsalReport:
    """The outcome of ``MigrationManager.rehearse``: nothing of it was kept."""

    direction: Direction
    from_version: int
    target_version: int
    #: "transaction" (on the database, rolled back) or "copy" (on a throw-away copy).
    mode: Mode
    steps: tuple[RehearsedStep, ...] = ()

    @property
    def ok(self) -> bool:
        return all(step.status == "ok" for step in self.steps)

    @property
    def nothing_to_do(self) -> bool:
        return not self.steps

    @property
    def failed_step(self) -> RehearsedStep | None:
        return next((step for step in self.steps if step.status == "failed"), None)

    @property
    def duration_ms(self) -> float:
        return sum(step.duration_ms for step in self.steps)

    def to_dict(self) -> dict[str, object]:
        return {
            "direction": self.direction,
            "from_version": self.from_version,
            "target_version": self.target_version,
            "mode": self.mode,
            "ok": self.ok,
            "steps": [step.to_dict() for step in self.steps],
        }


@dataclass(frozen=True)
class DroppedTable:
    name: str
    rows: int

    def describe(self) -> str:
        return f"drops table {self.name}, {_rows(self.rows)}"


@dataclass(frozen=True)
class DroppedColumn:
    table: str
    column: str
    #: Rows whose value in this column is not NULL (the data that goes with it).
    rows: int

    def describe(self) -> str:
        return f"drops column {self.table}.{self.column}, {_rows(self.rows)} with a value"


@dataclass(frozen=True)
class DeletedRows:
    table: str
    rows: int

    def describe(self) -> str:
        return f"deletes {_rows(self.rows)} from {self.table}"


@dataclass(frozen=True)
class RollbackImpact:
    """What a rollback to ``target_version`` would destroy, measured by rehearsing its downs.

    ``dropped_tables``, ``dropped_columns`` and ``deleted_rows`` compare the application schema and
    row counts before and after the downs (the engine's bookkeeping excluded). ``rows_lost`` adds
    them up; a rollback with ``loses_data`` must be confirmed by typing, even with ``--yes``.
    When the rehearsal fails, ``would_fail`` is set and ``error`` says why (nothing is measured).
    """

    from_version: int
    target_version: int
    steps: tuple[PlanStep, ...] = ()
    dropped_tables: tuple[DroppedTable, ...] = ()
    dropped_columns: tuple[DroppedColumn, ...] = ()
    deleted_rows: tuple[DeletedRows, ...] = ()
    rehearsal: RehearsalReport | None = field(default=None, repr=False)

    @property
    def rows_lost(self) -> int:
        return (
            sum(t.rows for t in self.dropped_tables)
            + sum(c.rows for c in self.dropped_columns)
            + sum(d.rows for d in self.deleted_rows)
        )

    @property
    def loses_data(self) -> bool:
        return self.rows_lost > 0

    @property
    def would_fail(self) -> bool:
        return self.rehearsal is not None and not self.rehearsal.ok

    @property
    def error(self) -> str | None:
        failed = self.rehearsal.failed_step if self.rehearsal else None
        return failed.error if failed else None

    @property
    def changes(self) -> list[str]:
        """One phrase per loss, e.g. "drops table user_preferences, 1,204 rows"."""
        items: list[DroppedTable | DroppedColumn | DeletedRows] = [
            *self.dropped_tables,
            *self.dropped_columns,
            *self.deleted_rows,
        ]
        return [item.describe() for item in items]

    def summary(self) -> str:
        """One sentence for a confirmation dialog."""
        if not self.steps:
            return f"Nothing to undo: the database is already at version {self.target_version}."
        if self.would_fail:
            return f"This rollback would fail: {self.error}"
        items: list[DroppedTable | DroppedColumn | DeletedRows] = [
            *self.dropped_tables,
            *self.dropped_columns,
            *self.deleted_rows,
        ]
        losses = [item.describe() for item in items if item.rows]
        empty = [item for item in items if not item.rows]
        # Losses first, with their rows; empty drops are named when few, counted when many.
        if len(empty) <= 3:
            quiet = [f"{item.describe().split(',')[0]} (empty)" for item in empty]
        else:
            quiet = [f"drops {len(empty)} empty tables or columns"]
        if not losses:
            if quiet:
                return f"This rollback loses no data: it {'; '.join(quiet)}."
            return "This rollback drops no tables or columns that hold data."
        also = f"; it also {'; '.join(quiet)}" if quiet else ""
        return f"This rollback {'; '.join(losses)} ({_rows(self.rows_lost)} in all){also}."

    def to_dict(self) -> dict[str, object]:
        return {
            "from_version": self.from_version,
            "target_version": self.target_version,
            "steps": [step.to_dict() for step in self.steps],
            "dropped_tables": [{"table": t.name, "rows": t.rows} for t in self.dropped_tables],
            "dropped_columns": [
                {"table": c.table, "column": c.column, "rows": c.rows} for c in self.dropped_columns
            ],
            "deleted_rows": [{"table": d.table, "rows": d.rows} for d in self.deleted_rows],
            "rows_lost": self.rows_lost,
            "loses_data": self.loses_data,
            "would_fail": self.would_fail,
            "error": self.error,
            "changes": self.changes,
            "summary": self.summary(),
        }


def _rows(count: int) -> str:
    return f"{count:,} row{'s' if count != 1 else ''}"


# -- running ----------------------------------------------------------------------------------


@dataclass
class _Shape:
    columns: dict[str, int]  # column -> rows with a non-NULL value
    rows: int


Snapshot = dict[str, _Shape]


def rehearse(manager: MigrationManager, target: int | None = None) -> RehearsalReport:
    """Rehearse ``migrate_to(target)`` or ``rollback(target)`` (whichever the target means)."""
    report, _before, _after = _rehearse(manager, target, direction=None, measure=False)
    return report


def rollback_impact(manager: MigrationManager, target: int) -> RollbackImpact:
    """Rehearse ``rollback(target)`` and compare tables, columns and row counts before and after."""
    report, before, after = _rehearse(manager, target, direction="down", measure=True)
    steps = tuple(PlanStep("down", s.version, s.name) for s in report.steps)
    if not report.steps or not report.ok or before is None or after is None:
        return RollbackImpact(report.from_version, report.target_version, steps, rehearsal=report)
    dropped_tables = tuple(
        DroppedTable(name, shape.rows)
        for name, shape in sorted(before.items())
        if name not in after
    )
    dropped_columns: list[DroppedColumn] = []
    deleted: list[DeletedRows] = []
    for name, shape in sorted(before.items()):
        later = after.get(name)
        if later is None:
            continue
        for column, values in shape.columns.items():
            if column not in later.columns:
                dropped_columns.append(DroppedColumn(name, column, values))
        if later.rows < shape.rows:
            deleted.append(DeletedRows(name, shape.rows - later.rows))
    return RollbackImpact(
        report.from_version,
        report.target_version,
        steps,
        dropped_tables,
        tuple(dropped_columns),
        tuple(deleted),
        report,
    )


def _rehearse(
    manager: MigrationManager,
    target: int | None,
    *,
    direction: Direction | None,
    measure: bool,
) -> tuple[RehearsalReport, Snapshot | None, Snapshot | None]:
    wanted = manager._check_target(target)
    with manager.connection() as conn:
        applied = manager._applied(conn)
        current = max(applied, default=0)
        planned, steps = manager._plan(
            applied, wanted, lambda v: manager.registry.get(v).reversible
        )
        if direction == "down" and steps and planned == "up":
            raise InvalidTargetError(
                f"Version {wanted} is above the current version {current}; there is nothing to "
                "roll back."
            )
        if planned == "down":
            manager._refuse_irreversible(steps)
        migrations = [manager.registry.get(step.version) for step in steps]
        if not steps:
            return RehearsalReport(planned, current, wanted, "transaction"), None, None
        foreign_keys_on = bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])
        needs_copy = (
            manager.read_only
            or (foreign_keys_on and any(m.disable_foreign_keys for m in migrations))
            or str(manager.db_path) == ":memory:"
        )
        if not needs_copy:
            try:
                sq.begin_immediate(conn, busy_timeout=manager.busy_timeout)
            except ReadOnlyDatabaseError:
                needs_copy = True  # a file this process cannot write: rehearse on a copy
        if needs_copy:
            with _throwaway_copy(conn, foreign_keys_on) as copy:
                return _run(copy, steps, migrations, planned, current, wanted, "copy", measure)
        try:
            return _run(conn, steps, migrations, planned, current, wanted, "transaction", measure)
        finally:
            sq.rollback_if_open(conn)


@contextlib.contextmanager
def _throwaway_copy(source: sqlite3.Connection, foreign_keys: bool) -> Iterator[sqlite3.Connection]:
    folder = Path(tempfile.mkdtemp(prefix="metamigrate-rehearsal-"))
    try:
        copy = sqlite3.connect(folder / "rehearsal.db", isolation_level=None)
        try:
            try:
                source.backup(copy)
            except sqlite3.Error as exc:
                raise sq.translate_error(exc, sq.database_path(source), action="copy") from exc
            copy.execute("PRAGMA journal_mode = MEMORY").fetchone()
            copy.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            copy.execute("BEGIN IMMEDIATE")
            try:
                yield copy
            finally:
                sq.rollback_if_open(copy)
        finally:
            copy.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(
    conn: sqlite3.Connection,
    steps: Sequence[PlanStep],
    migrations: Sequence[Migration],
    direction: Direction,
    current: int,
    target: int,
    mode: Mode,
    measure: bool,
) -> tuple[RehearsalReport, Snapshot | None, Snapshot | None]:
    """Run every step inside the one open transaction on ``conn``; the caller rolls it back.

    On a copy, a step that needs foreign keys off gets them: the copy's transaction is committed
    around the switch (the copy is thrown away, so nothing is kept anyway).
    """
    before = _snapshot(conn) if measure else None
    # One recorder for the run: it remembers that the bookkeeping tables exist instead of
    # scanning sqlite_master for them at every step.
    recorder = Recorder(conn)
    results: list[RehearsedStep] = []
    failed = False
    for step, migration in zip(steps, migrations, strict=True):
        if failed:
            results.append(RehearsedStep(step.direction, step.version, step.name, "not_run"))
            continue
        if mode == "copy" and migration.disable_foreign_keys:
            conn.execute("COMMIT")
            on = bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute("BEGIN IMMEDIATE")
            result = _run_step(conn, recorder, step, migration)
            if conn.in_transaction:
                conn.execute("COMMIT")
            if on:
                conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN IMMEDIATE")
        else:
            result = _run_step(conn, recorder, step, migration)
        results.append(result)
        failed = result.status == "failed" or not conn.in_transaction
    after = _snapshot(conn) if measure and not failed else None
    return RehearsalReport(direction, current, target, mode, tuple(results)), before, after


class _SqlLog:
    """The statements a step ran, as the trace callback sees them, kept readable and small.

    Repeats of one statement shape (an ``executemany``: the same SQL with other values) become one
    line with a count, each statement is clipped, and only the first ``limit`` lines are kept.
    """

    _LITERAL = re.compile(r"'(?:[^']|'')*'|\bx'[0-9a-fA-F]*'|\b\d+(?:\.\d+)?\b")

    def __init__(self, limit: int = 200, width: int = 500) -> None:
        self.limit = limit
        self.width = width
        self.lines: list[str] = []
        self.dropped = 0
        self._shape: str | None = None
        self._first = ""
        self._count = 0

    def __call__(self, sql: str) -> None:
        shape = self._LITERAL.sub("?", sql)
        if shape == self._shape:
            self._count += 1
            return
        self._flush()
        self._shape, self._first, self._count = shape, sql, 1

    def _flush(self) -> None:
        if self._shape is None:
            return
        if self._count == 1:
            line = self._clip(self._first)
        else:
            line = f"{self._clip(self._shape)}  -- x{self._count:,}"
        if len(self.lines) < self.limit:
            self.lines.append(line)
        else:
            self.dropped += 1
        self._shape = None

    def _clip(self, sql: str) -> str:
        return sql if len(sql) <= self.width else sql[: self.width] + " ..."

    def result(self) -> tuple[str, ...]:
        self._flush()
        if self.dropped:
            return (*self.lines, f"-- ... and {self.dropped:,} more statement(s)")
        return tuple(self.lines)


def _run_step(
    conn: sqlite3.Connection, recorder: Recorder, step: PlanStep, migration: Migration
) -> RehearsedStep:
    statements = _SqlLog()
    changes = conn.total_changes
    started = time.perf_counter()
    func = migration.up if step.direction == "up" else migration.down
    conn.execute(f"SAVEPOINT rehearse_{step.version}")
    try:
        if func is None:
            raise MigrationError(f"Migration {migration.label} is irreversible (it has no down).")
        conn.set_trace_callback(statements)
        try:
            with sq.transactions_forbidden(conn):
                func(Tx(conn))
        finally:
            conn.set_trace_callback(None)
        if not conn.in_transaction:
            raise _TransactionEnded()
        if migration.disable_foreign_keys:
            problems = sq.foreign_key_problems(conn)
            if problems:
                raise MigrationError(
                    f"Migration {migration.label} left broken foreign keys ({problems[0]})"
                )
        rows = conn.total_changes - changes
        duration_ms = (time.perf_counter() - started) * 1000
        _record(conn, recorder, step, migration, duration_ms)
    except Exception as exc:
        duration_ms = (time.perf_counter() - started) * 1000
        recorder.forget()  # the rolled-back step may have taken fresh bookkeeping tables with it
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute(f"ROLLBACK TO rehearse_{step.version}")
        return RehearsedStep(
            step.direction,
            step.version,
            step.name,
            "failed",
            statements.result(),
            duration_ms,
            conn.total_changes - changes,
            describe_failure(exc),
        )
    conn.execute(f"RELEASE rehearse_{step.version}")
    return RehearsedStep(
        step.direction, step.version, step.name, "ok", statements.result(), duration_ms, rows
    )


def _record(
    conn: sqlite3.Connection,
    recorder: Recorder,
    step: PlanStep,
    migration: Migration,
    duration_ms: float,
) -> None:
    """The bookkeeping the real run would write (so a full disk there shows up too)."""
    recorder.ensure_tables()
    if step.direction == "up":
        recorder.record_applied(
            version=step.version,
            name=migration.name,
            description=migration.description,
            checksum=migration.checksum,
            source_key=None,
            reversible=migration.reversible,
            fingerprint=None,
            applied_at=utc_now(),
            duration_ms=duration_ms,
        )
        sq.set_user_version(conn, step.version)
    else:
        recorder.record_unapplied(step.version)
        sq.set_user_version(conn, step.version - 1)


def _snapshot(conn: sqlite3.Connection) -> Snapshot:
    """Every application table with its row count and the non-NULL values of each column."""
    shapes: Snapshot = {}
    tables = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT IN (?, ?)",
        sq.BOOKKEEPING_TABLES,
    ).fetchall()
    for (name,) in tables:
        columns = [row[0] for row in conn.execute("SELECT name FROM pragma_table_info(?)", (name,))]
        counts = ", ".join(["count(*)", *(f"count({_quote(c)})" for c in columns)])
        try:
            row = conn.execute(f"SELECT {counts} FROM {_quote(name)}").fetchone()
        except sqlite3.Error:
            # A virtual table whose module is not loaded: its shape still counts, its rows cannot.
            row = (0, *([0] * len(columns)))
        shapes[name] = _Shape(dict(zip(columns, row[1:], strict=True)), int(row[0]))
    return shapes


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
