"""The ``Backend`` protocol every backend implements, and the optional protocols some add.

Apart from ``engine.backends.base`` (the records backends return, the shared helpers), because
``typing.Protocol`` classes cost milliseconds to create and the read-only commands never check
against them at run time: they import the names from ``engine.backends.base`` for annotations
only, and a runtime ``isinstance`` check (``ChangeNotifier``, ``ErrorKinds``, ...) loads this module
on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from engine.backends.base import (
        BackupFacts,
        Capabilities,
        ConnectOptions,
        Params,
        SchemaDescription,
        TableShape,
        TraceCallback,
    )
    from engine.errors import MetamigrateError


@runtime_checkable
class Backend(Protocol):
    """One open connection to one database, and everything vendor-specific the engine needs.

    Invariant: the engine never sends SQL of its own to a database except through these methods
    (``execute`` for the bookkeeping, written with ``?`` and passed through ``sql``).
    """

    capabilities: Capabilities
    #: The options this backend was opened with.
    options: ConnectOptions

    # -- identity ---------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """The database for messages: a file path, or a URL with any password masked."""
        ...

    @property
    def path(self) -> Path | None:
        """The database file, for backends that keep the database in one file (else None)."""
        ...

    @property
    def connection(self) -> Any:
        """The raw DB-API connection (the documented escape hatch behind ``Tx.connection``)."""
        ...

    def close(self) -> None:
        """Close the connection if this backend opened it (a borrowed one is left open)."""
        ...

    # -- statements -------------------------------------------------------------------------

    def sql(self, text: str) -> str:
        """Engine SQL written with ``?`` placeholders, in the driver's placeholder style."""
        ...

    def execute(self, sql: str, params: Params = ()) -> Any:
        """Run one statement in the current transaction (none open: autocommit); returns the
        driver's cursor (``fetchone``/``fetchall``/``rowcount``). Driver errors propagate."""
        ...

    def executemany(self, sql: str, rows: Iterable[Params]) -> Any:
        """Run one statement once per parameter row, in the current transaction."""
        ...

    def script(self, sql: str) -> None:
        """Run several statements in order inside the current transaction; never commits
        (SQLite's ``executescript`` would). Raises ``ValueError`` for an incomplete last one."""
        ...

    # -- transactions and the migration lock -------------------------------------------------

    def begin_write(self) -> None:
        """Open the write transaction that also holds the migration lock, waiting at most
        ``options.busy_timeout`` s (SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``BEGIN`` then
        ``pg_advisory_xact_lock``). The caller re-reads the applied set after it. Raises
        ``DatabaseLockedError`` naming the holder when it can, ``ReadOnlyDatabaseError``, ..."""
        ...

    def commit(self) -> None:
        """Commit the open transaction (releasing the migration lock). Driver errors propagate
        after the transaction was rolled back, so the caller can record the failure."""
        ...

    def rollback(self) -> None:
        """Roll back if a transaction is still open (the database may have done it already,
        e.g. SQLite after SQLITE_FULL). Never raises."""
        ...

    @property
    def in_transaction(self) -> bool:
        """True while a transaction is open and usable (False after the server aborted it)."""
        ...

    def savepoint(self, name: str) -> None:
        """``SAVEPOINT name`` inside the open transaction (rehearsal steps)."""
        ...

    def rollback_to_savepoint(self, name: str) -> None:
        """Undo back to ``name`` and keep the transaction usable. Never raises."""
        ...

    def release_savepoint(self, name: str) -> None:
        """Forget ``name``, keeping its changes in the open transaction."""
        ...

    def transaction_control_forbidden(self) -> AbstractContextManager[None]:
        """While active, BEGIN/COMMIT/ROLLBACK/SAVEPOINT issued by migration code fail with a
        driver error that ``describe_step_error`` words as "migrations must not control
        transactions", before they reach the server: the engine's transaction cannot be ended."""
        ...

    def foreign_keys_disabled(self, needed: bool) -> AbstractContextManager[None]:
        """Around ``begin_write``..``commit``: foreign keys off while inside when ``needed``
        (SQLite's ``PRAGMA foreign_keys`` is a no-op inside a transaction, so this wraps it);
        restored afterwards. Without ``capabilities.foreign_keys_toggle`` and ``needed``: raises
        ``MetamigrateError`` saying such a migration cannot run on this database."""
        ...

    def outside_transaction(self) -> AbstractContextManager[None]:
        """For ``TRANSACTION = False`` migrations: autocommit, holding the migration lock at
        session level for the block (PostgreSQL ``pg_advisory_lock``), released after. Without
        ``capabilities.non_transactional``: raises ``MetamigrateError`` with a sentence."""
        ...

    # -- rehearsal ----------------------------------------------------------------------------

    def trace(self, callback: TraceCallback | None) -> AbstractContextManager[None]:
        """Call ``callback(sql)`` for every statement this connection runs inside the block."""
        ...

    def rows_changed(self) -> int:
        """Rows inserted, updated or deleted on this connection so far (a running total: the
        difference around a step is the step's count; DDL is not counted)."""
        ...

    # -- bookkeeping support ------------------------------------------------------------------

    def bookkeeping_ddl(self) -> Sequence[str]:
        """CREATE TABLE IF NOT EXISTS statements of ``schema_migrations`` and
        ``schema_migration_history`` in this dialect (columns as in ``engine.recorder``)."""
        ...

    def read_version_marker(self) -> int | None:
        """The version marker (SQLite ``PRAGMA user_version``), None when the product has none."""
        ...

    def write_version_marker(self, version: int) -> None:
        """Set the marker inside the open write transaction (so it commits with the step);
        nothing when the product has none."""
        ...

    def change_token(self) -> object:
        """A value that changes when another connection commits (``capabilities.change_polling``
        says whether it is cheap: SQLite ``PRAGMA data_version``)."""
        ...

    # -- introspection ------------------------------------------------------------------------

    def table_exists(self, name: str) -> bool:
        """True when table ``name`` exists (bookkeeping tables included, scoped to the schema)."""
        ...

    def tables(self) -> list[str]:
        """The application tables, sorted (bookkeeping and internal tables excluded)."""
        ...

    def columns(self, table: str) -> list[str]:
        """The column names of ``table`` in order ([] when it does not exist)."""
        ...

    def is_empty(self) -> bool:
        """True when the database holds no schema objects at all (nothing to lose)."""
        ...

    def describe_schema(self) -> SchemaDescription:
        """The application schema's structural description (see ``SchemaDescription``)."""
        ...

    def schema_fingerprint(self) -> str:
        """``describe_schema().fingerprint``, possibly computed more cheaply."""
        ...

    def table_shapes(self, tables: Iterable[str] | None = None) -> dict[str, TableShape]:
        """Rows and per-column non-NULL counts of ``tables`` (default: every application table).
        Exact, or estimates flagged ``exact=False`` for large tables where counting is slow; a
        table that cannot be read (a virtual table without its module) counts as empty."""
        ...

    # -- checks -------------------------------------------------------------------------------

    def is_read_only(self) -> bool:
        """True when this connection cannot write (read-only open, file, or standby server)."""
        ...

    def integrity_problems(self) -> list[str]:
        """Storage-level problems, one sentence each ([] when sound): SQLite ``quick_check``;
        PostgreSQL invalid indexes and NOT VALID constraints."""
        ...

    def foreign_key_problems(self) -> list[str]:
        """Rows whose foreign keys point at missing rows, one phrase each ([] when none)."""
        ...

    # -- errors: the one place driver exceptions are interpreted ---------------------------

    #: The driver's exception base class(es), for ``except backend.driver_errors``.
    driver_errors: tuple[type[BaseException], ...]

    def translate_error(self, exc: BaseException, *, action: str = "use") -> MetamigrateError:
        """One operator sentence for a driver error of a whole operation, typed: locked,
        read-only, disk full, not a database, corrupt, cannot open/connect, auth, ..."""
        ...

    def describe_step_error(self, exc: BaseException) -> str:
        """The cause of a failed migration step as a phrase for "Could not apply migration X:
        <cause>." (transaction control attempted, disk full, locked, the driver's own text)."""
        ...

    # -- backups (``capabilities.backup``) ----------------------------------------------------

    def backup_to(self, target: Path) -> BackupFacts:
        """Write a consistent online copy of the database to the new file ``target``, check it,
        flush it to disk, and say what it holds. Raises ``BackupTargetError`` (its message is the
        reason: "the disk is full") when ``target`` cannot be written, and ``translate_error``'s
        error when the database cannot be read. The caller deletes ``target`` on failure."""
        ...

    def describe_backup(self, path: Path) -> BackupFacts:
        """Check an existing backup file and say what it holds (``problems`` when it fails the
        check); ``BackupError`` when it cannot be opened as a backup of this product."""
        ...

    def restore_from(self, path: Path, keep_current: Callable[[], object]) -> None:
        """Replace the database with the (checked) backup at ``path`` atomically, under the
        migration lock; ``DatabaseLockedError`` while another process uses or writes it. Calls
        ``keep_current()`` once, after preparing and before replacing, for the caller to back the
        current database up; if it raises, nothing is replaced. The backend's own connection may
        be closed or unusable afterwards: open a new one."""
        ...


@runtime_checkable
class ForeignKeySwitch(Protocol):
    """Optional, with ``capabilities.foreign_keys_toggle``: whether foreign keys are enforced."""

    def foreign_keys_enabled(self) -> bool:
        """True when this connection enforces foreign keys now."""
        ...


@runtime_checkable
class RehearsalCopies(Protocol):
    """Optional, with ``capabilities.rehearse_on_copy``: rehearsals on a throw-away copy."""

    def rehearsal_copy(self, foreign_keys: bool) -> AbstractContextManager[Backend]:
        """A backend on a throw-away copy of this database (foreign keys as asked), inside an
        open write transaction; the copy is deleted when the block ends."""
        ...


@runtime_checkable
class ChangeNotifier(Protocol):
    """Optional: announce, when the current transaction commits, that the applied set changed
    (PostgreSQL ``NOTIFY``), so watchers on other hosts see it at once instead of polling. A
    transaction that rolls back announces nothing."""

    def notify_change(self, payload: str) -> None:
        """Queue ``payload`` ("applied 7", "unapplied 7") for delivery at commit."""
        ...


@runtime_checkable
class ErrorKinds(Protocol):
    """Optional: a driver error's meaning as a word ("locked", "read_only", "disk_full",
    "constraint", ...), for callers that act on it rather than show it."""

    def error_kind(self, exc: BaseException) -> str:
        """The kind of ``exc`` ("other" when it means nothing in particular)."""
        ...
