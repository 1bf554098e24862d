"""The boundary between the engine and a database: the ``Backend`` protocol and what it returns.

The rest of the engine (executor, rehearsal, recorder, verify, backups, manager, console) talks to a
database only through a ``Backend``: one open connection of one database product, plus what that
product can do (``Capabilities``). Every vendor specific (SQL dialect of the introspection, locking,
the version marker, error texts, file copies) lives in one module under ``engine/backends/``
(``sqlite.py``, ``postgres.py``), chosen by URL scheme in ``engine.backends.open_backend``.

Conventions every backend keeps:

- SQL written by the engine itself (the bookkeeping) uses ``?`` placeholders; ``Backend.sql``
  turns it into the driver's style. SQL written by migrations is passed through untouched.
- Driver exceptions never leave a backend method except ``execute``/``executemany``/``script``
  (migration SQL, whose failure is the migration's): those the caller hands to
  ``translate_error`` / ``describe_step_error``, the one place driver errors are interpreted.
- A backend instance owns (or borrows) exactly one connection and is used from one thread.
- Application objects exclude the engine's bookkeeping tables (``BOOKKEEPING_TABLES``) and, on
  servers with schemas, are scoped to the configured schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from engine.errors import MetamigrateError
from engine.settings import DEFAULT_BUSY_TIMEOUT

#: Tables the engine owns; they are not part of the application schema or its fingerprint.
BOOKKEEPING_TABLES = ("schema_migrations", "schema_migration_history", "schema_database_id")

#: A statement trace callback: called with the text of every statement the connection runs.
TraceCallback = Callable[[str], None]


class TransactionEnded(Exception):
    """Migration code ended the engine's transaction (or the database did, after a fatal error).

    ``known_unchanged`` is True only when the engine can tell nothing was committed: the guard
    that denies transaction control was still in place, so the database itself rolled back (after
    a full disk or an I/O error). When migration code removed the guard (and then committed or
    rolled back, maybe beginning a new transaction in place of the engine's), or closed the
    connection, part of the migration may have been committed.
    """

    def __init__(self, *, guard_removed: bool = False, closed: bool = False) -> None:
        super().__init__("the engine's transaction ended inside migration code")
        self.guard_removed = guard_removed
        self.closed = closed

    @property
    def known_unchanged(self) -> bool:
        return not (self.guard_removed or self.closed)


Params = Sequence[Any] | Mapping[str, Any]


@dataclass(frozen=True)
class Capabilities:
    """What a database product can do; the engine asks these flags instead of the product's name.

    Flags only ever make the engine do less or do it another way; a backend that sets one to
    False must still honour the methods that depend on it by raising ``MetamigrateError`` with a
    sentence (never ``NotImplementedError``).
    """

    #: Short product name for messages: "SQLite", "PostgreSQL".
    product: str
    #: URL scheme(s) family: "sqlite", "postgresql".
    name: str
    #: Driver placeholder style of ``Backend.sql`` output ("qmark": ?, "format": %s).
    paramstyle: Literal["qmark", "format"] = "qmark"
    #: CREATE/ALTER/DROP roll back with the transaction (a rehearsal can run the real plan).
    transactional_ddl: bool = True
    #: Foreign key enforcement can be switched off around a transaction (SQLite table rebuilds:
    #: ``DISABLE_FOREIGN_KEYS = True``). False: such migrations are refused with a sentence.
    foreign_keys_toggle: bool = False
    #: SAVEPOINT / ROLLBACK TO / RELEASE work inside the write transaction.
    savepoints: bool = True
    #: A version marker outside the bookkeeping tables (SQLite ``PRAGMA user_version``).
    version_marker: bool = False
    #: ``change_token`` is cheap enough to poll every second (SQLite ``PRAGMA data_version``).
    change_polling: bool = False
    #: ``backup_to`` / ``restore_from`` / ``describe_backup`` work (file copies, dumps).
    backup: bool = False
    #: A rehearsal that cannot run in a rolled-back transaction may run on a throw-away copy.
    rehearse_on_copy: bool = False
    #: ``TRANSACTION = False`` migrations are possible (``outside_transaction``).
    non_transactional: bool = False
    #: Row counts are always exact; False: large tables get estimates (``TableShape.exact``).
    exact_row_counts: bool = True
    #: Several processes on several hosts can migrate at once (a server-side migration lock).
    shared_server: bool = False
    #: What ``integrity_problems`` runs, for check titles: "PRAGMA quick_check".
    integrity_check: str = "catalog checks"
    #: The version marker's name for messages: "PRAGMA user_version".
    version_marker_name: str = "the version marker"


@dataclass(frozen=True)
class ConnectOptions:
    """How to open a connection; resolved once from flags, environment and defaults (Settings).

    Backends read the fields that apply to them and ignore the others; new fields get defaults.
    """

    #: Open for reading only: every write fails (SQLite ``mode=ro``; PostgreSQL
    #: ``default_transaction_read_only``).
    read_only: bool = False
    #: Seconds to wait for the migration (write) lock before ``DatabaseLockedError``.
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    #: Create the database when it does not exist (SQLite files; servers never create databases).
    create: bool = True
    #: Seconds to wait for the migration lock on a shared server before ``DatabaseLockedError``
    #: naming its holder (servers only; None: the backend's default, 60 s on PostgreSQL).
    lock_wait: float | None = None
    #: Retries, with backoff, of a migration that failed on its lock_timeout (servers only).
    lock_retries: int = 0
    #: Seconds to wait for a server connection before giving up (servers only).
    connect_timeout: float = 10.0
    #: The schema that holds the bookkeeping and the application objects (servers only).
    schema: str | None = None
    #: DDL lock wait inside migrations, e.g. "5s" (servers only; None: the backend's default).
    lock_timeout: str | None = None
    #: Statement timeout inside migrations, e.g. "5min" (servers only; None: none).
    statement_timeout: str | None = None
    #: Enforce foreign keys on this connection (SQLite's are off unless asked; servers: always).
    foreign_keys: bool = False
    #: Shown to other sessions (PostgreSQL ``application_name``), e.g. "metamigrate migrate".
    application_name: str = "metamigrate"
    #: Backend-specific extras (URL query options and the like).
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TableShape:
    """An application table's size: its rows and, per column, the rows holding a value."""

    rows: int
    #: column name -> rows whose value in it is not NULL (in column order).
    columns: Mapping[str, int]
    #: False when ``rows`` and the column counts are estimates (large tables on a server).
    exact: bool = True


@dataclass(frozen=True)
class SchemaDescription:
    """The application schema as order-insensitive facts, and its tables with their columns.

    ``facts`` are sorted strings, one per structural fact (a column with its type, default and
    nullability, a constraint, an index, a view, a trigger, ...); two schemas are the same when
    their facts are equal, whatever the order objects were created in. The fingerprint hashes them.
    """

    facts: tuple[str, ...]
    #: application table -> its column names, in column order (the data-loss checks use this).
    tables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.facts)


def fingerprint_of(facts: Iterable[str]) -> str:
    """The 16-hex-digit fingerprint of sorted schema facts (the value recorded and verified)."""
    import hashlib

    digest = hashlib.sha256()
    for fact in facts:
        digest.update(fact.encode())
        digest.update(b"\x1e")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class BackupFacts:
    """What a backup file holds: its schema version and fingerprint, and what is wrong with it."""

    version: int
    fingerprint: str
    #: Integrity problems found in the copy ([] when it is sound); the caller words the refusal.
    problems: tuple[str, ...] = ()
    #: The id of the database the copy was taken from ('' when it has none; see BackupFolder).
    database_id: str = ""


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


def error_kind_of(backend: Backend, exc: BaseException) -> str:
    """``backend.error_kind(exc)`` when the backend classifies errors by kind, else "other"."""
    if isinstance(backend, ErrorKinds):
        return backend.error_kind(exc)
    return "other"


def qmark_to_format(sql: str) -> str:
    """``?`` placeholders to ``%s`` (and literal ``%`` to ``%%``), for engine SQL on drivers with
    the "format" paramstyle. Engine SQL never has ``?`` inside string literals."""
    return sql.replace("%", "%%").replace("?", "%s")


def bookkeeping_ddl(*, real: str, identity: str, user: str) -> tuple[str, str]:
    """The bookkeeping tables (``schema_migrations``, ``schema_migration_history``) in one
    dialect: ``real`` the floating-point type, ``identity`` the history's generated key,
    ``user`` the (quoted where needed) name of its user column. Every backend's tables have the
    same columns, so the recorder's SQL is the same on all of them."""
    return (
        f"""CREATE TABLE IF NOT EXISTS schema_migrations (
    version      INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    checksum     TEXT NOT NULL,
    source_key   TEXT,
    reversible   INTEGER NOT NULL DEFAULT 1,
    fingerprint  TEXT,
    schema_facts TEXT,
    applied_at   TEXT NOT NULL,
    duration_ms  {real} NOT NULL,
    applied_by   TEXT NOT NULL
)""",
        f"""CREATE TABLE IF NOT EXISTS schema_migration_history (
    id           {identity},
    version      INTEGER NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    direction    TEXT NOT NULL
                 CHECK (direction IN ('up', 'down', 'stamp', 'unmark', 'repair', 'baseline')),
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    duration_ms  {real} NOT NULL,
    success      INTEGER NOT NULL,
    error        TEXT,
    {user:<12} TEXT NOT NULL,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    reason       TEXT,
    note         TEXT
)""",
    )
