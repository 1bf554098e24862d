"""Offline SQL: the statements a migrate or rollback would run, as a script a DBA can review.

The plan is run for real, by the one executor, on a throw-away copy of the database (or, when
there is no database yet, on an empty scratch one), with every statement traced as SQLite runs it
(values bound). The operator's database is never written. Statements from migration code are kept
as they are; the engine's own (transactions, the version table, the history, ``PRAGMA
user_version``, switching foreign keys around a table rebuild) are marked ``-- bookkeeping``.
Pure reads (SELECT, and PRAGMAs that set nothing) are left out: they change nothing.

A migration whose code branches on data took its branches on a copy of the data as it is now; the
script is what would run today, not a program for every database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import MetamigrateError
from engine.migration import Migration, Registry

if TYPE_CHECKING:
    from engine.manager import MigrationManager
    from engine.models import Direction

_READ = re.compile(r"^\s*(SELECT|WITH|EXPLAIN|VALUES)\b", re.IGNORECASE)
_PRAGMA = re.compile(r"^\s*PRAGMA\b", re.IGNORECASE)


@dataclass(frozen=True)
class Statement:
    version: int
    direction: Direction
    sql: str
    #: The engine's own statement (not the migration's code).
    bookkeeping: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "direction": self.direction,
            "sql": self.sql,
            "bookkeeping": self.bookkeeping,
        }


@dataclass(frozen=True)
class OfflineScript:
    """The statements of a plan, in order, and whether the rehearsed run succeeded."""

    database: str
    direction: Direction
    from_version: int
    to_version: int
    #: "copy" (a throw-away copy of the database) or "scratch" (no database yet: an empty one).
    source: str
    steps: tuple[tuple[int, str], ...]
    statements: tuple[Statement, ...]
    #: The error that stopped the rehearsed run (the script ends where it failed), or None.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, object]:
        return {
            "database": self.database,
            "direction": self.direction,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "source": self.source,
            "ok": self.ok,
            "error": self.error,
            "steps": [{"version": v, "name": n} for v, n in self.steps],
            "statements": [s.to_dict() for s in self.statements],
        }

    def text(self) -> str:
        """The script: a header saying what it is, then each step's statements."""
        verb = "migrate" if self.direction == "up" else "rollback"
        where = {
            "copy": "a throw-away copy of the database",
            "scratch": "an empty scratch database (there is no database yet)",
            "schema": "a scratch schema built by the migrations (without the data)",
        }[self.source]
        lines = [
            f"-- metamigrate {verb} of {self.database}: version {self.from_version} -> "
            f"{self.to_version}",
            f"-- Rehearsed on {where}; the database itself was not changed.",
            "-- Statements marked '-- bookkeeping' are the engine's own; reads are left out.",
        ]
        if any("%s" in s.sql for s in self.statements if s.bookkeeping):
            lines.append("-- The bookkeeping's values are sent apart from its statements (%s).")
        if not self.steps:
            lines.append(f"-- Nothing to do: the database is at version {self.from_version}.")
            return "\n".join(lines) + "\n"
        names = dict(self.steps)
        current: int | None = None
        for statement in self.statements:
            if statement.version != current:
                current = statement.version
                lines += ["", f"-- {current:04d}_{names.get(current, '?')} ({statement.direction})"]
            sql = statement.sql.strip().rstrip(";")
            lines.append(f"{sql};" + ("  -- bookkeeping" if statement.bookkeeping else ""))
        if self.error:
            lines += ["", f"-- THE RUN WOULD FAIL HERE: {self.error}"]
        return "\n".join(lines) + "\n"


class StatementTracer:
    """Collects statements, tagging those issued while migration code runs."""

    def __init__(self) -> None:
        self.statements: list[Statement] = []
        self.in_migration = False
        self.version = 0
        self.direction: Direction = "up"

    def __call__(self, sql: str) -> None:
        text = sql.strip()
        if not text or text.startswith("--"):  # SQLite's note of a pragma function's query
            return
        if _READ.match(text) or (_PRAGMA.match(text) and "=" not in text):
            return
        self.statements.append(Statement(self.version, self.direction, text, not self.in_migration))

    def wrap(self, migration: Migration) -> Migration:
        """The same migration (same checksum), telling the tracer when its code runs."""

        def traced(func: Callable[[Any], None] | None, direction: Direction) -> Any:
            if func is None:
                return None

            def run(tx: Any) -> None:
                self.in_migration = True
                try:
                    func(tx)
                finally:
                    self.in_migration = False

            return run

        return migration.replace(
            up=traced(migration.up, "up"),
            down=traced(migration.down, "down"),
            _checksum=migration.checksum,
        )

    def on_event(self, event: object) -> None:
        from engine.events import MigrationStarted

        if isinstance(event, MigrationStarted):
            self.version = event.version
            self.direction = "up" if event.direction == "up" else "down"


def traced_registry(registry: Registry, tracer: StatementTracer, versions: list[int]) -> Registry:
    """The same migrations; those of the plan tell ``tracer`` when their code runs."""
    wrapped = Registry()
    wrapped.source = registry.source
    for version in registry.versions:
        migration = registry.get(version)
        wrapped.add(tracer.wrap(migration) if version in versions else migration)
    return wrapped


@contextlib.contextmanager
def _copy_of(
    manager: MigrationManager, current: int
) -> Iterator[tuple[MigrationManager, str, Any]]:
    """Where to run the plan: a throw-away copy of the database file, an empty scratch database
    when there is none, or on a server a scratch schema built by the migrations up to
    ``current`` (no data); with the function that words a statement in live terms."""
    from engine.manager import MigrationManager
    from engine.scratch import scratch_like, scratch_path

    if not manager.is_file_backed:
        with scratch_like(manager) as scratch:
            scratch.manager.migrate_to(current, backup=False)
            yield scratch.manager, "schema", scratch.as_live
        return
    with scratch_path("metamigrate-sql-") as path:
        if not manager.exists():
            yield MigrationManager(path, manager.registry), "scratch", str
            return
        with manager.backend() as backend:
            backend.backup_to(path)
        yield MigrationManager(path, manager.registry), "copy", str


def offline_script(
    manager: MigrationManager, target: int | str | None, direction: Direction
) -> OfflineScript:
    """The script of ``migrate_to(target)`` (``direction`` "up") or ``rollback(target)``
    ("down"): refused like them (bad target, wrong direction, an irreversible step)."""
    from engine.backends import open_backend
    from engine.manager import MigrationManager

    wanted = manager.resolve_target(target)
    current = manager.current_version if manager.exists() else 0
    steps = manager.plan(wanted)
    if steps and steps[0].direction != direction:
        other = "migrate" if direction == "down" else "rollback"
        raise _WrongDirection(
            f"Version {wanted} is on the other side of the current version {current}; use "
            f"{other} --sql to go there."
        )
    if direction == "down":
        manager._refuse_irreversible(steps)
    tracer = StatementTracer()
    planned = [s.version for s in steps]
    # What the engine runs before the first step starts (BEGIN, the bookkeeping tables)
    # belongs to that step.
    tracer.version, tracer.direction = (planned[0] if planned else current), direction
    registry = traced_registry(manager.registry, tracer, planned)
    error: str | None = None
    with _copy_of(manager, current) as (place, source, as_live):
        backend = open_backend(place.location, place.connect_options())
        try:
            runner = MigrationManager(backend, registry, backup=False, on_event=tracer.on_event)
            with backend.trace(tracer):
                try:
                    if direction == "up":
                        runner.migrate_to(wanted)
                    else:
                        runner.rollback(wanted)
                except MetamigrateError as exc:
                    error = exc.message
        finally:
            backend.close()
    return OfflineScript(
        manager.display,
        direction,
        current,
        wanted,
        source,
        tuple((s.version, s.name) for s in steps),
        tuple(
            dataclasses.replace(s, sql=as_live(s.sql))
            for s in _without_failure_record(tracer.statements, error)
        ),
        error,
    )


def _without_failure_record(statements: list[Statement], error: str | None) -> list[Statement]:
    """After a failure the executor records the failed attempt in a transaction of its own;
    that is the rehearsal's bookkeeping, not the plan's."""
    if error is None:
        return statements
    for index in range(len(statements) - 1, -1, -1):
        if statements[index].sql.upper().startswith("ROLLBACK"):
            return statements[: index + 1]
    return statements


class _WrongDirection(MetamigrateError):
    exit_code = 2
