"""Everything that is specific to SQLite: opening files, locking, fingerprints, error translation.

The rest of the engine talks to a DB-API connection through the few functions here, so that another
backend means another module like this one, not edits across the engine.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from engine.errors import (
    DatabaseError,
    DatabaseLockedError,
    DatabaseNotFoundError,
    DatabasePathError,
    DiskFullError,
    MetamigrateError,
    NotADatabaseError,
    ReadOnlyDatabaseError,
)

SQLITE_HEADER = b"SQLite format 3\x00"

#: Tables the engine owns; they are not part of the application schema fingerprint.
BOOKKEEPING_TABLES = ("schema_migrations", "schema_migration_history")

Connection = sqlite3.Connection


def validate_database_file(path: Path) -> None:
    """Refuse a path that cannot be a SQLite database, without creating or changing anything."""
    if path.is_dir():
        raise NotADatabaseError(
            f"{path} is a directory, not a SQLite database file; pass the file path."
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
    busy_timeout: float = 5.0,
    create: bool = True,
) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (the engine issues BEGIN/COMMIT itself).

    ``create`` makes missing parent folders and the file; ``read_only`` uses SQLite's ``mode=ro`` so
    this process cannot write whatever the file permissions are.
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
        # Reading the schema forces SQLite to open and check the file now, so bad files fail here.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise translate_error(exc, db_path, action="open") from exc
    return conn


def _uri_path(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path.absolute()))


def database_path(conn: sqlite3.Connection) -> str:
    """The file behind ``conn`` ('' for an in-memory database)."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file or "")
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
    """Roll back unless SQLite already did (it does by itself after SQLITE_FULL or an I/O error)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


@contextlib.contextmanager
def transactions_forbidden(conn: sqlite3.Connection) -> Iterator[None]:
    """Make BEGIN/COMMIT/ROLLBACK fail inside migration code, so it cannot end our transaction."""

    def authorizer(action: int, *_args: object) -> int:
        if action == sqlite3.SQLITE_TRANSACTION:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    conn.set_authorizer(authorizer)
    try:
        yield
    finally:
        conn.set_authorizer(None)


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
    excluded = BOOKKEEPING_TABLES
    # Three statements whatever the schema's size: the pragmas are joined as table-valued
    # functions instead of being asked table by table.
    app_tables = "m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT IN (?, ?)"
    facts = [
        f"column {table}.{column} {rest}"
        for table, column, *rest in conn.execute(
            'SELECT m.name, p.name, upper(p.type), p."notnull", p.dflt_value, p.pk '
            f"FROM sqlite_master AS m JOIN pragma_table_xinfo(m.name) AS p WHERE {app_tables}",
            excluded,
        )
    ]
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
        "WHERE name NOT LIKE 'sqlite_%' AND tbl_name NOT IN (?, ?)",
        excluded,
    ).fetchall()
    for kind, name, table, sql in objects:
        normalised = _normalise_sql(sql)
        if kind == "table":
            facts.append(f"table {name} without_rowid={'without rowid' in normalised}")
            facts.extend(f"check {name} {check}" for check in sorted(_check_clauses(normalised)))
        else:
            facts.append(f"{kind} {name} on {table} {normalised}")
    facts.sort()
    return facts


def schema_fingerprint(conn: sqlite3.Connection) -> str:
    """A hash of the live application schema (see ``schema_entries``)."""
    import hashlib

    digest = hashlib.sha256()
    for fact in schema_entries(conn):
        digest.update(fact.encode())
        digest.update(b"\x1e")
    return digest.hexdigest()[:16]


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
    return [] if rows == ["ok"] else rows


def foreign_key_problems(conn: sqlite3.Connection) -> list[str]:
    problems = []
    for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check").fetchall():
        problems.append(f"row {rowid} of table {table} points at a missing row in {parent}")
    return problems


def translate_error(
    exc: BaseException,
    path: str | os.PathLike[str] = "",
    *,
    action: str = "use",
    busy_timeout: float | None = None,
) -> MetamigrateError:
    """Turn a sqlite3 exception into one sentence an operator can act on."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    where = f" {path}" if path else ""
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED") or "locked" in text:
        waited = f" for {busy_timeout:g} s" if busy_timeout is not None else ""
        return DatabaseLockedError(
            f"Database{where} is locked by another writer (waited{waited} for the write lock); "
            "retry when the other process has finished, or raise --busy-timeout."
        )
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return ReadOnlyDatabaseError(
            f"Database{where} is read-only for this process; nothing was changed. Open it without "
            "--read-only, or fix the file's permissions, to write."
        )
    if name.startswith("SQLITE_FULL") or "database or disk is full" in text:
        return DiskFullError(
            f"Disk full while writing{where}: SQLite rolled the change back; free space and retry."
        )
    if name in ("SQLITE_NOTADB",) or "file is not a database" in text:
        return NotADatabaseError(
            f"{path or 'The file'} is not a SQLite database (or it is encrypted); "
            "check the --db path."
        )
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return DatabaseError(
            f"Database{where} is corrupted ({text}); restore it from a backup before migrating."
        )
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return DatabaseError(
            f"Cannot {action} database{where}: SQLite could not open the file; check that the path "
            "and its folder exist and are accessible."
        )
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        return DatabaseError(
            f"I/O error on database{where} ({text}); check the disk, then verify the database."
        )
    return DatabaseError(f"SQLite error on database{where}: {text}.")


def is_empty(conn: sqlite3.Connection) -> bool:
    """True when the database has no schema at all (a new or zero-byte file): nothing to lose."""
    return conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is None
