"""Rehearsals: run the real plan, report what each step did, keep nothing.

Invariant: a rehearsal never changes the database. It runs the plan, step by step through the same
``engine.steps.StepRunner`` as a real run, inside one write transaction that is always rolled
back, or, when that cannot work and the backend can copy (SQLite), on a throw-away copy:
``PRAGMA foreign_keys`` cannot change inside a transaction, so a plan with a step that needs foreign
keys off (table rebuilds) on a connection that has them on, and a read-only database, are
rehearsed on a copy in a temporary folder that is deleted afterwards.

The rollback impact preview is a rehearsal of the downs that also compares the tables and columns
before and after, and counts the rows that would go with them.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from engine.backends.base import (
    Backend,
    ForeignKeySwitch,
    RehearsalCopies,
    TableShape,
    TransactionEnded,
)
from engine.errors import ReadOnlyDatabaseError
from engine.migration import Migration
from engine.models import Direction, PlanStep
from engine.recorder import Recorder
from engine.steps import StepRunner, describe_failure

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
    #: Rows inserted, updated or deleted (``Backend.rows_changed``; DDL is not counted).
    rows_changed: int = 0
    error: str | None = None
    #: Rows a down destroys: in the tables it drops, the values in the columns it drops, and
    #: rows gone from tables that stay (the same measure as ``RollbackImpact``, per step).
    rows_lost: int = 0
    #: The step's code ended the rehearsal's transaction: part of it may have been committed.
    may_have_changed: bool = False

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
            "rows_lost": self.rows_lost,
            "error": self.error,
            "may_have_changed": self.may_have_changed,
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
    def may_have_changed(self) -> bool:
        """A step ended the rehearsal's transaction: the database itself may have been changed
        (only possible in "transaction" mode; a copy is thrown away)."""
        return self.mode == "transaction" and any(s.may_have_changed for s in self.steps)

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
            "may_have_changed": self.may_have_changed,
            "steps": [step.to_dict() for step in self.steps],
        }


@dataclass(frozen=True)
class DroppedTable:
    name: str
    rows: int
    #: False: ``rows`` is the server's estimate (a large table: ``reltuples``), shown "about".
    exact: bool = True

    def describe(self) -> str:
        return f"drops table {self.name}, {_rows(self.rows, self.exact)}"


@dataclass(frozen=True)
class DroppedColumn:
    table: str
    column: str
    #: Rows whose value in this column is not NULL (the data that goes with it).
    rows: int
    exact: bool = True

    def describe(self) -> str:
        return (
            f"drops column {self.table}.{self.column}, {_rows(self.rows, self.exact)} with a value"
        )


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
    ``measured_by`` says how it was found: "rehearsal" (the downs ran, rolled back), "schema
    descriptions" (the schema recorded for the target answered it: every table that stays is
    empty, so no down can delete rows from it), or "row counts" (asked without details: no
    application table holds a row, so nothing can be lost; the empty drops are not listed).
    """

    from_version: int
    target_version: int
    steps: tuple[PlanStep, ...] = ()
    dropped_tables: tuple[DroppedTable, ...] = ()
    dropped_columns: tuple[DroppedColumn, ...] = ()
    deleted_rows: tuple[DeletedRows, ...] = ()
    rehearsal: RehearsalReport | None = field(default=None, repr=False)
    measured_by: Literal["rehearsal", "schema descriptions", "row counts"] = "rehearsal"

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
            "dropped_tables": [
                {"table": t.name, "rows": t.rows, **_estimate(t.exact)} for t in self.dropped_tables
            ],
            "dropped_columns": [
                {"table": c.table, "column": c.column, "rows": c.rows, **_estimate(c.exact)}
                for c in self.dropped_columns
            ],
            "deleted_rows": [{"table": d.table, "rows": d.rows} for d in self.deleted_rows],
            "rows_lost": self.rows_lost,
            "loses_data": self.loses_data,
            "would_fail": self.would_fail,
            "error": self.error,
            "changes": self.changes,
            "summary": self.summary(),
        }


def _estimate(exact: bool) -> dict[str, bool]:
    """``{"exact": False}`` for a server's estimate (JSON keeps exact counts as they were)."""
    return {} if exact else {"exact": False}


def _rows(count: int, exact: bool = True) -> str:
    about = "" if exact else "about "
    return f"{about}{count:,} row{'s' if count != 1 else ''}"


# -- running ----------------------------------------------------------------------------------


Snapshot = Mapping[str, TableShape]


def rehearse(manager: MigrationManager, target: int | None = None) -> RehearsalReport:
    """Rehearse ``migrate_to(target)`` or ``rollback(target)`` (whichever the target means)."""
    report, _before, _after = _rehearse(manager, target, direction=None, measure=False)
    return report


def rollback_impact(
    manager: MigrationManager, target: int, *, details: bool = True
) -> RollbackImpact:
    """What ``rollback(target)`` would destroy. Rehearsing every down costs as much as the
    rollback itself, so it is done only for what cheaper facts cannot answer:

    - no application table holds a row and ``details`` is False: nothing can be lost;
    - the schema recorded for the target (at a rest point) matches what the migrations made, and
      every table that stays is empty: the drops are the difference of the two descriptions, with
      the live row counts;
    - otherwise the downs are rehearsed and the tables, columns and row counts compared before
      and after.
    """
    quick = _impact_without_rehearsal(manager, target, details=details)
    if quick is not None:
        return quick
    report, before, after = _rehearse(manager, target, direction="down", measure=True)
    steps = tuple(PlanStep("down", s.version, s.name) for s in report.steps)
    if not report.steps or not report.ok or before is None or after is None:
        return RollbackImpact(report.from_version, report.target_version, steps, rehearsal=report)
    dropped_tables = tuple(
        DroppedTable(name, shape.rows, shape.exact)
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
                dropped_columns.append(DroppedColumn(name, column, values, shape.exact))
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


def _impact_without_rehearsal(
    manager: MigrationManager, target: int, *, details: bool
) -> RollbackImpact | None:
    """The impact from row counts and recorded schema descriptions, or None: rehearse."""
    wanted = manager._check_target(target)
    with manager.backend() as backend:
        applied = manager._applied(backend)
        plan = manager.planner.plan_run(applied, wanted, "down")
        if not plan.steps:
            return None
        steps = tuple(PlanStep("down", s.version, s.name) for s in plan.steps)
        shapes = backend.table_shapes()
        if not all(shape.exact for shape in shapes.values()):
            return None  # estimated counts cannot prove that a table is empty
        if not details and not any(shape.rows for shape in shapes.values()):
            return RollbackImpact(plan.current, wanted, steps, measured_by="row counts")
        if wanted == 0:
            return None  # no schema is recorded for version 0
        recorder = Recorder(backend)
        now_fingerprint, _ = recorder.recorded_schema(plan.current)
        _, target_facts = recorder.recorded_schema(wanted)
        if target_facts is None or now_fingerprint != backend.schema_fingerprint():
            return None  # nothing recorded for the target, or the live schema drifted
        kept_columns = _tables_of(target_facts)
        if kept_columns is None or any(
            shapes[name].rows for name in shapes if name in kept_columns
        ):
            return None  # a down might delete rows from a table that stays: rehearse
    dropped_tables = tuple(
        DroppedTable(name, shape.rows)
        for name, shape in sorted(shapes.items())
        if name not in kept_columns
    )
    dropped_columns = tuple(
        DroppedColumn(name, column, values)
        for name, shape in sorted(shapes.items())
        if name in kept_columns
        for column, values in shape.columns.items()
        if column not in kept_columns[name]
    )
    return RollbackImpact(
        plan.current,
        wanted,
        steps,
        dropped_tables,
        dropped_columns,
        measured_by="schema descriptions",
    )


def _tables_of(facts: Sequence[str]) -> dict[str, set[str]] | None:
    """Table -> column names from recorded schema facts ("table t ...", "column t.c ..."); None
    when a name is ambiguous (a dot in a table name)."""
    tables: dict[str, set[str]] = {}
    for fact in facts:
        kind, _, rest = fact.partition(" ")
        name = rest.partition(" ")[0]
        if kind == "table":
            if "." in name:
                return None
            tables.setdefault(name, set())
        elif kind == "column":
            table, _, column = name.partition(".")
            tables.setdefault(table, set()).add(column)
    return tables


def _rehearse(
    manager: MigrationManager,
    target: int | None,
    *,
    direction: Direction | None,
    measure: bool,
) -> tuple[RehearsalReport, Snapshot | None, Snapshot | None]:
    wanted = manager._check_target(target)
    with manager.backend() as backend:
        applied = manager._applied(backend)
        plan = manager.planner.plan_run(applied, wanted, direction)
        current, planned, steps = plan.current, plan.direction, plan.steps
        migrations = [manager.registry.get(step.version) for step in steps]
        if not steps:
            return RehearsalReport(planned, current, wanted, "transaction"), None, None
        foreign_keys_on = (
            backend.foreign_keys_enabled() if isinstance(backend, ForeignKeySwitch) else True
        )
        can_copy = backend.capabilities.rehearse_on_copy and isinstance(backend, RehearsalCopies)
        needs_copy = can_copy and (
            manager.read_only
            or (
                foreign_keys_on
                and any(m.disables_foreign_keys(backend.capabilities.name) for m in migrations)
            )
            or str(manager.db_path) == ":memory:"
        )
        if not needs_copy:
            try:
                backend.begin_write()
            except ReadOnlyDatabaseError:
                if not can_copy:
                    raise
                needs_copy = True  # a database this process cannot write: rehearse on a copy
        if needs_copy:
            assert isinstance(backend, RehearsalCopies)
            with backend.rehearsal_copy(foreign_keys_on) as copy:
                return _run(
                    copy, manager, steps, migrations, planned, current, wanted, "copy", measure
                )
        try:
            return _run(
                backend,
                manager,
                steps,
                migrations,
                planned,
                current,
                wanted,
                "transaction",
                measure,
            )
        finally:
            backend.rollback()


def _run(
    backend: Backend,
    manager: MigrationManager,
    steps: Sequence[PlanStep],
    migrations: Sequence[Migration],
    direction: Direction,
    current: int,
    target: int,
    mode: Mode,
    measure: bool,
) -> tuple[RehearsalReport, Snapshot | None, Snapshot | None]:
    """Run every step inside the one open transaction on ``backend``; the caller rolls it back.

    On a copy, a step that needs foreign keys off gets them: the copy's transaction is committed
    around the switch (the copy is thrown away, so nothing is kept anyway).
    """
    before = backend.table_shapes() if measure or direction == "down" else None
    shape = before
    # One recorder for the run: it remembers that the bookkeeping tables exist instead of
    # looking them up at every step.
    recorder = Recorder(backend)
    runner = StepRunner(backend, manager.registry, recorder)
    recorder.ensure_tables()
    results: list[RehearsedStep] = []
    failed = False
    for step, migration in zip(steps, migrations, strict=True):
        if failed:
            results.append(RehearsedStep(step.direction, step.version, step.name, "not_run"))
            continue
        if mode == "copy" and migration.disables_foreign_keys(backend.capabilities.name):
            backend.commit()
            with backend.foreign_keys_disabled(True):
                backend.begin_write()
                result = _run_step(backend, runner, step, migration)
                if backend.in_transaction:
                    backend.commit()
            if result.status != "failed":
                backend.begin_write()
        else:
            result = _run_step(backend, runner, step, migration)
        failed = result.status == "failed" or not backend.in_transaction
        if direction == "down" and shape is not None and not failed:
            # What this down destroyed, measured like the rollback impact (one truth).
            later = backend.table_shapes()
            result = dataclasses.replace(result, rows_lost=_rows_lost(shape, later))
            shape = later
        results.append(result)
    after = None
    if measure and not failed:
        after = shape if direction == "down" else backend.table_shapes()
    return RehearsalReport(direction, current, target, mode, tuple(results)), before, after


def _rows_lost(before: Snapshot, after: Snapshot) -> int:
    """Rows in dropped tables, values in dropped columns, rows gone from tables that stay."""
    lost = 0
    for name, shape in before.items():
        later = after.get(name)
        if later is None:
            lost += shape.rows
            continue
        lost += sum(v for c, v in shape.columns.items() if c not in later.columns)
        lost += max(0, shape.rows - later.rows)
    return lost


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
    backend: Backend, runner: StepRunner, step: PlanStep, migration: Migration
) -> RehearsedStep:
    """One step through the real step runner, inside a savepoint (undone when it fails)."""
    statements = _SqlLog()
    changes = backend.rows_changed()
    started = time.perf_counter()
    savepoint = f"rehearse_{step.version}"
    backend.savepoint(savepoint)
    try:
        result = runner.run(step, migration, started=started, trace=statements)
    except KeyboardInterrupt:
        raise  # Ctrl-C: the caller rolls everything back and the command ends
    except BaseException as exc:
        # SystemExit, GeneratorExit, ... from migration code: the step would fail like any other.
        duration_ms = (time.perf_counter() - started) * 1000
        rows = max(backend.rows_changed() - changes, 0)
        # The rolled-back step may have taken fresh bookkeeping tables with it.
        runner.recorder.forget()
        backend.rollback_to_savepoint(savepoint)
        error = describe_failure(exc, backend)
        lost = isinstance(exc, TransactionEnded) and not exc.known_unchanged
        if lost:
            error += (
                "; the rehearsal's transaction ended, so what the step did before that may have "
                "been committed to the database: run metamigrate verify"
            )
        return RehearsedStep(
            step.direction,
            step.version,
            step.name,
            "failed",
            statements.result(),
            duration_ms,
            rows,
            error,
            may_have_changed=lost,
        )
    backend.release_savepoint(savepoint)
    return RehearsedStep(
        step.direction,
        step.version,
        step.name,
        "ok",
        statements.result(),
        result.duration_ms,
        result.rows_changed,
    )
