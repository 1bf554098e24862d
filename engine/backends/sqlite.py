"""The SQLite backend: opening files, locking, the version marker, introspection, file backups, and
the translation of sqlite3 errors (the one place their texts are matched).

``SQLiteBackend`` implements ``engine.backends.base.Backend`` on one ``sqlite3.Connection``; the
module-level functions are the same operations on a bare connection (``engine.sqlite`` re-exports
them for older callers). Nothing outside ``engine/backends/`` (and the SQLite-only table rebuild
helper) imports ``sqlite3``.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from engine.backends.base import (
    BOOKKEEPING_TABLES,
    BackupFacts,
    Capabilities,
    ConnectOptions,
    Params,
    SchemaDescription,
    TableShape,
    TraceCallback,
    TransactionEnded,
    bookkeeping_ddl,
    fingerprint_of,
)
from engine.errors import (
    BackupError,
    BackupTargetError,
    DatabaseError,
    DatabaseLockedError,
    DatabaseNotFoundError,
    DatabasePathError,
    DiskFullError,
    MetamigrateError,
    NotADatabaseError,
    ReadOnlyDatabaseError,
)
from engine.files import (
    SQLITE_COMPANIONS,
    fsync_dir,
    fsync_file,
    path_problem,
    remove_dead_temps,
    special_kind,
    unlink_quietly,
)
from engine.settings import DEFAULT_BUSY_TIMEOUT

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: what status imports must not load typing

SQLITE_HEADER = b"SQLite format 3\x00"

#: ``NOT IN`` placeholders for the bookkeeping tables.
_EXCLUDED = "(" + ", ".join("?" for _ in BOOKKEEPING_TABLES) + ")"

#: The database's identity: one random id, written by the engine's first write transaction (and
#: by the first run of an older database), copied into every backup, so a backup's source is known
#: by the database itself, not by its file name (databases may share a name and a backup folder).
IDENTITY_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_database_id (id TEXT NOT NULL, created_at TEXT NOT NULL)",
    "INSERT INTO schema_database_id (id, created_at) "
    "SELECT lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
    "WHERE NOT EXISTS (SELECT 1 FROM schema_database_id)",
)


def database_id(conn: sqlite3.Connection) -> str | None:
    """The id in the database's bookkeeping (None before the engine first wrote to it)."""
    if not table_exists(conn, "schema_database_id"):
        return None
    row = conn.execute("SELECT id FROM schema_database_id ORDER BY rowid LIMIT 1").fetchone()
    return str(row[0]) if row is not None and row[0] is not None else None


Connection = sqlite3.Connection


def validate_database_file(path: Path) -> None:
    """Refuse a path that cannot be a SQLite database, without creating or changing anything.

    Nothing is opened before ``stat`` says it is a regular file: a FIFO, a device or a socket
    (as the database or as its -journal/-wal/-shm) would block SQLite's open forever, Ctrl-C
    included. A path that cannot be reached (a folder the user cannot enter, a name over the
    file system's limit) is refused with a sentence.
    """
    try:
        kind = special_kind(path)
        companions = [
            (f"{path}{suffix}", special_kind(f"{path}{suffix}")) for suffix in SQLITE_COMPANIONS
        ]
    except NotADirectoryError:
        return  # a file where a folder should be: nothing there to check (open says so)
    except OSError as exc:
        raise DatabasePathError(path_problem(path, exc)) from exc
    if kind == "a directory":
        raise NotADatabaseError(
            f"{path} is a directory, not a SQLite database file; pass the file path."
        )
    if kind is not None:
        raise NotADatabaseError(
            f"{path} is {kind}, not a SQLite database file; nothing was opened. Pass the path "
            "of a database file."
        )
    for companion, companion_kind in companions:
        if companion_kind is not None:
            raise NotADatabaseError(
                f"{companion} is {companion_kind}, where SQLite keeps the database's journal; "
                "nothing was opened. Remove it (it is not SQLite's) and retry."
            )
    if not path.exists():
        return
    if not os.access(path, os.R_OK):
        raise DatabaseError(
            f"Cannot read {path}: permission denied; run as a user who can read it."
        )
    # The header is read through SQLite, never with open(): closing any descriptor of the file
    # drops every POSIX lock this process holds on it, including the locks of this process's
    # other connections (a write transaction would silently lose its lock). SQLite's own close
    # keeps them.
    try:
        probe = sqlite3.connect(f"file:{_uri_path(path)}?mode=ro", uri=True, timeout=0)
        try:
            probe.execute("PRAGMA schema_version").fetchone()
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name == "SQLITE_NOTADB" or "not a database" in str(exc):
            raise NotADatabaseError(
                f"{path} is not a SQLite database (its header is wrong); check the --db path."
            ) from exc
        # Anything else (busy, a WAL that needs recovery) is for the real connection to report.


def connect(
    path: str | os.PathLike[str],
    *,
    read_only: bool = False,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    create: bool = True,
    exclusive: bool = False,
) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (the engine issues BEGIN/COMMIT itself).

    ``create`` makes missing parent folders and the file; ``read_only`` uses SQLite's ``mode=ro`` so
    this process cannot write whatever the file permissions are. ``exclusive`` sets
    ``locking_mode = EXCLUSIVE`` before the first read: the locks this connection takes are kept
    until it closes, and a WAL database cannot be opened at all while another connection has it
    open (``DatabaseLockedError``), which is how restore knows nobody else is using it.
    """
    db_path = Path(path)
    validate_database_file(db_path)
    if not db_path.exists():
        if read_only or not create:
            raise DatabaseNotFoundError(
                f"Database {db_path} does not exist; check the --db path or create it first."
            )
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabasePathError(
                f"Cannot create the folder {db_path.parent} for the database: "
                f"{exc.strerror or exc}; choose a writable location."
            ) from exc
    if read_only:
        target = f"file:{_uri_path(db_path)}?mode=ro"
    else:
        target = f"file:{_uri_path(db_path)}?mode=rwc"
    try:
        conn = sqlite3.connect(
            target,
            uri=True,
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise translate_error(exc, db_path, action="open") from exc
    try:
        if exclusive:
            conn.execute("PRAGMA locking_mode = EXCLUSIVE").fetchone()
        # Reading the schema forces SQLite to open and check the file now, so bad files fail here.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        conn.close()
        raise translate_error(exc, db_path, action="open") from exc
    return conn


def _uri_path(path: Path) -> str:
    """The path for a ``file:`` URI: its bytes as the OS has them (a name that is not valid
    UTF-8 included), percent-encoded, which SQLite decodes back exactly."""
    from urllib.parse import quote

    return quote(os.fsencode(path.absolute()))


def database_path(conn: sqlite3.Connection) -> str:
    """The file behind ``conn`` ('' for an in-memory database)."""
    # Read as bytes: a file name that is not valid UTF-8 is still a legal name (decoded the way
    # the OS would, with surrogateescape), not an error.
    factory = conn.text_factory
    conn.text_factory = bytes
    try:
        rows = conn.execute("PRAGMA database_list").fetchall()
    finally:
        conn.text_factory = factory
    for _seq, name, file in rows:
        if name == b"main":
            return os.fsdecode(file) if file else ""
    return ""


def is_read_only(conn: sqlite3.Connection) -> bool:
    """True when this connection cannot write (``mode=ro`` or a read-only file)."""
    try:
        return bool(conn.execute("PRAGMA query_only").fetchone()[0]) or _readonly_flag(conn)
    except sqlite3.Error:
        return True


def _readonly_flag(conn: sqlite3.Connection) -> bool:
    # No pragma reports mode=ro; an empty write transaction tells, and changes nothing.
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        return getattr(exc, "sqlite_errorname", "") == "SQLITE_READONLY" or "readonly" in str(exc)
    conn.execute("ROLLBACK")
    return False


def begin_immediate(conn: sqlite3.Connection, *, busy_timeout: float) -> None:
    """Take the write lock now (a deferred transaction in WAL mode can fail on its first write)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise translate_error(exc, database_path(conn), busy_timeout=busy_timeout) from exc


def rollback_if_open(conn: sqlite3.Connection) -> None:
    """Roll back unless SQLite already did (it does by itself after SQLITE_FULL or an I/O error).

    A connection that migration code closed has nothing left to roll back (closing did that).
    """
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


class TransactionGuard:
    """Runs migration code inside the engine's transaction, and checks afterwards that it is still
    that same transaction.

    An authorizer denies BEGIN/COMMIT/ROLLBACK while the code runs. Code can remove it (through
    ``tx.connection``), so the transaction is also marked with a savepoint of a random name:
    COMMIT and ROLLBACK release every savepoint, so if it is gone afterwards the transaction
    ended, even if the code began a new one in its place. ``TransactionEnded`` is then raised on
    leaving (in place of the code's own exception, which becomes its cause). One guard serves
    every step on its connection (``SQLiteBackend`` keeps it), under one random name.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        # os.urandom is what secrets.token_hex reads, without importing secrets (hmac, random).
        self.name = f"metamigrate_guard_{os.urandom(8).hex()}"
        self._calls = 0
        self._probes = 0

    def _authorize(self, action: int, *_args: object) -> int:
        self._calls += 1
        if action == sqlite3.SQLITE_TRANSACTION:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    def __enter__(self) -> None:
        self.conn.execute(f"SAVEPOINT {self.name}")
        self.conn.set_authorizer(self._authorize)

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        ended = self.check()
        if ended is None:
            return
        if exc is not None and ended.known_unchanged:
            # SQLite itself rolled back after the code's own error (a full disk): that error
            # says more, and nothing was committed.
            return
        raise ended from exc

    def check(self) -> TransactionEnded | None:
        """Remove the guard; None when the transaction is intact, else how it ended."""
        try:
            # Released with the authorizer still in place (a savepoint is not transaction
            # control): when it works, the transaction is the engine's, and that is one
            # statement per step instead of a probe and a release.
            self.conn.execute(f"RELEASE {self.name}")
        except sqlite3.ProgrammingError:
            return TransactionEnded(guard_removed=True, closed=True)  # the code closed it
        except sqlite3.Error:
            return self._ended()
        self.conn.set_authorizer(None)
        return None

    def _ended(self) -> TransactionEnded | None:
        """The release failed: say whether the code had removed the guard (then part of it may
        be committed) or the database ended the transaction with the guard in place."""
        guard_kept = False
        try:
            # A statement never run before is always prepared, so always authorized: whether our
            # authorizer sees it tells whether it is still the one installed.
            self._calls = 0
            self._probes += 1
            self.conn.execute(f"SELECT '{self.name}', {self._probes}").fetchone()
            guard_kept = self._calls > 0
        except sqlite3.ProgrammingError:
            return TransactionEnded(guard_removed=True, closed=True)
        except sqlite3.Error:
            pass  # an authorizer of the code's own refused it: ours is not the one installed
        self.conn.set_authorizer(None)
        try:
            # Refused by an authorizer the code installed, rather than gone?
            self.conn.execute(f"RELEASE {self.name}")
        except sqlite3.Error:
            return TransactionEnded(guard_removed=not guard_kept)
        return None


def transactions_forbidden(conn: sqlite3.Connection) -> TransactionGuard:
    """Make BEGIN/COMMIT/ROLLBACK fail inside migration code, and notice if it ended ours anyway."""
    return TransactionGuard(conn)


def is_closed(conn: sqlite3.Connection) -> bool:
    try:
        conn.in_transaction  # noqa: B018 - raises on a closed connection
    except sqlite3.ProgrammingError:
        return True
    return False


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def set_user_version(conn: sqlite3.Connection, version: int) -> None:
    # PRAGMA takes no parameters; int() guarantees nothing but a number reaches the SQL.
    conn.execute(f"PRAGMA user_version = {int(version)}")


def data_version(conn: sqlite3.Connection) -> int:
    """Changes when another connection commits: the cheap poll for 'did the file change'."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def table_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


_SPACE = re.compile(r"\s+")
_SPACE_AROUND_PUNCT = re.compile(r"\s*([(),])\s*")


def _normalise_sql(sql: str | None) -> str:
    if not sql:
        return ""
    text = _SPACE.sub(" ", sql.strip())
    return _SPACE_AROUND_PUNCT.sub(r"\1", text).lower()


def _check_clauses(normalised_sql: str) -> list[str]:
    """The CHECK (...) constraints of a CREATE TABLE: no pragma lists them."""
    clauses: list[str] = []
    start = normalised_sql.find("check(")
    while start != -1:
        depth, index = 0, start + len("check")
        for index in range(start + len("check"), len(normalised_sql)):
            depth += {"(": 1, ")": -1}.get(normalised_sql[index], 0)
            if depth == 0:
                break
        clauses.append(normalised_sql[start : index + 1])
        start = normalised_sql.find("check(", index + 1)
    return clauses


def schema_entries(conn: sqlite3.Connection) -> list[str]:
    """The application schema as sorted, order-insensitive facts (bookkeeping excluded).

    Tables are described by their columns, foreign keys and indexes rather than by their CREATE
    text, because ALTER TABLE rewrites that text: a table rebuilt by a down with the same columns
    in another order is the same schema. Views and triggers are compared by normalised SQL.
    """
    return _schema(conn)[0]


def _schema(conn: sqlite3.Connection) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """``schema_entries``, and ``application_tables`` from the same column query."""
    excluded = BOOKKEEPING_TABLES
    # Three statements whatever the schema's size: the pragmas are joined as table-valued
    # functions instead of being asked table by table.
    app_tables = f"m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT IN {_EXCLUDED}"
    facts: list[str] = []
    columns: dict[str, list[str]] = {}
    # Rows come table by table, each table's columns in order; hidden ones (of virtual tables,
    # generated columns) are facts but not among the columns ``pragma_table_info`` lists.
    for table, column, kind, notnull, default, pk, hidden in conn.execute(
        'SELECT m.name, p.name, upper(p.type), p."notnull", p.dflt_value, p.pk, p.hidden '
        f"FROM sqlite_master AS m JOIN pragma_table_xinfo(m.name) AS p WHERE {app_tables}",
        excluded,
    ):
        # Spelled as the list's repr (the format recorded descriptions have), without the list.
        facts.append(f"column {table}.{column} [{kind!r}, {notnull!r}, {default!r}, {pk!r}]")
        listed = columns.setdefault(table, [])
        if not hidden:
            listed.append(column)
    facts += [
        f"fk {table} {rest}"
        for table, *rest in conn.execute(
            'SELECT m.name, f."table", f."from", f."to", f.on_update, f.on_delete '
            f"FROM sqlite_master AS m JOIN pragma_foreign_key_list(m.name) AS f WHERE {app_tables}",
            excluded,
        )
    ]
    objects = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        f"WHERE name NOT LIKE 'sqlite_%' AND tbl_name NOT IN {_EXCLUDED}",
        excluded,
    ).fetchall()
    for kind, name, table, sql in objects:
        if kind == "table":
            lowered = (sql or "").lower()
            # Normalised only when it can tell something (most tables have no CHECK and rowids).
            normalised = _normalise_sql(sql) if "without" in lowered or "check" in lowered else ""
            facts.append(f"table {name} without_rowid={'without rowid' in normalised}")
            facts.extend(f"check {name} {check}" for check in sorted(_check_clauses(normalised)))
        else:
            normalised = _normalise_sql(sql)
            facts.append(f"{kind} {name} on {table} {normalised}")
    facts.sort()
    return facts, {name: tuple(columns[name]) for name in sorted(columns)}


def schema_fingerprint(conn: sqlite3.Connection) -> str:
    """A hash of the live application schema (see ``schema_entries``)."""
    return fingerprint_of(schema_entries(conn))


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
    return [] if rows == ["ok"] else rows


def foreign_key_problems(conn: sqlite3.Connection) -> list[str]:
    problems = []
    for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check").fetchall():
        problems.append(f"row {rowid} of table {table} points at a missing row in {parent}")
    return problems


ErrorKind = str
"""One of: "transaction_control", "locked", "read_only", "disk_full", "not_a_database",
"corrupt", "cannot_open", "io", "constraint", "other"."""


def error_kind(exc: BaseException) -> ErrorKind:
    """What a sqlite3 error means: the one place SQLite's error names and texts are matched."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if text == "not authorized":
        # The authorizer of ``transactions_forbidden`` denied BEGIN/COMMIT/ROLLBACK.
        return "transaction_control"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return "locked"
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return "read_only"
    if name.startswith("SQLITE_FULL") or "database or disk is full" in text:
        return "disk_full"
    if name == "SQLITE_NOTADB" or "not a database" in text:
        return "not_a_database"
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return "corrupt"
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return "cannot_open"
    if name.startswith("SQLITE_IOERR") or "I/O error" in text:
        return "io"
    if isinstance(exc, sqlite3.IntegrityError):
        return "constraint"
    return "other"


def translate_error(
    exc: BaseException,
    path: str | os.PathLike[str] = "",
    *,
    action: str = "use",
    busy_timeout: float | None = None,
) -> MetamigrateError:
    """Turn a sqlite3 exception into one sentence an operator can act on."""
    kind = error_kind(exc)
    text = str(exc)
    where = f" {path}" if path else ""
    if kind == "locked":
        waited = f" for {busy_timeout:g} s" if busy_timeout is not None else ""
        return DatabaseLockedError(
            f"Database{where} is locked by another writer (waited{waited} for the write lock); "
            "retry when the other process has finished, or raise --busy-timeout."
        )
    if kind == "read_only":
        return ReadOnlyDatabaseError(
            f"Database{where} is read-only for this process; nothing was changed. Open it without "
            "--read-only, or fix the file's permissions, to write."
        )
    if kind == "disk_full":
        return DiskFullError(
            f"Disk full while writing{where}: SQLite rolled the change back; free space and retry."
        )
    if kind == "not_a_database":
        return NotADatabaseError(
            f"{path or 'The file'} is not a SQLite database (or it is encrypted); "
            "check the --db path."
        )
    if kind == "corrupt":
        return DatabaseError(
            f"Database{where} is corrupted ({text}); restore it from a backup before migrating."
        )
    if kind == "cannot_open":
        return DatabaseError(
            f"Cannot {action} database{where}: SQLite could not open the file; check that the path "
            "and its folder exist and are accessible."
        )
    if kind == "io":
        return DatabaseError(
            f"I/O error on database{where} ({text}); check the disk, then verify the database."
        )
    return DatabaseError(f"SQLite error on database{where}: {text}.")


def describe_step_error(exc: BaseException) -> str:
    """The cause of a failed migration step, as a phrase (see ``Backend.describe_step_error``)."""
    kind = error_kind(exc)
    text = str(exc)
    if kind == "transaction_control":
        return (
            "the migration tried to BEGIN, COMMIT or ROLLBACK; migrations run inside the "
            "engine's transaction and must not control it"
        )
    if kind == "disk_full":
        return "disk full (SQLite rolled the step back); free space and retry"
    if kind == "locked":
        return f"the database is locked by another connection ({text})"
    return f"SQLite error: {text}"


def _write_failure(exc: BaseException) -> str:
    """Why a copy could not be written, as a phrase for the backup manager's sentence."""
    kind = error_kind(exc)
    if kind == "disk_full":
        return "the disk is full"
    if kind == "io":
        return f"writing failed ({exc}: the disk may be full or failing)"
    if kind in ("cannot_open", "read_only"):
        return "the folder is not writable"
    return str(exc)


def _is_source_error(exc: BaseException) -> bool:
    """A failure that comes from the database being copied, not from the copy being written."""
    return error_kind(exc) in ("corrupt", "not_a_database", "locked")


def is_empty(conn: sqlite3.Connection) -> bool:
    """True when the database has no schema at all (a new or zero-byte file): nothing to lose."""
    return conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is None


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements, respecting strings, comments and triggers."""
    statements: list[str] = []
    buffer = ""
    # Cut at every semicolon that ends a statement (several may share a line); a semicolon inside
    # a string, a comment or a trigger body does not complete the statement, so it stays.
    pieces = sql.split(";")
    for index, piece in enumerate(pieces):
        buffer += piece
        if index == len(pieces) - 1:
            break
        buffer += ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip().strip(";").strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        # A trailing statement without a semicolon is still a statement (a trailing line
        # comment is ended by the newline).
        if not sqlite3.complete_statement(buffer + "\n;"):
            raise ValueError(
                f"Incomplete SQL statement at the end of the script: {buffer.strip()!r}"
            )
        statements.append(buffer.strip())
    return statements


def foreign_keys_enabled(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])


@contextlib.contextmanager
def foreign_keys_off(conn: sqlite3.Connection, needed: bool) -> Iterator[None]:
    """PRAGMA foreign_keys is a no-op inside a transaction, so it is switched around it."""
    if not needed:
        yield
        return
    was_on = foreign_keys_enabled(conn)
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        if was_on:
            # Suppressed: migration code may have closed the connection (its error says so).
            with contextlib.suppress(sqlite3.ProgrammingError):
                conn.execute("PRAGMA foreign_keys = ON")


_APP_TABLES = f"m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT IN {_EXCLUDED}"


def application_tables(conn: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    """Application table -> its column names in order (bookkeeping excluded), in one query."""
    tables: dict[str, list[str]] = {}
    for (name,) in conn.execute(
        f"SELECT m.name FROM sqlite_master AS m WHERE {_APP_TABLES} ORDER BY m.name",
        BOOKKEEPING_TABLES,
    ):
        tables[name] = []
    for table, column in conn.execute(
        f"SELECT m.name, p.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
        f"WHERE {_APP_TABLES} ORDER BY m.name, p.cid",
        BOOKKEEPING_TABLES,
    ):
        tables.setdefault(table, []).append(column)
    return {name: tuple(columns) for name, columns in tables.items()}


def quote_identifier(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


#: Tables counted by one statement in ``table_shapes`` (a compound SELECT may have 500 parts).
_SHAPES_PER_STATEMENT = 100


def table_shapes(
    conn: sqlite3.Connection, tables: Iterable[str] | None = None
) -> dict[str, TableShape]:
    """Rows and non-NULL values per column of each application table (exact counts).

    Counted 100 tables per statement (one ``UNION ALL`` of their counts): a statement per
    table cost more to prepare and run than the counting itself. A batch that fails (a
    virtual table whose module is not loaded) is counted again table by table."""
    described = application_tables(conn)
    names = sorted(described) if tables is None else list(tables)
    columns_of: dict[str, tuple[str, ...]] = {}
    for name in names:
        columns = described.get(name)
        if columns is None:
            columns = tuple(
                row[0] for row in conn.execute("SELECT name FROM pragma_table_info(?)", (name,))
            )
        columns_of[name] = columns
    counts: dict[str, Sequence[int]] = {}
    for first in range(0, len(names), _SHAPES_PER_STATEMENT):
        batch = names[first : first + _SHAPES_PER_STATEMENT]
        try:
            counts.update(_count_batch(conn, batch, columns_of))
        except sqlite3.Error:
            for name in batch:
                try:
                    counts.update(_count_batch(conn, [name], columns_of))
                except sqlite3.Error:
                    # A virtual table whose module is not loaded: its shape still counts, its
                    # rows cannot.
                    counts[name] = [0] * (1 + len(columns_of[name]))
    return {
        name: TableShape(int(counts[name][0]), dict(zip(columns, counts[name][1:], strict=True)))
        for name, columns in columns_of.items()
    }


def _count_batch(
    conn: sqlite3.Connection, names: Sequence[str], columns_of: Mapping[str, Sequence[str]]
) -> dict[str, Sequence[int]]:
    """``count(*)`` and ``count(column)`` of each table in ``names``, in one statement: a table
    alone as it always was, several as rows numbered by their place in ``names`` and padded
    with NULLs to the widest table's count."""
    if len(names) == 1:
        return {names[0]: conn.execute(_count_sql(names[0], columns_of[names[0]])).fetchone()}
    width = max(len(columns_of[name]) for name in names)
    sql = " UNION ALL ".join(
        _count_sql(name, columns_of[name], number=index, width=width)
        for index, name in enumerate(names)
    )
    return {names[row[0]]: row[1 : 2 + len(columns_of[names[row[0]]])] for row in conn.execute(sql)}


def _count_sql(
    table: str, columns: Sequence[str], *, number: int | None = None, width: int = 0
) -> str:
    values = [
        *([] if number is None else [str(number)]),
        "count(*)",
        *(f"count({quote_identifier(c)})" for c in columns),
        *(["NULL"] * (width - len(columns))),
    ]
    return f"SELECT {', '.join(values)} FROM {quote_identifier(table)}"


def applied_head(conn: sqlite3.Connection) -> int:
    """The highest applied version recorded in a database (0 without bookkeeping)."""
    if not table_exists(conn, "schema_migrations"):
        return 0
    return int(
        conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    )


BOOKKEEPING_DDL = bookkeeping_ddl(real="REAL", identity="INTEGER PRIMARY KEY", user="user")


#: What differs from the defaults of ``Capabilities``.
CAPABILITIES = Capabilities(
    product="SQLite",
    name="sqlite",
    foreign_keys_toggle=True,
    version_marker=True,
    change_polling=True,
    backup=True,
    rehearse_on_copy=True,
    integrity_check="PRAGMA quick_check",
    version_marker_name="PRAGMA user_version",
)


#: ``foreign_keys_disabled(False)``: the setting stays as it is (a context that does nothing).
_UNCHANGED: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


class SQLiteBackend:
    """``Backend`` on one ``sqlite3.Connection`` in autocommit mode (the engine issues BEGIN)."""

    capabilities = CAPABILITIES
    driver_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, conn: sqlite3.Connection, options: ConnectOptions, *, owned: bool) -> None:
        self._conn = conn
        self.options = options
        self._owned = owned
        file = database_path(conn)
        self._path = Path(file) if file else None
        self._guard: TransactionGuard | None = None

    def __repr__(self) -> str:
        return f"SQLiteBackend({self.location!r})"

    # -- identity -------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return str(self._path) if self._path is not None else ":memory:"

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def close(self) -> None:
        if self._owned:
            self._conn.close()

    # -- statements -----------------------------------------------------------------------------

    def sql(self, text: str) -> str:
        return text

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> sqlite3.Cursor:
        return self._conn.executemany(sql, rows)

    def script(self, sql: str) -> None:
        for statement in split_statements(sql):
            self._conn.execute(statement)

    # -- transactions -----------------------------------------------------------------------------

    def begin_write(self) -> None:
        begin_immediate(self._conn, busy_timeout=self.options.busy_timeout)

    def commit(self) -> None:
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error:
            rollback_if_open(self._conn)
            raise

    def rollback(self) -> None:
        rollback_if_open(self._conn)

    @property
    def in_transaction(self) -> bool:
        # A connection closed by migration code has no transaction left.
        return not is_closed(self._conn) and self._conn.in_transaction

    def savepoint(self, name: str) -> None:
        self._conn.execute(f"SAVEPOINT {name}")

    def rollback_to_savepoint(self, name: str) -> None:
        with contextlib.suppress(sqlite3.Error):  # also: a connection closed by migration code
            if self._conn.in_transaction:
                self._conn.execute(f"ROLLBACK TO {name}")

    def release_savepoint(self, name: str) -> None:
        self._conn.execute(f"RELEASE {name}")

    def transaction_control_forbidden(self) -> contextlib.AbstractContextManager[None]:
        guard = self._guard
        if guard is None or guard.conn is not self._conn:  # a restore reopens the connection
            guard = self._guard = transactions_forbidden(self._conn)
        return guard

    def foreign_keys_disabled(self, needed: bool) -> contextlib.AbstractContextManager[None]:
        # Almost no migration needs it: nothing to set up then (asked once per step).
        return foreign_keys_off(self._conn, needed) if needed else _UNCHANGED

    def foreign_keys_enabled(self) -> bool:
        """Whether this connection enforces foreign keys now (SQLite only)."""
        return foreign_keys_enabled(self._conn)

    @contextlib.contextmanager
    def rehearsal_copy(self, foreign_keys: bool) -> Iterator[SQLiteBackend]:
        """A backend on a throw-away copy (journal in memory), in an open write transaction."""
        import shutil
        import tempfile

        _remove_dead_rehearsal_copies()
        folder = Path(tempfile.mkdtemp(prefix=f"{_REHEARSAL_PREFIX}{os.getpid()}-"))
        try:
            copy = sqlite3.connect(folder / "rehearsal.db", isolation_level=None)
            try:
                try:
                    self._conn.backup(copy)
                except sqlite3.Error as exc:
                    raise self.translate_error(exc, action="copy") from exc
                copy.execute("PRAGMA journal_mode = MEMORY").fetchone()
                copy.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
                copy.execute("BEGIN IMMEDIATE")
                try:
                    yield SQLiteBackend(copy, self.options, owned=False)
                finally:
                    rollback_if_open(copy)
            finally:
                copy.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def outside_transaction(self) -> contextlib.AbstractContextManager[None]:
        raise MetamigrateError(
            "TRANSACTION = False is not supported on SQLite: every statement SQLite has can run "
            "in a transaction; remove the flag from the migration."
        )

    # -- rehearsal ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def trace(self, callback: TraceCallback | None) -> Iterator[None]:
        self._conn.set_trace_callback(callback)
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed by migration code
                self._conn.set_trace_callback(None)

    def rows_changed(self) -> int:
        try:
            return self._conn.total_changes
        except sqlite3.ProgrammingError:
            return 0  # closed by migration code

    # -- bookkeeping support --------------------------------------------------------------------

    def bookkeeping_ddl(self) -> Sequence[str]:
        return BOOKKEEPING_DDL

    def identity_ddl(self) -> Sequence[str]:
        """Statements that give the database its id if it has none (run by the recorder)."""
        return IDENTITY_DDL

    def database_id(self) -> str | None:
        return database_id(self._conn)

    def read_version_marker(self) -> int | None:
        return user_version(self._conn)

    def write_version_marker(self, version: int) -> None:
        set_user_version(self._conn, version)

    def change_token(self) -> object:
        return data_version(self._conn)

    # -- introspection --------------------------------------------------------------------------

    def table_exists(self, name: str) -> bool:
        return table_exists(self._conn, name)

    def tables(self) -> list[str]:
        return sorted(application_tables(self._conn))

    def columns(self, table: str) -> list[str]:
        return [
            row[1] for row in self._conn.execute("SELECT * FROM pragma_table_info(?)", (table,))
        ]

    def is_empty(self) -> bool:
        return is_empty(self._conn)

    def describe_schema(self) -> SchemaDescription:
        facts, tables = _schema(self._conn)
        return SchemaDescription(tuple(facts), tables)

    def schema_fingerprint(self) -> str:
        return schema_fingerprint(self._conn)

    def table_shapes(self, tables: Iterable[str] | None = None) -> dict[str, TableShape]:
        return table_shapes(self._conn, tables)

    # -- checks ---------------------------------------------------------------------------------

    def is_read_only(self) -> bool:
        return is_read_only(self._conn)

    def integrity_problems(self) -> list[str]:
        return integrity_problems(self._conn)

    def foreign_key_problems(self) -> list[str]:
        return foreign_key_problems(self._conn)

    # -- errors ---------------------------------------------------------------------------------

    def translate_error(self, exc: BaseException, *, action: str = "use") -> MetamigrateError:
        return translate_error(
            exc, self.location, action=action, busy_timeout=self.options.busy_timeout
        )

    def describe_step_error(self, exc: BaseException) -> str:
        return describe_step_error(exc)

    def error_kind(self, exc: BaseException) -> str:
        return error_kind(exc)

    # -- backups --------------------------------------------------------------------------------

    def backup_to(self, target: Path) -> BackupFacts:
        if self._conn.in_transaction:
            raise BackupError(
                "Cannot take a backup from inside a transaction; commit or roll back first."
            )
        try:
            copy = sqlite3.connect(target, isolation_level=None)
        except sqlite3.Error as exc:
            raise BackupTargetError(_write_failure(exc)) from exc
        try:
            try:
                # One step (pages=-1): the copy is a single consistent snapshot, WAL included.
                self._conn.backup(copy)
            except sqlite3.Error as exc:
                if _is_source_error(exc):
                    raise self.translate_error(exc, action="back up") from exc
                raise BackupTargetError(_write_failure(exc)) from exc
            try:
                facts = _facts_of(copy)
                # A backup is one self-contained file, whatever the source's journal mode.
                copy.execute("PRAGMA journal_mode = DELETE").fetchone()
            except sqlite3.Error as exc:
                if not _is_source_error(exc):
                    raise BackupTargetError(_write_failure(exc)) from exc
                facts = BackupFacts(0, "", (str(exc),))
        finally:
            copy.close()
        if not facts.problems:
            fsync_file(target)
        return facts

    def describe_backup(self, path: Path) -> BackupFacts:
        return describe_backup_file(path, busy_timeout=self.options.busy_timeout)

    def restore_from(self, path: Path, keep_current: Callable[[], object]) -> None:
        if self._owned and self._path is not None and journal_mode(self._conn) == "wal":
            # Reopened with locking_mode=EXCLUSIVE: refused while any other connection has the
            # file open, and nobody else can open it until the restore is over.
            self._conn.close()
            try:
                self._conn = connect(
                    self._path,
                    busy_timeout=self.options.busy_timeout,
                    create=False,
                    exclusive=True,
                )
            except DatabaseLockedError as exc:
                raise DatabaseLockedError(
                    f"Cannot restore {self._path}: other connections have it open (WAL mode); "
                    "nothing was changed. Stop them and retry."
                ) from exc
        restore_file(
            path,
            self._path if self._path is not None else Path(":memory:"),
            keep_current,
            live=self._conn,
            busy_timeout=self.options.busy_timeout,
        )


def _facts_of(conn: sqlite3.Connection) -> BackupFacts:
    problems = integrity_problems(conn)
    return BackupFacts(
        applied_head(conn),
        schema_fingerprint(conn),
        tuple(problems),
        database_id(conn) or "",
    )


def describe_backup_file(path: Path, *, busy_timeout: float) -> BackupFacts:
    """Open a backup file read-only and check it (``BackupFacts.problems`` when it fails)."""
    try:
        conn = connect(path, read_only=True, busy_timeout=busy_timeout, create=False)
    except MetamigrateError as exc:
        raise BackupError(f"Cannot restore {path}: {exc.message}") from exc
    try:
        return _facts_of(conn)
    except sqlite3.Error as exc:
        return BackupFacts(0, "", (str(exc),))
    finally:
        conn.close()


def restore_file(
    source_path: Path,
    db_path: Path,
    keep_current: Callable[[], object],
    *,
    live: sqlite3.Connection | None,
    busy_timeout: float,
) -> None:
    """Put the checked backup ``source_path`` in place of ``db_path`` atomically.

    The backup is copied to a temporary file in the database's folder and flushed; then, holding
    the database's lock, ``keep_current()`` backs the current file up and the copy is renamed
    over it. ``live`` (a connection to ``db_path``, None when the file does not exist) is rolled
    back and unusable afterwards. A WAL ``live`` must have been opened with ``exclusive=True``
    (``SQLiteBackend.restore_from`` does that): nobody else has the file open, and its WAL is
    checkpointed and truncated before the rename, so no frame of the old database can meet the
    new one. The journal mode is never switched, so a crash at any moment leaves either the old
    database, as it was, or the backup (in the old database's journal mode).
    """
    folder = db_path.absolute().parent
    if not folder.is_dir():
        raise BackupError(f"Cannot restore into {folder}: the folder does not exist.")
    remove_dead_temps(folder, f"{_TEMP_PREFIX}{db_path.name}.restore.", _TEMP_SUFFIX)
    temp = folder / f"{_TEMP_PREFIX}{db_path.name}.restore.{os.getpid()}{_TEMP_SUFFIX}"
    try:
        wal = live is not None and journal_mode(live) == "wal"
        _copy_for_restore(source_path, temp, db_path, wal=wal, busy_timeout=busy_timeout)
        if live is not None:
            if wal:
                keep_current()  # from ``live``: its exclusive lock keeps everyone else out
                _empty_wal(live, db_path)
                _lock_for_restore(live, db_path, busy_timeout)
            else:
                _lock_for_restore(live, db_path, busy_timeout)
                keep_current()  # from a fresh connection, while ``live`` holds the write lock
        os.replace(temp, db_path)
        fsync_dir(folder)
    except BaseException:
        unlink_quietly(temp)
        raise
    finally:
        if live is not None:
            rollback_if_open(live)


def journal_mode(conn: sqlite3.Connection) -> str:
    return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()


def _empty_wal(live: sqlite3.Connection, db_path: Path) -> None:
    """Checkpoint the whole WAL into the file and truncate it (under the exclusive lock)."""
    try:
        busy, _log, _done = live.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as exc:
        raise translate_error(exc, db_path) from exc
    if busy:
        raise DatabaseLockedError(
            f"Cannot restore {db_path}: its WAL could not be checkpointed (another connection "
            "is using it); nothing was changed. Stop it and retry."
        )


def _copy_for_restore(
    source_path: Path, temp: Path, db_path: Path, *, wal: bool, busy_timeout: float
) -> None:
    try:
        source = connect(source_path, read_only=True, busy_timeout=busy_timeout, create=False)
    except MetamigrateError as exc:
        raise BackupError(f"Cannot read backup {source_path}: {exc.message}") from exc
    try:
        target = sqlite3.connect(temp, isolation_level=None)
        try:
            source.backup(target)
            target.execute(f"PRAGMA journal_mode = {'WAL' if wal else 'DELETE'}").fetchone()
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise BackupError(
            f"Cannot restore {source_path}: writing the copy beside {db_path} failed "
            f"({exc}); nothing was changed. Free space and retry."
        ) from exc
    finally:
        source.close()
    fsync_file(temp)


def _lock_for_restore(live: sqlite3.Connection, db_path: Path, busy_timeout: float) -> None:
    try:
        live.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        translated = translate_error(exc, db_path, busy_timeout=busy_timeout)
        if isinstance(translated, DatabaseLockedError):
            raise DatabaseLockedError(
                f"Cannot restore {db_path}: another process holds its write lock (waited "
                f"{busy_timeout:g} s); nothing was changed. Stop it and retry."
            ) from exc
        raise translated from exc


def read_database_id(path: Path, *, busy_timeout: float) -> str | None:
    """The database id inside the file ``path`` (None when it has none or cannot be read)."""
    try:
        conn = sqlite3.connect(f"file:{_uri_path(path)}?mode=ro", uri=True, timeout=busy_timeout)
    except sqlite3.Error:
        return None
    try:
        return database_id(conn)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


_TEMP_PREFIX = "."
_TEMP_SUFFIX = ".tmp"
_REHEARSAL_PREFIX = "metamigrate-rehearsal-"


def _remove_dead_rehearsal_copies() -> None:
    """Delete the throw-away copies of rehearsals whose process was killed."""
    import shutil
    import tempfile

    from engine.files import process_alive

    with contextlib.suppress(OSError):
        for entry in os.scandir(tempfile.gettempdir()):
            if not entry.name.startswith(_REHEARSAL_PREFIX):
                continue
            pid_text = entry.name[len(_REHEARSAL_PREFIX) :].split("-", 1)[0]
            if pid_text.isdigit() and not process_alive(int(pid_text)):
                shutil.rmtree(entry.path, ignore_errors=True)


def validate_location(location: str | os.PathLike[str]) -> None:
    """``validate_database_file`` for a path or ``sqlite:///`` URL (``:memory:`` is fine)."""
    from engine.backends import sqlite_path

    path = sqlite_path(location)
    if str(path) != ":memory:":
        validate_database_file(Path(path))


def connect_backend(location: str | os.PathLike[str], options: ConnectOptions) -> SQLiteBackend:
    """Open ``location`` (a path or ``sqlite:///path``) as a backend that owns its connection."""
    from engine.backends import sqlite_path

    conn = connect(
        sqlite_path(location),
        read_only=options.read_only,
        busy_timeout=options.busy_timeout,
        create=options.create,
    )
    if options.foreign_keys:
        conn.execute("PRAGMA foreign_keys = ON")
    return SQLiteBackend(conn, options, owned=True)


def wrap_connection(conn: sqlite3.Connection, options: ConnectOptions) -> SQLiteBackend:
    """A backend on the caller's connection (left open by ``close``)."""
    return SQLiteBackend(conn, options, owned=False)


if TYPE_CHECKING:
    # mypy checks here that SQLiteBackend implements the whole protocol.
    from engine.backends.base import Backend

    _conforms: type[Backend] = SQLiteBackend
