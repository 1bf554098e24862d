"""The PostgreSQL backend: connecting from a URL, the migration lock, introspection of one schema
from ``pg_catalog``, and the translation of psycopg errors (the one place their codes are read).

``PostgresBackend`` implements ``engine.backends.base.Backend`` on one ``psycopg.Connection`` in
autocommit mode: the engine issues ``BEGIN``/``COMMIT`` itself, and a ``TRANSACTION = False``
migration simply runs without them.

The migration lock is ``pg_advisory_xact_lock`` on a key derived from the schema and the
bookkeeping table, taken first in every write transaction: it is released by COMMIT, ROLLBACK or
the death of the connection, so a killed process leaves nothing behind, and it works through a
transaction-pooling proxy. Its wait is bounded (``lock_wait``, default 60 s); when it expires the
error names the holder from ``pg_locks`` and ``pg_stat_activity``.

Importing this module imports psycopg; ``engine.backends`` imports it only for a PostgreSQL URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import psycopg
import psycopg.errors as pg_errors
from psycopg.pq import ExecStatus, TransactionStatus

from engine.backends.base import (
    BOOKKEEPING_TABLES,
    BackupFacts,
    Capabilities,
    ConnectOptions,
    Params,
    SchemaDescription,
    TableShape,
    TraceCallback,
    bookkeeping_ddl,
    fingerprint_of,
    qmark_to_format,
)
from engine.errors import (
    DatabaseError,
    DatabaseLockedError,
    DatabaseNotFoundError,
    DatabasePathError,
    DiskFullError,
    MetamigrateError,
    ReadOnlyDatabaseError,
)
from engine.settings import DEFAULT_DDL_LOCK_TIMEOUT, DEFAULT_LOCK_WAIT, DEFAULT_SCHEMA

#: Tables of at most this many bytes are counted exactly; larger ones are estimated (reltuples).
EXACT_COUNT_MAX_BYTES = 32 * 1024 * 1024
#: PostgreSQL truncates ``application_name`` to 63 bytes.
_APPLICATION_NAME_MAX = 63
#: The channel the engine announces changes of the applied set on (payload "<schema> applied 7"
#: or "<schema> unapplied 7"), in the transaction of each migration, rollback and stamp.
CHANGE_CHANNEL = "metamigrate"


# -- URLs ---------------------------------------------------------------------------------------


def is_postgres_url(location: object) -> bool:
    return isinstance(location, str) and location.lower().startswith(
        ("postgresql://", "postgres://", "postgresql+", "postgres+")
    )


def mask_password(location: str) -> str:
    """``location`` with any password replaced by ``***`` (see ``display_location``)."""
    from engine.backends import display_location

    return display_location(location)


def libpq_url(location: str) -> str:
    """The location as libpq takes it: ``postgres://`` and SQLAlchemy-style
    ``postgresql+psycopg://`` become ``postgresql://``; a key=value string is kept."""
    match = re.match(r"^(postgres(?:ql)?)(\+[A-Za-z0-9_]+)?://", location, re.IGNORECASE)
    if match is None:
        return location
    return "postgresql://" + location[match.end() :]


def application_name(base: str) -> str:
    """``metamigrate <command> user@host pid``: other operators see who runs what, from where."""
    from engine.recorder import identity

    user, host = identity()
    name = f"{base} {user}@{host} {os.getpid()}"
    encoded = name.encode()[:_APPLICATION_NAME_MAX]
    return encoded.decode(errors="ignore")


def quote_identifier(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def lock_key(schema: str) -> int:
    """The advisory lock key of a schema's migrations: a signed 64-bit number derived from the
    schema and the bookkeeping table (the same in every process, on every host)."""
    digest = hashlib.sha256(f"metamigrate {schema}.schema_migrations".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _timeout_ms(value: float) -> int:
    """A lock_timeout in whole milliseconds, never 0 (0 means wait forever)."""
    return max(1, math.ceil(value * 1000))


# -- statements: splitting, and what migration code may not run ----------------------------------

_TRANSACTION_CONTROL = re.compile(
    r"^\s*(?:BEGIN|START\s+TRANSACTION|COMMIT|END|ABORT|PREPARE\s+TRANSACTION|"
    r"ROLLBACK(?!\s+(?:TRANSACTION\s+|WORK\s+)?TO\b))\b",
    re.IGNORECASE,
)
#: Every transaction-control statement holds one of these words; a text without any of them
#: (most DDL) needs no splitting to know it holds none.
_CONTROL_WORD = re.compile(r"\b(?:BEGIN|START|COMMIT|END|ABORT|PREPARE|ROLLBACK)\b", re.IGNORECASE)
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def split_statements(sql: str) -> list[str]:
    """Split a script into statements at the semicolons outside strings, quoted names, dollar
    quotes and comments. Raises ValueError for an unterminated string or comment."""
    statements: list[str] = []
    start = index = 0
    length = len(sql)
    while index < length:
        char = sql[index]
        if char == "'":
            escaped = (
                index > 0 and sql[index - 1] in "eE" and not sql[index - 2 : index - 1].isalnum()
            )
            index = _end_of_quote(sql, index, "'", backslash=escaped)
        elif char == '"':
            index = _end_of_quote(sql, index, '"', backslash=False)
        elif char == "-" and sql.startswith("--", index):
            newline = sql.find("\n", index)
            index = length if newline == -1 else newline + 1
        elif char == "/" and sql.startswith("/*", index):
            index = _end_of_block_comment(sql, index)
        elif char == "$" and (match := _DOLLAR_TAG.match(sql, index)) is not None:
            if index > 0 and (sql[index - 1].isalnum() or sql[index - 1] == "_"):
                index += 1  # a $ inside an identifier or a $1 parameter
                continue
            end = sql.find(match.group(), match.end())
            if end == -1:
                raise ValueError(
                    "Unterminated dollar-quoted string at the end of the script: "
                    f"{sql[index:][:60]!r}"
                )
            index = end + len(match.group())
        elif char == ";":
            statement = sql[start:index].strip()
            if statement:
                statements.append(statement)
            start = index = index + 1
        else:
            index += 1
    rest = sql[start:].strip()
    if rest and not _only_comments(rest):
        statements.append(rest)
    return statements


def _end_of_quote(sql: str, index: int, quote_char: str, *, backslash: bool) -> int:
    position = index + 1
    while position < len(sql):
        char = sql[position]
        if backslash and char == "\\":
            position += 2
            continue
        if char == quote_char:
            if sql.startswith(quote_char * 2, position):
                position += 2
                continue
            return position + 1
        position += 1
    raise ValueError(f"Unterminated quoted text at the end of the script: {sql[index:][:60]!r}")


def _end_of_block_comment(sql: str, index: int) -> int:
    depth, position = 0, index
    while position < len(sql):
        if sql.startswith("/*", position):
            depth += 1
            position += 2
        elif sql.startswith("*/", position):
            depth -= 1
            position += 2
            if depth == 0:
                return position
        else:
            position += 1
    raise ValueError("Unterminated /* comment at the end of the script.")


def _only_comments(text: str) -> bool:
    stripped = re.sub(r"--[^\n]*", "", text)
    stripped = re.sub(r"/\*.*?\*/", "", stripped, flags=re.DOTALL)
    return not stripped.strip()


def _strip_leading_comments(statement: str) -> str:
    previous = None
    while previous != statement:
        previous = statement
        statement = re.sub(r"^\s*(--[^\n]*\n?|/\*.*?\*/)", "", statement, flags=re.DOTALL)
    return statement


def is_transaction_control(sql: str) -> bool:
    """True when any statement of ``sql`` begins, ends or prepares a transaction (savepoints and
    ROLLBACK TO are allowed: they cannot end the engine's transaction)."""
    if _CONTROL_WORD.search(sql) is None:
        return False
    try:
        statements = split_statements(sql)
    except ValueError:
        statements = [sql]
    return any(_TRANSACTION_CONTROL.match(_strip_leading_comments(s)) for s in statements)


class TransactionControlDenied(psycopg.ProgrammingError):
    """Migration code tried to BEGIN, COMMIT or ROLLBACK the engine's transaction."""


class _Session:
    """Per-connection state the cursors share: the guard, the trace, the rows-changed total."""

    def __init__(self) -> None:
        self.forbid_transaction_control = False
        self.trace: TraceCallback | None = None
        self.rows_changed = 0
        self.last_statement = ""
        #: Engine writes waiting for the next statement or the COMMIT (``execute_at_commit``).
        self.deferred: list[str] = []

    def flush(self, cursor: psycopg.Cursor[Any]) -> None:
        """Send the deferred writes now (before the statement about to run)."""
        if self.deferred:
            batch, self.deferred = "; ".join(self.deferred), []
            self.last_statement = batch
            psycopg.Cursor.execute(cursor, batch)


_SESSION_ATTRIBUTE = "_metamigrate_session"
_COUNTED = ("INSERT", "UPDATE", "DELETE", "MERGE", "COPY")


class _Cursor(psycopg.Cursor[Any]):
    """Every statement of the connection, the engine's and migration code's (``tx.connection``
    included), passes here: transaction control is refused while a migration runs, the trace
    sees the text, and the rows it changed are added up for rehearsal reports."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        session: _Session | None = getattr(self.connection, _SESSION_ATTRIBUTE, None)
        if session is None:
            return super().execute(query, params, **kwargs)
        text = _query_text(query)
        session.last_statement = text
        if session.forbid_transaction_control and is_transaction_control(text):
            raise TransactionControlDenied(
                "migration code may not control the engine's transaction"
            )
        session.flush(self)
        session.last_statement = text
        if session.trace is not None:
            session.trace(text)
        result = super().execute(query, params, **kwargs)
        session.rows_changed += _changed_rows(self)
        return result

    def executemany(self, query: Any, params_seq: Iterable[Any], **kwargs: Any) -> None:
        session: _Session | None = getattr(self.connection, _SESSION_ATTRIBUTE, None)
        if session is None:
            super().executemany(query, params_seq, **kwargs)
            return
        text = _query_text(query)
        session.last_statement = text
        if session.forbid_transaction_control and is_transaction_control(text):
            raise TransactionControlDenied(
                "migration code may not control the engine's transaction"
            )
        session.flush(self)
        session.last_statement = text
        if session.trace is not None:
            session.trace(text)
        super().executemany(query, params_seq, **kwargs)
        status = (self.statusmessage or "").split(" ", 1)[0]
        if status in _COUNTED and self.rowcount > 0:
            session.rows_changed += self.rowcount


def _query_text(query: Any) -> str:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode(errors="replace")
    with contextlib.suppress(Exception):
        return str(query.as_string(None))
    return str(query)


_COUNTED_STATUS = tuple(f"{word} ".encode() for word in _COUNTED)


def _changed_rows(cursor: psycopg.Cursor[Any]) -> int:
    total = 0
    results = getattr(cursor, "_results", None) or []
    for result in results:
        status = result.command_status
        if status and status.startswith(_COUNTED_STATUS):
            with contextlib.suppress(ValueError):
                total += int(status.rsplit(b" ", 1)[-1])
    return total


# -- errors: the one place psycopg errors are interpreted --------------------------------------

ErrorKind = str
"""One of: "transaction_control", "refused", "unknown_host", "timeout", "auth", "no_database",
"permission", "read_only", "lock_timeout", "statement_timeout", "gone", "disk_full",
"needs_autocommit", "deadlock", "constraint", "lock_table_full", "other"."""


def error_kind(exc: BaseException) -> ErrorKind:
    """What a psycopg error means (by SQLSTATE where the server sent one, else libpq's text)."""
    if isinstance(exc, TransactionControlDenied):
        return "transaction_control"
    if not isinstance(exc, psycopg.Error):
        return "other"
    state = exc.sqlstate or ""
    text = str(exc)
    by_state = {
        "42501": "permission",
        "25006": "read_only",
        "55P03": "lock_timeout",
        "53100": "disk_full",
        "25001": "needs_autocommit",
        "40P01": "deadlock",
        "3D000": "no_database",
        "28P01": "auth",
        "28000": "auth",
    }
    if state in by_state:
        return by_state[state]
    if state.startswith("23"):  # integrity_constraint_violation: unique, foreign key, check, ...
        return "constraint"
    if state == "53200" and "shared memory" in text:
        # out_of_memory "out of shared memory": the server's lock table is full (one transaction
        # holding a lock per table and index it touched: a long --atomic run, say).
        return "lock_table_full"
    if state == "57014":
        return "lock_timeout" if "lock timeout" in text else "statement_timeout"
    if state.startswith(("57P", "08")):
        return "gone"
    lowered = text.lower()
    if "connection refused" in lowered or "no such file or directory" in lowered:
        return "refused"
    if "failed to resolve host" in lowered or "could not translate host name" in lowered:
        return "unknown_host"
    if "timeout expired" in lowered:
        return "timeout"
    if (
        "password authentication failed" in lowered
        or "authentication failed" in lowered
        or "no pg_hba.conf entry" in lowered
        or ("role" in lowered and "does not exist" in lowered)
        or "no password supplied" in lowered
    ):
        return "auth"
    if "database" in lowered and "does not exist" in lowered:
        return "no_database"
    if "permission denied" in lowered:
        return "permission"
    if (
        "server closed the connection" in lowered
        or "terminating connection" in lowered
        or "connection is closed" in lowered
        or "consuming input failed" in lowered
        or "the connection is lost" in lowered
        or "ssl syscall error" in lowered
    ):
        return "gone"
    return "other"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # libpq prefixes: 'connection failed: connection to server at "h", port 5 failed: FATAL:  ...'
    text = text.split("\n", 1)[0]
    text = re.sub(r"^.*failed:\s+(FATAL|ERROR):\s+", "", text)
    return text.rstrip(".")


def translate_error(
    exc: BaseException,
    location: str = "",
    *,
    action: str = "use",
    schema: str = DEFAULT_SCHEMA,
    connect_timeout: float | None = None,
) -> MetamigrateError:
    """Turn a psycopg exception into one sentence an operator can act on."""
    kind = error_kind(exc)
    where = f" {mask_password(location)}" if location else ""
    detail = _first_line(exc)
    if kind == "refused":
        return DatabaseError(
            f"Cannot connect to PostgreSQL{where}: connection refused; check that the server is "
            "running and the host and port are right."
        )
    if kind == "unknown_host":
        return DatabasePathError(
            f"Cannot connect to PostgreSQL{where}: unknown host ({detail}); check the host name "
            "in --db."
        )
    if kind == "timeout":
        waited = f" within {_seconds(connect_timeout)}" if connect_timeout else ""
        return DatabaseError(
            f"Cannot connect to PostgreSQL{where}: the server did not answer{waited}; check the "
            "host, the network and the firewall."
        )
    if kind == "auth":
        return DatabasePathError(
            f"Cannot connect to PostgreSQL{where}: authentication failed ({detail}); check the "
            "user and password (PGPASSWORD or ~/.pgpass) and pg_hba.conf."
        )
    if kind == "no_database":
        return DatabaseNotFoundError(
            f"Cannot connect to PostgreSQL{where}: {detail}; create it first (createdb) or fix "
            "the database name in --db."
        )
    if kind == "permission":
        return ReadOnlyDatabaseError(
            f"No permission to {action} schema {schema} on{where or ' the database'} ({detail}); "
            "nothing was changed. Grant the role USAGE and CREATE on the schema, or use --schema."
        )
    if kind == "read_only":
        return ReadOnlyDatabaseError(
            f"Database{where} is read-only (a standby, or default_transaction_read_only); nothing "
            "was changed. Run migrations against the primary."
        )
    if kind == "lock_timeout":
        return DatabaseLockedError(
            f"Gave up waiting for a lock on{where or ' the database'} ({detail}); nothing was "
            "changed. Retry when the other session has finished."
        )
    if kind == "statement_timeout":
        return DatabaseError(
            f"A statement on{where or ' the database'} ran past its statement_timeout and was "
            "cancelled; nothing was changed. Raise --statement-timeout or retry later."
        )
    if kind == "gone":
        return DatabaseError(
            f"The connection to PostgreSQL{where} was lost ({detail}); the server rolled back the "
            "open transaction. Check the server, then run the command again."
        )
    if kind == "lock_table_full":
        return DatabaseError(
            f"The lock table of the PostgreSQL server{where} is full (out of shared memory): "
            "one transaction took more locks than max_locks_per_transaction allows; the change "
            "was rolled back. Run without --atomic (a transaction per migration), or raise "
            "max_locks_per_transaction."
        )
    if kind == "disk_full":
        return DiskFullError(
            f"The PostgreSQL server{where} is out of disk space; the change was rolled back. Free "
            "space on the server and retry."
        )
    return DatabaseError(f"PostgreSQL error on{where or ' the database'}: {detail}.")


# -- the migration lock's holder --------------------------------------------------------------

_HOLDER_SQL = """
SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket'),
       coalesce(a.usename, ''), coalesce(a.state, ''),
       extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::float8,
       left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 120)
FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid::int8 = %s AND l.objid::int8 = %s AND l.pid <> pg_backend_pid()
LIMIT 1
"""


def _key_parts(key: int) -> tuple[int, int]:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def describe_session(row: Sequence[Any]) -> str:
    pid, app, client, user, state, held, query = row
    parts = [f"pid {pid}"]
    if app:
        parts.append(f"application {app!r}")
    parts.append(f"user {user}" if user else "")
    parts.append(f"from {client}")
    parts.append(f"held for {held:.0f} s")
    doing = f"{state}: {query}" if state == "active" and query else state
    if doing:
        parts.append(doing)
    return ", ".join(p for p in parts if p)


def lock_holder(conn: psycopg.Connection[Any], key: int) -> str | None:
    """Who holds the advisory lock ``key`` now, in words (None: nobody)."""
    try:
        row = conn.execute(_HOLDER_SQL, _key_parts(key)).fetchone()
    except psycopg.Error:
        return None
    return None if row is None else describe_session(row)


_RELATION_LOCKS_SQL = """
SELECT DISTINCT c.relname, a.pid, coalesce(a.application_name, ''),
       coalesce(host(a.client_addr), 'local socket'), coalesce(a.usename, ''),
       coalesce(a.state, ''),
       extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::float8,
       left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 120)
FROM pg_locks AS l
JOIN pg_class AS c ON c.oid = l.relation
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND n.nspname = %s
ORDER BY a.pid
"""


def blocking_sessions(
    conn: psycopg.Connection[Any], schema: str, statement: str
) -> list[tuple[str, str]]:
    """(object, session in words) for the other sessions holding locks on relations of ``schema``
    that ``statement`` names (all of the schema's locked relations when it names none)."""
    try:
        rows = conn.execute(_RELATION_LOCKS_SQL, (schema,)).fetchall()
    except psycopg.Error:
        return []
    words = {w.lower() for w in re.findall(r'[A-Za-z_][A-Za-z0-9_$]*|"[^"]+"', statement)}
    words = {w.strip('"') for w in words}
    named = [row for row in rows if row[0].lower() in words]
    chosen = named or rows
    seen: set[tuple[str, int]] = set()
    found: list[tuple[str, str]] = []
    for row in chosen:
        if (row[0], row[1]) in seen:
            continue
        seen.add((row[0], row[1]))
        found.append((f"{schema}.{row[0]}", describe_session(row[1:])))
    return found[:3]


# -- introspection -----------------------------------------------------------------------------

_BOOKKEEPING_OIDS = """
(SELECT c.oid FROM pg_class AS c
 WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)
   AND c.relname IN ('schema_migrations', 'schema_migration_history'))
"""

#: Every structural fact of one schema as text, in one round trip. Bookkeeping tables and what
#: belongs to them (their columns, constraints, indexes, identity sequences) are left out, and so
#: are objects of extensions.
_FACTS_SQL = f"""
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s),
book AS {_BOOKKEEPING_OIDS},
ext AS (SELECT objid FROM pg_depend WHERE deptype = 'e'),
rel AS (
  SELECT c.oid, c.relname, c.relkind, c.relpersistence
  FROM pg_class AS c
  WHERE c.relnamespace = (SELECT oid FROM ns) AND c.oid NOT IN (SELECT oid FROM book)
    AND c.oid NOT IN (SELECT objid FROM ext)
)
SELECT 'table ' || r.relname || ' kind=' || r.relkind::text
       || ' persistence=' || r.relpersistence::text,
       NULL::text, NULL::text, NULL::int
FROM rel AS r WHERE r.relkind IN ('r', 'p', 'f')
UNION ALL
SELECT 'column ' || r.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || ' notnull=' || a.attnotnull
       || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
       || ' identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text
       || ' collation=' || coalesce(NULLIF(co.collname, 'default'), ''),
       r.relname::text, a.attname::text, a.attnum::int
FROM rel AS r
JOIN pg_attribute AS a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation AS co ON co.oid = a.attcollation AND a.attcollation <> 0
WHERE r.relkind IN ('r', 'p', 'f')
UNION ALL
SELECT 'constraint ' || r.relname || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
       || CASE WHEN con.convalidated THEN '' ELSE ' not_valid' END, NULL, NULL, NULL
FROM pg_constraint AS con JOIN rel AS r ON r.oid = con.conrelid
UNION ALL
SELECT 'index ' || ic.relname || ' ' || pg_get_indexdef(i.indexrelid)
       || CASE WHEN i.indisvalid THEN '' ELSE ' invalid' END, NULL, NULL, NULL
FROM pg_index AS i JOIN rel AS r ON r.oid = i.indrelid JOIN pg_class AS ic ON ic.oid = i.indexrelid
UNION ALL
SELECT CASE r.relkind WHEN 'v' THEN 'view ' ELSE 'materialized_view ' END || r.relname || ' '
       || regexp_replace(pg_get_viewdef(r.oid), '\\s+', ' ', 'g'), NULL, NULL, NULL
FROM rel AS r WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT 'sequence ' || r.relname || ' ' || format_type(s.seqtypid, NULL) || ' start=' || s.seqstart
       || ' increment=' || s.seqincrement || ' min=' || s.seqmin || ' max=' || s.seqmax
       || ' cycle=' || s.seqcycle
       || ' owned_by=' || coalesce((
            SELECT t.relname || '.' || a.attname FROM pg_depend AS dep
            JOIN pg_class AS t ON t.oid = dep.refobjid
            JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum = dep.refobjsubid
            WHERE dep.classid = 'pg_class'::regclass AND dep.objid = r.oid
              AND dep.deptype IN ('a', 'i') LIMIT 1), ''),
       NULL, NULL, NULL
FROM rel AS r JOIN pg_sequence AS s ON s.seqrelid = r.oid
WHERE NOT EXISTS (
  SELECT 1 FROM pg_depend AS dep WHERE dep.classid = 'pg_class'::regclass AND dep.objid = r.oid
    AND dep.refobjid IN (SELECT oid FROM book) AND dep.deptype IN ('a', 'i'))
UNION ALL
SELECT 'trigger ' || r.relname || '.' || t.tgname || ' ' || pg_get_triggerdef(t.oid)
       || CASE WHEN t.tgenabled = 'D' THEN ' disabled' ELSE '' END, NULL, NULL, NULL
FROM pg_trigger AS t JOIN rel AS r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') '
       || p.prokind::text || ' returns ' || coalesce(pg_get_function_result(p.oid), '') || ' '
       || md5(coalesce(p.prosrc, '')) || ' ' || p.provolatile::text,
       NULL, NULL, NULL
FROM pg_proc AS p
WHERE p.pronamespace = (SELECT oid FROM ns) AND p.oid NOT IN (SELECT objid FROM ext)
UNION ALL
SELECT 'type ' || t.typname || ' ' || t.typtype::text || ' '
       || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                    FROM pg_enum AS e WHERE e.enumtypid = t.oid), ''),
       NULL, NULL, NULL
FROM pg_type AS t
WHERE t.typnamespace = (SELECT oid FROM ns) AND t.typtype IN ('e', 'd')
  AND t.oid NOT IN (SELECT objid FROM ext)
"""

_TABLE_SIZES_SQL = f"""
SELECT c.relname, CASE c.relkind WHEN 'p' THEN -1 ELSE pg_relation_size(c.oid) END,
       c.reltuples::float8
FROM pg_class AS c
WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)
  AND c.relkind IN ('r', 'p') AND c.oid NOT IN {_BOOKKEEPING_OIDS}
"""


#: What differs from the defaults of ``Capabilities``.
CAPABILITIES = Capabilities(
    product="PostgreSQL",
    name="postgresql",
    paramstyle="format",
    backup=True,
    non_transactional=True,
    exact_row_counts=False,
    shared_server=True,
)

BOOKKEEPING_DDL = bookkeeping_ddl(
    real="DOUBLE PRECISION",
    identity="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    user='"user"',
)


#: A cheap signature of one schema's structure: every DDL statement writes a new version (a new
#: ``xmin``) of a row in one of these catalogs, or adds or removes one; row changes do not.
SCHEMA_SIGNATURE = """
SELECT (SELECT count(*) || ':' || coalesce(sum(hashtext(c.oid || ':' || c.xmin)), 0)
          FROM pg_class AS c WHERE c.relnamespace = n.oid),
       (SELECT count(*) || ':'
               || coalesce(sum(hashtext(a.attrelid || ':' || a.attnum || ':' || a.xmin)), 0)
          FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
         WHERE c.relnamespace = n.oid AND a.attnum > 0),
       (SELECT count(*) || ':' || coalesce(sum(hashtext(k.oid || ':' || k.xmin)), 0)
          FROM pg_constraint AS k WHERE k.connamespace = n.oid),
       (SELECT count(*) || ':' || coalesce(sum(hashtext(t.oid || ':' || t.xmin)), 0)
          FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
         WHERE c.relnamespace = n.oid)
  FROM pg_namespace AS n WHERE n.nspname = %(schema)s
"""


def _lock_wait(options: ConnectOptions) -> float:
    return DEFAULT_LOCK_WAIT if options.lock_wait is None else float(options.lock_wait)


class PostgresBackend:
    """``Backend`` on one ``psycopg.Connection`` in autocommit mode, scoped to one schema."""

    capabilities = CAPABILITIES
    driver_errors: tuple[type[BaseException], ...] = (psycopg.Error,)

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        options: ConnectOptions,
        *,
        owned: bool,
        location: str = "",
    ) -> None:
        self._conn = conn
        self.options = options
        self._owned = owned
        self.schema = options.schema or DEFAULT_SCHEMA
        self._location = location or _location_of(conn)
        self._key = lock_key(self.schema)
        self._session = _Session()
        #: Announcements of the open transaction, sent with its COMMIT (one round trip).
        self._notes: list[str] = []
        self._notes_at: dict[str, int] = {}
        #: The highest applied version, read by begin_write under the migration lock in the
        #: same round trip (once a committed transaction has shown the bookkeeping exists).
        self._prefetched_head: int | None = None
        self._head_table = False
        self._head_table_seen = False
        #: The connection begin_write found writable (a primary, not read-only, the schema
        #: there): none of that changes for the life of a session, so it is asked once.
        self._writable_conn: psycopg.Connection[Any] | None = None
        #: begin_write's text for (the writability checks, the head read).
        self._begin_sql: dict[tuple[bool, bool], str] = {}
        #: Binds execute_at_commit's parameters client-side (one cursor for the connection).
        self._binder: psycopg.ClientCursor[Any] | None = None
        self._saved_factory: Any = conn.cursor_factory
        self._saved_autocommit = conn.autocommit
        if not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
            conn.autocommit = True
        conn.cursor_factory = _Cursor
        setattr(conn, _SESSION_ATTRIBUTE, self._session)
        self._set_search_path()

    def __repr__(self) -> str:
        return f"PostgresBackend({self.location!r}, schema={self.schema!r})"

    def _set_search_path(self) -> None:
        """Unqualified names mean the schema; and (PostgreSQL 14+) the server checks every second
        that this client is still there, so a killed migrator's statement, transaction and lock
        end within a second instead of when its statement finishes."""
        check = (
            ", set_config('client_connection_check_interval', '1000', false)"
            if self._conn.info.server_version >= 140000
            else ""
        )
        try:
            self._conn.execute(
                f"SELECT set_config('search_path', %s, false){check}",
                (quote_identifier(self.schema),),
            )
        except psycopg.Error as exc:
            raise self.translate_error(exc, action="open") from exc

    # -- identity -------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return mask_password(self._location)

    @property
    def path(self) -> Path | None:
        return None

    @property
    def connection(self) -> psycopg.Connection[Any]:
        return self._conn

    @property
    def backend_pid(self) -> int:
        return int(self._conn.info.backend_pid)

    def close(self) -> None:
        with contextlib.suppress(AttributeError):
            delattr(self._conn, _SESSION_ATTRIBUTE)
        if self._owned:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            return
        with contextlib.suppress(psycopg.Error):
            self._conn.cursor_factory = self._saved_factory
            if self._conn.info.transaction_status == TransactionStatus.IDLE:
                self._conn.autocommit = self._saved_autocommit

    # -- statements -----------------------------------------------------------------------------

    def sql(self, text: str) -> str:
        return qmark_to_format(text)

    def execute(self, sql: str, params: Params = ()) -> Any:
        return self._conn.execute(sql, params or None)

    def take_prefetched_head(self) -> int | None:
        """The highest applied version read by ``begin_write`` with the lock held, once (None:
        not read, already taken, or the lock had to be waited for). Asked by the recorder only
        when the bookkeeping tables exist: from the next committed transaction on, begin_write
        reads it."""
        value, self._prefetched_head = self._prefetched_head, None
        if self.in_transaction:
            self._head_table_seen = True
        return value

    def execute_at_commit(self, sql: str, params: Params = ()) -> None:
        """Run ``sql``, whose result nobody reads, with the next statement's round trip or the
        COMMIT's (bound here, client-side); at once outside a transaction."""
        if not self.in_transaction:
            self.execute(sql, params)
            return
        binder = self._binder
        if binder is None or binder.connection is not self._conn:
            binder = self._binder = psycopg.ClientCursor(self._conn)
        self._session.deferred.append(binder.mogrify(sql, params or None))

    def executemany(self, sql: str, rows: Iterable[Params]) -> Any:
        cursor = self._conn.cursor()
        cursor.executemany(sql, rows)
        return cursor

    def script(self, sql: str) -> None:
        for statement in split_statements(sql):
            self._conn.execute(statement)

    # -- transactions and the migration lock ---------------------------------------------------

    def begin_write(self) -> None:
        if self.options.read_only:
            raise ReadOnlyDatabaseError(
                f"Database {self.location} was opened read-only; nothing was changed. Open it "
                "without --read-only to migrate."
            )
        checks = self._writable_conn is not self._conn
        head = self._head_table
        sql = self._begin_sql.get((checks, head))
        if sql is None:
            sql = self._begin_sql[(checks, head)] = self._begin_statement(checks, head)
        self._prefetched_head = None
        try:
            # One round trip: the migrations' settings, the lock if it is free, and (once per
            # connection) whether this server can be written; then the head, below.
            rows = _result_rows(self._conn.execute(sql))
            got_it = rows[0][0]
            if head and got_it:
                self._prefetched_head = int(rows[1][0])
            if checks:
                read_only, standby, schema_exists = rows[0][-3:]
                self._refuse_read_only(read_only, standby)
            if not got_it:
                self._wait_for_lock()
            if checks:
                if schema_exists:
                    self._writable_conn = self._conn
                else:
                    # Under the lock: one runner creates it. Asked again next time (this
                    # transaction may be rolled back, and the schema with it).
                    self._conn.execute(
                        f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(self.schema)}"
                    )
        except psycopg.Error as exc:
            self.rollback()
            raise self.translate_error(exc, action="write to") from exc

    def _begin_statement(self, checks: bool, head: bool) -> str:
        """``BEGIN`` and its first statement: the run's settings for this transaction only (SET
        LOCAL, as ``set_config(..., true)``), the migration lock if it is free, and with
        ``checks`` whether the server is read-only, a standby, and has the schema. With ``head``,
        a second statement (READ COMMITTED: its snapshot is taken once the lock is held) reads
        the highest applied version: what the step's precondition reads."""
        settings = [
            ("search_path", quote_identifier(self.schema)),
            ("lock_timeout", self.ddl_lock_timeout),
        ]
        if self.options.statement_timeout:
            settings.append(("statement_timeout", self.options.statement_timeout))
        local = "".join(
            f"set_config({_literal(name)}, {_literal(value)}, true), " for name, value in settings
        )
        sql = f"BEGIN; SELECT pg_try_advisory_xact_lock({self._key}), {local}"
        if checks:
            sql += (
                "current_setting('transaction_read_only') = 'on', pg_is_in_recovery(), "
                f"EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = {_literal(self.schema)}), "
            )
        sql = sql.rstrip(", ")
        if head:
            sql += (
                f"; SELECT coalesce(max(version), 0) FROM {quote_identifier(self.schema)}."
                "schema_migrations"
            )
        return sql

    def _refuse_read_only(self, read_only: bool, standby: bool) -> None:
        if read_only or standby:
            self.rollback()
            what = (
                "a standby in recovery" if standby else "read-only (default_transaction_read_only)"
            )
            raise ReadOnlyDatabaseError(
                f"Database {self.location} is {what}; nothing was changed. Run migrations "
                "against the primary."
            )

    @property
    def ddl_lock_timeout(self) -> str:
        return self.options.lock_timeout or DEFAULT_DDL_LOCK_TIMEOUT

    def _wait_for_lock(self) -> None:
        """Wait, at most the lock wait, for the migration lock another session holds."""
        wait = _lock_wait(self.options)
        try:
            self._conn.execute(
                f"SET LOCAL lock_timeout = '{_timeout_ms(wait)}ms'; "
                f"SELECT pg_advisory_xact_lock({self._key}); "
                f"SET LOCAL lock_timeout = {_literal(self.ddl_lock_timeout)}"
            )
        except psycopg.Error as exc:
            if error_kind(exc) != "lock_timeout":
                raise
            self.rollback()
            holder = lock_holder(self._conn, self._key)
            who = f"held by {holder}" if holder else "held by a session that has just released it"
            raise DatabaseLockedError(
                f"Waited {_seconds(wait)} for the migration lock of schema {self.schema} on "
                f"{self.location}, {who}; nothing was changed. Retry when it has finished, or "
                "raise --lock-timeout."
            ) from exc

    def commit(self) -> None:
        status = self._conn.pgconn.transaction_status
        if status == TransactionStatus.INERROR:
            # COMMIT of an aborted transaction is a silent ROLLBACK on PostgreSQL: say so.
            self.rollback()
            raise pg_errors.InFailedSqlTransaction(
                "the transaction was aborted by an earlier error and has been rolled back"
            )
        notes, self._notes = self._notes, []
        self._notes_at.clear()
        writes, self._session.deferred = self._session.deferred, []
        sends = [f"SELECT pg_notify({_literal(CHANGE_CHANNEL)}, {_literal(n)})" for n in notes]
        self._prefetched_head = None
        try:
            # One round trip: the deferred bookkeeping writes, the announcements, COMMIT.
            self._conn.execute("; ".join([*writes, *sends, "COMMIT"]))
        except psycopg.Error:
            self.rollback()
            raise
        if self._head_table_seen:
            self._head_table = True  # committed: the bookkeeping is there for the next BEGIN

    def rollback(self) -> None:
        self._notes.clear()
        self._notes_at.clear()
        self._session.deferred.clear()
        self._prefetched_head = None
        self._head_table_seen = False
        if self._conn.closed:
            return
        if self._conn.pgconn.transaction_status in (
            TransactionStatus.INTRANS,
            TransactionStatus.INERROR,
        ):
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        if self._conn.closed:
            return False
        return self._conn.pgconn.transaction_status == TransactionStatus.INTRANS

    def savepoint(self, name: str) -> None:
        self._conn.execute(f"SAVEPOINT {name}")
        self._notes_at[name] = len(self._notes)

    def rollback_to_savepoint(self, name: str) -> None:
        del self._notes[self._notes_at.get(name, len(self._notes)) :]
        if self._conn.closed:
            return
        with contextlib.suppress(psycopg.Error):
            self._conn.execute(f"ROLLBACK TO SAVEPOINT {name}")

    def release_savepoint(self, name: str) -> None:
        self._conn.execute(f"RELEASE SAVEPOINT {name}")

    @contextlib.contextmanager
    def transaction_control_forbidden(self) -> Iterator[None]:
        self._session.forbid_transaction_control = True
        try:
            yield
        finally:
            self._session.forbid_transaction_control = False

    @contextlib.contextmanager
    def foreign_keys_disabled(self, needed: bool) -> Iterator[None]:
        if needed:
            raise MetamigrateError(
                "DISABLE_FOREIGN_KEYS is a SQLite table-rebuild option; PostgreSQL alters tables "
                "in place with its foreign keys checked: remove the flag from the migration."
            )
        yield

    @contextlib.contextmanager
    def outside_transaction(self) -> Iterator[None]:
        """Autocommit, under the session-level migration lock (waited for at most the lock
        wait), released afterwards even when the block fails."""
        if self.options.read_only:
            raise ReadOnlyDatabaseError(
                f"Database {self.location} was opened read-only; nothing was changed."
            )
        wait = _lock_wait(self.options)
        try:
            got = self._conn.execute(f"SELECT pg_try_advisory_lock({self._key})").fetchone()
            if not (got and got[0]):
                self._conn.execute(f"SET lock_timeout = '{_timeout_ms(wait)}ms'")
                try:
                    self._conn.execute(f"SELECT pg_advisory_lock({self._key})")
                finally:
                    self._conn.execute("RESET lock_timeout")
            settings = [f"SET lock_timeout = {_literal(self.ddl_lock_timeout)}"]
            if self.options.statement_timeout:
                settings.append(
                    f"SET statement_timeout = {_literal(self.options.statement_timeout)}"
                )
            self._conn.execute("; ".join(settings))
        except psycopg.Error as exc:
            if error_kind(exc) == "lock_timeout":
                holder = lock_holder(self._conn, self._key)
                raise DatabaseLockedError(
                    f"Waited {_seconds(wait)} for the migration lock of schema {self.schema} on "
                    f"{self.location}, held by {holder or 'a session that has just released it'}; "
                    "nothing was changed. Retry when it has finished, or raise --lock-timeout."
                ) from exc
            raise self.translate_error(exc, action="write to") from exc
        try:
            yield
        finally:
            if not self._conn.closed:
                with contextlib.suppress(psycopg.Error):
                    self._conn.execute(
                        f"RESET lock_timeout; RESET statement_timeout; "
                        f"SELECT pg_advisory_unlock({self._key})"
                    )

    def migration_lock_holder(self) -> str | None:
        """Who holds this schema's migration lock now, in words (None: nobody)."""
        return lock_holder(self._conn, self._key)

    def set_step_timeouts(self, lock_timeout: str | None, statement_timeout: str | None) -> None:
        """A migration's own ``LOCK_TIMEOUT`` / ``STATEMENT_TIMEOUT`` for the rest of the open
        transaction (None: the run's defaults); outside a transaction, for the session."""
        scope = "LOCAL " if self.in_transaction else ""
        ddl = lock_timeout or self.ddl_lock_timeout
        statement = statement_timeout or self.options.statement_timeout or "0"
        self._conn.execute(
            f"SET {scope}lock_timeout = {_literal(ddl)}; "
            f"SET {scope}statement_timeout = {_literal(statement)}"
        )

    def reconnect(self) -> None:
        """After the server dropped the connection: a new one, with the same options."""
        if not self._owned or not self._conn.closed:
            return
        conn = connect(self._location, self.options)
        conn.cursor_factory = _Cursor
        setattr(conn, _SESSION_ATTRIBUTE, self._session)
        self._conn = conn
        self._set_search_path()

    def notify_change(self, payload: str) -> None:
        """``NOTIFY metamigrate, '<schema> <payload>'``: delivered to every ``LISTEN metamigrate``
        session when this transaction commits, never when it rolls back (nor when a savepoint
        it follows is rolled back). Inside a transaction it is sent with the COMMIT, in the
        same round trip; outside one, at once."""
        note = f"{self.schema} {payload}"
        if self.in_transaction:
            self._notes.append(note)
            return
        self._conn.execute("SELECT pg_notify(%s, %s)", (CHANGE_CHANNEL, note))

    def error_kind(self, exc: BaseException) -> str:
        """The engine's words for what ``exc`` means ("locked" for any lock wait that expired)."""
        kind = error_kind(exc)
        return "locked" if kind == "lock_timeout" else kind

    # -- rehearsal ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def trace(self, callback: TraceCallback | None) -> Iterator[None]:
        previous = self._session.trace
        self._session.trace = callback
        try:
            yield
        finally:
            self._session.trace = previous

    def rows_changed(self) -> int:
        return self._session.rows_changed

    # -- bookkeeping support --------------------------------------------------------------------

    def bookkeeping_ddl(self) -> Sequence[str]:
        return BOOKKEEPING_DDL

    def read_version_marker(self) -> int | None:
        return None

    def write_version_marker(self, version: int) -> None:
        return None

    def change_token(self) -> object:
        """Changes when anything is committed in the schema's bookkeeping, or when its tables,
        columns, indexes, views, constraints or triggers change (by hand too: no NOTIFY comes
        for those). Two small queries; row changes alone leave it as it was."""
        row = self._conn.execute(SCHEMA_SIGNATURE, {"schema": self.schema}).fetchone()
        structure = tuple(row) if row is not None else ()
        if not self.table_exists("schema_migration_history"):
            return (0, 0, *structure)
        row = self._conn.execute(
            "SELECT (SELECT count(*) FROM schema_migrations), "
            "(SELECT coalesce(max(id), 0) FROM schema_migration_history)"
        ).fetchone()
        return (*(tuple(row) if row is not None else (0, 0)), *structure)

    # -- introspection --------------------------------------------------------------------------

    def table_exists(self, name: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
            (self.schema, name),
        ).fetchone()
        return row is not None

    def tables(self) -> list[str]:
        return sorted(self._application_tables())

    def _application_tables(self) -> dict[str, tuple[str, ...]]:
        rows = self._conn.execute(
            "SELECT c.relname, a.attname FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 "
            "AND NOT a.attisdropped "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND c.relname <> ALL(%s) "
            "ORDER BY c.relname, a.attnum",
            (self.schema, list(BOOKKEEPING_TABLES)),
        ).fetchall()
        tables: dict[str, list[str]] = {}
        for table, column in rows:
            columns = tables.setdefault(table, [])
            if column is not None:
                columns.append(column)
        return {name: tuple(columns) for name, columns in tables.items()}

    def columns(self, table: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT a.attname FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            (self.schema, table),
        ).fetchall()
        return [row[0] for row in rows]

    def is_empty(self) -> bool:
        row = self._conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_class AS c JOIN pg_namespace AS n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s) OR EXISTS (SELECT 1 FROM pg_proc AS p "
            "JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname = %s)",
            (self.schema, self.schema),
        ).fetchone()
        return not (row and row[0])

    def describe_schema(self) -> SchemaDescription:
        rows = self._conn.execute(_FACTS_SQL, {"schema": self.schema}).fetchall()
        facts = sorted(row[0] for row in rows)
        tables: dict[str, list[tuple[int, str]]] = {}
        for fact, table, column, attnum in rows:
            del fact
            if table is not None:
                tables.setdefault(table, []).append((attnum, column))
        for row in rows:
            if row[0].startswith("table "):
                tables.setdefault(row[0].split(" ", 2)[1], [])
        return SchemaDescription(
            tuple(facts),
            {name: tuple(c for _n, c in sorted(cols)) for name, cols in sorted(tables.items())},
        )

    def schema_fingerprint(self) -> str:
        rows = self._conn.execute(_FACTS_SQL, {"schema": self.schema}).fetchall()
        return fingerprint_of(sorted(row[0] for row in rows))

    def table_shapes(self, tables: Iterable[str] | None = None) -> dict[str, TableShape]:
        described = self._application_tables()
        names = sorted(described) if tables is None else list(tables)
        sizes = {
            name: (int(size), float(reltuples))
            for name, size, reltuples in self._conn.execute(
                _TABLE_SIZES_SQL, {"schema": self.schema}
            ).fetchall()
        }
        shapes: dict[str, TableShape] = {}
        exact: dict[str, tuple[str, ...]] = {}
        for name in names:
            columns = described.get(name) or tuple(self.columns(name))
            size, reltuples = sizes.get(name, (0, -1.0))
            if size > EXACT_COUNT_MAX_BYTES and reltuples >= 0:
                shapes[name] = self._estimated_shape(name, columns, reltuples)
            elif name in sizes and size == 0:
                # No page at all: no row, exactly (nothing to scan; a partitioned table, whose
                # rows are in its partitions, reads -1).
                shapes[name] = TableShape(0, dict.fromkeys(columns, 0))
            else:
                exact[name] = columns
        # Exact counts of the small tables, many tables per statement (one round trip each
        # chunk instead of one per table); a chunk that fails is counted table by table.
        pending = list(exact.items())
        for start in range(0, len(pending), _COUNTS_PER_STATEMENT):
            chunk = pending[start : start + _COUNTS_PER_STATEMENT]
            try:
                counted = self._count_rows(chunk)
            except psycopg.Error:
                if self._conn.info.transaction_status == TransactionStatus.INERROR:
                    raise
                counted = {name: self._count_rows_of(name, columns) for name, columns in chunk}
            for name, columns in chunk:
                row = counted[name]
                shapes[name] = TableShape(
                    int(row[0]), dict(zip(columns, map(int, row[1:]), strict=True))
                )
        return {name: shapes[name] for name in names}

    def _count_sql(self, name: str, columns: tuple[str, ...]) -> tuple[str, str]:
        """The qualified table and its count expressions."""
        counts = ", ".join(["count(*)", *(f"count({quote_identifier(c)})" for c in columns)])
        return f"{quote_identifier(self.schema)}.{quote_identifier(name)}", counts

    def _count_rows(self, chunk: list[tuple[str, tuple[str, ...]]]) -> dict[str, list[int]]:
        """Row and non-null counts of every table of ``chunk`` in one statement."""
        parts = []
        for name, columns in chunk:
            table, counts = self._count_sql(name, columns)
            parts.append(f"SELECT {_literal(name)}::text, ARRAY[{counts}]::bigint[] FROM {table}")
        rows = self._conn.execute(" UNION ALL ".join(parts)).fetchall()
        return {name: list(values) for name, values in rows}

    def _count_rows_of(self, name: str, columns: tuple[str, ...]) -> list[int]:
        """The same for one table; zeros when it cannot be read outside a transaction."""
        table, counts = self._count_sql(name, columns)
        try:
            row = self._conn.execute(f"SELECT {counts} FROM {table}").fetchone()
        except psycopg.Error:
            if self._conn.info.transaction_status == TransactionStatus.INERROR:
                raise
            return [0] * (len(columns) + 1)
        assert row is not None
        return list(row)

    def _estimated_shape(self, name: str, columns: tuple[str, ...], reltuples: float) -> TableShape:
        null_fractions = dict(
            self._conn.execute(
                "SELECT attname, null_frac FROM pg_stats WHERE schemaname = %s AND tablename = %s",
                (self.schema, name),
            ).fetchall()
        )
        rows = int(reltuples)
        per_column = {
            column: int(rows * (1.0 - float(null_fractions.get(column, 0.0)))) for column in columns
        }
        return TableShape(rows, per_column, exact=False)

    # -- checks ---------------------------------------------------------------------------------

    def is_read_only(self) -> bool:
        if self.options.read_only:
            return True
        try:
            row = self._conn.execute(
                "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"
            ).fetchone()
        except psycopg.Error:
            return True
        return bool(row and row[0])

    def integrity_problems(self) -> list[str]:
        """Invalid indexes (a failed CREATE INDEX CONCURRENTLY) and NOT VALID constraints."""
        problems = [
            f"index {self.schema}.{index} on table {table} is invalid (a CREATE INDEX "
            "CONCURRENTLY that did not finish?); drop it and create it again"
            for index, table in self._conn.execute(
                "SELECT ic.relname, t.relname FROM pg_index AS i "
                "JOIN pg_class AS ic ON ic.oid = i.indexrelid "
                "JOIN pg_class AS t ON t.oid = i.indrelid "
                "JOIN pg_namespace AS n ON n.oid = t.relnamespace "
                "WHERE n.nspname = %s AND NOT i.indisvalid ORDER BY 1",
                (self.schema,),
            ).fetchall()
        ]
        problems += [
            f"constraint {name} on table {self.schema}.{table} is NOT VALID (existing rows were "
            "never checked); run ALTER TABLE ... VALIDATE CONSTRAINT"
            for name, table in self._conn.execute(
                "SELECT con.conname, t.relname FROM pg_constraint AS con "
                "JOIN pg_class AS t ON t.oid = con.conrelid "
                "JOIN pg_namespace AS n ON n.oid = t.relnamespace "
                "WHERE n.nspname = %s AND NOT con.convalidated ORDER BY 1",
                (self.schema,),
            ).fetchall()
        ]
        return problems

    def foreign_key_problems(self) -> list[str]:
        # PostgreSQL enforces foreign keys on every write; rows older than a NOT VALID foreign
        # key are reported by integrity_problems.
        return []

    # -- errors ---------------------------------------------------------------------------------

    def translate_error(self, exc: BaseException, *, action: str = "use") -> MetamigrateError:
        if error_kind(exc) == "lock_timeout":
            blockers = blocking_sessions(self._conn, self.schema, self._session.last_statement)
            if blockers:
                obj, who = blockers[0]
                return DatabaseLockedError(
                    f"Gave up waiting for a lock on {obj} after lock_timeout "
                    f"{self.ddl_lock_timeout}: it is held by {who}; nothing was changed. Retry "
                    "when that session has finished."
                )
        return translate_error(
            exc,
            self.location,
            action=action,
            schema=self.schema,
            connect_timeout=self.options.connect_timeout,
        )

    def describe_step_error(self, exc: BaseException) -> str:
        kind = error_kind(exc)
        detail = _first_line(exc)
        if kind == "transaction_control":
            return (
                "the migration tried to BEGIN, COMMIT or ROLLBACK; migrations run inside the "
                "engine's transaction and must not control it"
            )
        if kind == "lock_timeout":
            blockers = blocking_sessions(self._conn, self.schema, self._session.last_statement)
            if blockers:
                obj, who = blockers[0]
                return (
                    f"it waited longer than lock_timeout {self.ddl_lock_timeout} for a lock on "
                    f"{obj}, held by {who}; retry when that session has finished (or "
                    "--lock-retries)"
                )
            return (
                f"it waited longer than lock_timeout {self.ddl_lock_timeout} for a lock "
                f"({detail}); retry when the other session has finished (or --lock-retries)"
            )
        if kind == "statement_timeout":
            return "a statement ran past statement_timeout and was cancelled"
        if kind == "needs_autocommit":
            return (
                f"{detail}: set TRANSACTION = False in the migration to run it outside a "
                "transaction"
            )
        if kind == "gone":
            return (
                f"the connection to the server was lost ({detail}); the server rolled the step back"
            )
        if kind == "read_only":
            return "the database is read-only (a standby?); run migrations against the primary"
        if kind == "permission":
            return f"permission denied ({detail}); grant the role the privileges it needs"
        if kind == "disk_full":
            return "the server is out of disk space (the step was rolled back)"
        if kind == "lock_table_full":
            return (
                "the server's lock table is full (out of shared memory): one "
                "transaction took more locks than max_locks_per_transaction allows (the step was "
                "rolled back); run without --atomic or raise max_locks_per_transaction"
            )
        return f"PostgreSQL error: {detail}"

    # -- backups: pg_dump archives of the schema (engine.backends.pg_backup) ------------------

    def backup_to(self, target: Path) -> BackupFacts:
        from engine.backends.pg_backup import dump_schema

        return dump_schema(
            self._conn,
            self.schema,
            target,
            fingerprint=lambda _conn: self.schema_fingerprint(),
        )

    def describe_backup(self, path: Path) -> BackupFacts:
        from engine.backends.pg_backup import read_archive

        return read_archive(path, self.schema)

    def restore_from(self, path: Path, keep_current: Callable[[], object]) -> None:
        from engine.backends.pg_backup import restore_schema

        restore_schema(self._conn, self.schema, path, keep_current)


#: Tables whose rows are counted by one statement (``table_shapes``).
_COUNTS_PER_STATEMENT = 250


def _result_rows(cursor: psycopg.Cursor[Any]) -> list[Any]:
    """The first row of each result that has rows, of a multi-statement execute."""
    rows = []
    while True:
        result = cursor.pgresult
        if result is not None and result.status == ExecStatus.TUPLES_OK:
            rows.append(cursor.fetchone())
        if not cursor.nextset():
            return rows


def _last_row(cursor: psycopg.Cursor[Any]) -> Any:
    """The first row of the last result of a multi-statement execute."""
    while cursor.nextset():
        pass
    return cursor.fetchone()


def _literal(value: str) -> str:
    """A SQL string literal (for SET, which takes no parameters)."""
    return "'" + value.replace("'", "''") + "'"


def _location_of(conn: psycopg.Connection[Any]) -> str:
    info = conn.info
    host = info.host or "localhost"
    if host.startswith("/"):
        host = quote(host, safe="")
    return f"postgresql://{quote(info.user or '')}@{host}:{info.port}/{quote(info.dbname or '')}"


def connect(location: str, options: ConnectOptions) -> psycopg.Connection[Any]:
    """Open an autocommit connection, within the connect timeout, named for other operators."""
    timeout = max(1, math.ceil(options.connect_timeout))
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "connect_timeout": timeout,
        "application_name": application_name(options.application_name),
    }
    if options.read_only:
        kwargs["options"] = _merged_options(location, "-c default_transaction_read_only=on")
    try:
        return psycopg.connect(libpq_url(location), **kwargs)
    except psycopg.Error as exc:
        if _is_bad_url(exc):
            raise DatabasePathError(
                f"The database URL {mask_password(location)} is not valid "
                f"({_masked_detail(exc, location)}); nothing was changed. Fix it in --db or "
                "METAMIGRATE_DB (postgresql://user@host:port/dbname)."
            ) from exc
        raise translate_error(
            exc,
            location,
            action="connect to",
            schema=options.schema or DEFAULT_SCHEMA,
            connect_timeout=options.connect_timeout,
        ) from exc


def _is_bad_url(exc: psycopg.Error) -> bool:
    """libpq refused the URL itself (its syntax or an option's value) before any connection: a
    ProgrammingError while parsing it, or 'connection is bad: invalid ...' for a value it could
    not use (the port, sslmode, ...)."""
    if exc.sqlstate:
        return False
    text = str(exc).strip().lower()
    return isinstance(exc, psycopg.ProgrammingError) or text.startswith(
        "connection is bad: invalid"
    )


def _masked_detail(exc: psycopg.Error, location: str) -> str:
    """libpq's first line, without the URL it may quote back (which may hold a password)."""
    detail = _first_line(exc).removeprefix("connection is bad: ")
    for text in {location, libpq_url(location)}:
        detail = detail.replace(f' in URI: "{text}"', "").replace(text, mask_password(text))
    return mask_password(detail)


def _merged_options(location: str, extra: str) -> str:
    """libpq ``options`` of ``location`` plus ``extra`` (the keyword would replace them)."""
    try:
        given = psycopg.conninfo.conninfo_to_dict(libpq_url(location)).get("options") or ""
    except psycopg.Error:
        given = ""
    return f"{given} {extra}".strip()


def backup_manager(
    location: str | os.PathLike[str],
    backup_dir: str | os.PathLike[str] | None,
    *,
    keep: int,
    options: ConnectOptions,
) -> Any:
    """The backups of a database on this server: pg_dump archives (engine.backends.pg_backup)."""
    from engine.backends.pg_backup import backup_manager as pg_backup_manager

    return pg_backup_manager(location, backup_dir, keep=keep, options=options)


def connect_backend(location: str | os.PathLike[str], options: ConnectOptions) -> PostgresBackend:
    text = os.fspath(location)
    conn = connect(text, options)
    try:
        return PostgresBackend(conn, options, owned=True, location=text)
    except BaseException:
        conn.close()
        raise


def wrap_connection(conn: psycopg.Connection[Any], options: ConnectOptions) -> PostgresBackend:
    return PostgresBackend(conn, options, owned=False)


if TYPE_CHECKING:
    # mypy checks here that PostgresBackend implements the whole protocol.
    from engine.backends.base import Backend

    _conforms: type[Backend] = PostgresBackend
