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

from engine.records import Record
from engine.settings import DEFAULT_BUSY_TIMEOUT

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

if TYPE_CHECKING:
    from typing import Any, Literal, TypeAlias

    # The protocols live in engine.backends.protocol (typing's Protocol costs milliseconds of
    # every command's start); importing them from here still works (module __getattr__ below).
    from engine.backends.protocol import (  # noqa: F401 (re-exported)
        Backend,
        ChangeNotifier,
        ErrorKinds,
        ForeignKeySwitch,
        RehearsalCopies,
    )

    Params: TypeAlias = Sequence[Any] | Mapping[str, Any]
else:
    Params = Sequence | Mapping  # the same at run time, without typing's Any

#: The names defined in engine.backends.protocol, loaded from there on first use.
_PROTOCOLS = ("Backend", "ChangeNotifier", "ErrorKinds", "ForeignKeySwitch", "RehearsalCopies")


def __getattr__(name: str) -> Any:
    if name not in _PROTOCOLS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from engine.backends import protocol

    value = getattr(protocol, name)
    globals()[name] = value
    return value


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


class Capabilities(Record):
    """What a database product can do; the engine asks these flags instead of the product's name.

    Flags only ever make the engine do less or do it another way; a backend that sets one to
    False must still honour the methods that depend on it by raising ``MetamigrateError`` with a
    sentence (never ``NotImplementedError``).
    """

    __slots__ = (
        "backup",
        "change_polling",
        "exact_row_counts",
        "foreign_keys_toggle",
        "integrity_check",
        "name",
        "non_transactional",
        "paramstyle",
        "product",
        "rehearse_on_copy",
        "savepoints",
        "shared_server",
        "transactional_ddl",
        "version_marker",
        "version_marker_name",
    )

    #: Short product name for messages: "SQLite", "PostgreSQL".
    product: str
    #: URL scheme(s) family: "sqlite", "postgresql".
    name: str
    #: Driver placeholder style of ``Backend.sql`` output ("qmark": ?, "format": %s).
    paramstyle: Literal["qmark", "format"]
    #: CREATE/ALTER/DROP roll back with the transaction (a rehearsal can run the real plan).
    transactional_ddl: bool
    #: Foreign key enforcement can be switched off around a transaction (SQLite table rebuilds:
    #: ``DISABLE_FOREIGN_KEYS = True``). False: such migrations are refused with a sentence.
    foreign_keys_toggle: bool
    #: SAVEPOINT / ROLLBACK TO / RELEASE work inside the write transaction.
    savepoints: bool
    #: A version marker outside the bookkeeping tables (SQLite ``PRAGMA user_version``).
    version_marker: bool
    #: ``change_token`` is cheap enough to poll every second (SQLite ``PRAGMA data_version``).
    change_polling: bool
    #: ``backup_to`` / ``restore_from`` / ``describe_backup`` work (file copies, dumps).
    backup: bool
    #: A rehearsal that cannot run in a rolled-back transaction may run on a throw-away copy.
    rehearse_on_copy: bool
    #: ``TRANSACTION = False`` migrations are possible (``outside_transaction``).
    non_transactional: bool
    #: Row counts are always exact; False: large tables get estimates (``TableShape.exact``).
    exact_row_counts: bool
    #: Several processes on several hosts can migrate at once (a server-side migration lock).
    shared_server: bool
    #: What ``integrity_problems`` runs, for check titles: "PRAGMA quick_check".
    integrity_check: str
    #: The version marker's name for messages: "PRAGMA user_version".
    version_marker_name: str

    def __init__(
        self,
        product: str,
        name: str,
        paramstyle: Literal["qmark", "format"] = "qmark",
        transactional_ddl: bool = True,
        foreign_keys_toggle: bool = False,
        savepoints: bool = True,
        version_marker: bool = False,
        change_polling: bool = False,
        backup: bool = False,
        rehearse_on_copy: bool = False,
        non_transactional: bool = False,
        exact_row_counts: bool = True,
        shared_server: bool = False,
        integrity_check: str = "catalog checks",
        version_marker_name: str = "the version marker",
    ) -> None:
        self._set(
            product,
            name,
            paramstyle,
            transactional_ddl,
            foreign_keys_toggle,
            savepoints,
            version_marker,
            change_polling,
            backup,
            rehearse_on_copy,
            non_transactional,
            exact_row_counts,
            shared_server,
            integrity_check,
            version_marker_name,
        )


class ConnectOptions(Record):
    """How to open a connection; resolved once from flags, environment and defaults (Settings).

    Backends read the fields that apply to them and ignore the others; new fields get defaults.
    """

    __slots__ = (
        "application_name",
        "busy_timeout",
        "connect_timeout",
        "create",
        "extra",
        "foreign_keys",
        "lock_retries",
        "lock_timeout",
        "lock_wait",
        "read_only",
        "schema",
        "statement_timeout",
    )

    #: Open for reading only: every write fails (SQLite ``mode=ro``; PostgreSQL
    #: ``default_transaction_read_only``).
    read_only: bool
    #: Seconds to wait for the migration (write) lock before ``DatabaseLockedError``.
    busy_timeout: float
    #: Create the database when it does not exist (SQLite files; servers never create databases).
    create: bool
    #: Seconds to wait for the migration lock on a shared server before ``DatabaseLockedError``
    #: naming its holder (servers only; None: the backend's default, 60 s on PostgreSQL).
    lock_wait: float | None
    #: Retries, with backoff, of a migration that failed on its lock_timeout (servers only).
    lock_retries: int
    #: Seconds to wait for a server connection before giving up (servers only).
    connect_timeout: float
    #: The schema that holds the bookkeeping and the application objects (servers only).
    schema: str | None
    #: DDL lock wait inside migrations, e.g. "5s" (servers only; None: the backend's default).
    lock_timeout: str | None
    #: Statement timeout inside migrations, e.g. "5min" (servers only; None: none).
    statement_timeout: str | None
    #: Enforce foreign keys on this connection (SQLite's are off unless asked; servers: always).
    foreign_keys: bool
    #: Shown to other sessions (PostgreSQL ``application_name``), e.g. "metamigrate migrate".
    application_name: str
    #: Backend-specific extras (URL query options and the like).
    extra: Mapping[str, str]

    def __init__(
        self,
        read_only: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        create: bool = True,
        lock_wait: float | None = None,
        lock_retries: int = 0,
        connect_timeout: float = 10.0,
        schema: str | None = None,
        lock_timeout: str | None = None,
        statement_timeout: str | None = None,
        foreign_keys: bool = False,
        application_name: str = "metamigrate",
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self._set(
            read_only,
            busy_timeout,
            create,
            lock_wait,
            lock_retries,
            connect_timeout,
            schema,
            lock_timeout,
            statement_timeout,
            foreign_keys,
            application_name,
            {} if extra is None else extra,
        )


class TableShape(Record):
    """An application table's size: its rows and, per column, the rows holding a value."""

    __slots__ = ("columns", "exact", "rows")

    rows: int
    #: column name -> rows whose value in it is not NULL (in column order).
    columns: Mapping[str, int]
    #: False when ``rows`` and the column counts are estimates (large tables on a server).
    exact: bool

    def __init__(
        self,
        rows: int,
        columns: Mapping[str, int],
        exact: bool = True,
    ) -> None:
        self._set(rows, columns, exact)


class SchemaDescription(Record):
    """The application schema as order-insensitive facts, and its tables with their columns.

    ``facts`` are sorted strings, one per structural fact (a column with its type, default and
    nullability, a constraint, an index, a view, a trigger, ...); two schemas are the same when
    their facts are equal, whatever the order objects were created in. The fingerprint hashes them.
    """

    __slots__ = ("facts", "tables")

    facts: tuple[str, ...]
    #: application table -> its column names, in column order (the data-loss checks use this).
    tables: Mapping[str, tuple[str, ...]]

    def __init__(
        self,
        facts: tuple[str, ...],
        tables: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._set(facts, {} if tables is None else tables)

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


class BackupFacts(Record):
    """What a backup file holds: its schema version and fingerprint, and what is wrong with it."""

    __slots__ = ("database_id", "fingerprint", "problems", "version")

    version: int
    fingerprint: str
    #: Integrity problems found in the copy ([] when it is sound); the caller words the refusal.
    problems: tuple[str, ...]
    #: The id of the database the copy was taken from ('' when it has none; see BackupFolder).
    database_id: str

    def __init__(
        self,
        version: int,
        fingerprint: str,
        problems: tuple[str, ...] = (),
        database_id: str = "",
    ) -> None:
        self._set(version, fingerprint, problems, database_id)


def error_kind_of(backend: Backend, exc: BaseException) -> str:
    """``backend.error_kind(exc)`` when the backend classifies errors by kind, else "other"."""
    from engine.backends.protocol import ErrorKinds

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
