"""Table rebuilds: SQLite's documented 12-step way to change what ALTER TABLE cannot.

https://www.sqlite.org/lang_altertable.html#otheralter. The engine does steps 1, 2, 11 and 12
(foreign keys off outside the transaction, BEGIN, COMMIT, foreign keys back on) for a migration
that declares ``DISABLE_FOREIGN_KEYS = True`` (or ``disable_foreign_keys=True`` on the decorator);
``rebuild_table`` does the rest inside that transaction: remember the indexes, triggers and views,
create the new table under a temporary name, copy the rows, drop the old table, rename the new
one, re-create the indexes, triggers and views, and check the foreign keys (a violation fails the
migration, so it is rolled back).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping

from engine import sqlite as sq
from engine.errors import MigrationError

_CREATE_TABLE = re.compile(
    r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:(?:main|\"main\")\s*\.\s*)?"
    r"(?P<name>\"(?:[^\"]|\"\")+\"|\[[^\]]+\]|`[^`]+`|[A-Za-z_][A-Za-z0-9_$]*)",
    re.IGNORECASE,
)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _unquote(token: str) -> str:
    if token[0] == '"' and token[-1] == '"':
        return token[1:-1].replace('""', '"')
    if token[0] in "[`":
        return token[1:-1]
    return token


def rebuild_table(
    conn: sqlite3.Connection,
    name: str,
    new_create_sql: str,
    column_map: Mapping[str, str] | None = None,
) -> None:
    """Replace table ``name`` by the one ``new_create_sql`` creates, keeping its rows.

    ``new_create_sql`` is a ``CREATE TABLE name (...)`` statement for the new shape (same name).
    Each new column is filled from the old column of the same name, or from the SQL expression
    ``column_map[new_column]`` over the old row (``{"location": "coalesce(location, '')"}``);
    columns that are in neither get their default. Indexes, triggers and views are re-created
    from their SQL, so an index on a column that no longer exists fails the migration: drop it
    first. Runs inside the migration's transaction and never commits.
    """
    if not conn.in_transaction:
        raise MigrationError(f"rebuild_table({name!r}) must run inside a migration's transaction.")
    if conn.execute("PRAGMA foreign_keys").fetchone()[0]:
        raise MigrationError(
            f"rebuild_table({name!r}) needs foreign keys off, or dropping the old table would "
            "delete or break the rows that point at it; declare DISABLE_FOREIGN_KEYS = True in the "
            "migration file (or disable_foreign_keys=True on the decorator)."
        )
    if not sq.table_exists(conn, name):
        raise MigrationError(f"rebuild_table: there is no table {name!r} to rebuild.")
    match = _CREATE_TABLE.match(new_create_sql)
    if match is None or _unquote(match["name"]).lower() != name.lower():
        raise MigrationError(
            f"rebuild_table({name!r}): new_create_sql must be a CREATE TABLE {name} (...) "
            "statement for the same table name."
        )
    temp = f"_rebuild_new_{name}"
    if sq.table_exists(conn, temp):
        raise MigrationError(f"rebuild_table({name!r}): a table {temp!r} is in the way; drop it.")

    # Step 3: remember what depends on the table. Views and triggers elsewhere that mention it
    # are dropped too: the rename in step 7 checks the whole schema and fails on a broken view.
    old_columns = [row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (name,))]
    mention = re.compile(rf"(?<![A-Za-z0-9_$]){re.escape(name)}(?![A-Za-z0-9_$])", re.IGNORECASE)
    dependants = [
        (kind, obj, table, sql)
        for kind, obj, table, sql in conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE sql IS NOT NULL AND type IN ('index', 'trigger', 'view') ORDER BY rowid"
        ).fetchall()
        if table.lower() == name.lower() or kind == "view" or mention.search(sql)
    ]
    for kind, obj, table, _sql in reversed(dependants):
        if kind == "view" or (kind == "trigger" and table.lower() != name.lower()):
            conn.execute(f"DROP {kind.upper()} IF EXISTS {quote(obj)}")

    # Steps 4-5: the new table under a temporary name, filled from the old one.
    conn.execute(
        new_create_sql[: match.start("name")] + quote(temp) + new_create_sql[match.end("name") :]
    )
    new_columns = [row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (temp,))]
    mapping = dict(column_map or {})
    unknown = sorted(set(mapping) - set(new_columns))
    if unknown:
        raise MigrationError(
            f"rebuild_table({name!r}): column_map names column(s) {', '.join(unknown)} that the "
            "new table does not have."
        )
    targets: list[str] = []
    sources: list[str] = []
    for column in new_columns:
        if column in mapping:
            targets.append(quote(column))
            sources.append(mapping[column])
        elif column in old_columns:
            targets.append(quote(column))
            sources.append(quote(column))
    if targets:
        conn.execute(
            f"INSERT INTO {quote(temp)} ({', '.join(targets)}) "
            f"SELECT {', '.join(sources)} FROM {quote(name)}"
        )
    copied = conn.execute(f"SELECT count(*) FROM {quote(temp)}").fetchone()[0]
    expected = conn.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0]
    if copied != expected:
        raise MigrationError(
            f"rebuild_table({name!r}) copied {copied} of {expected} rows; nothing was changed."
        )

    # Steps 6-7: swap.
    conn.execute(f"DROP TABLE {quote(name)}")
    conn.execute(f"ALTER TABLE {quote(temp)} RENAME TO {quote(name)}")

    # Steps 8-9: re-create indexes, triggers and views, in their original order.
    for kind, obj, _table, sql in dependants:
        try:
            conn.execute(sql)
        except sqlite3.Error as exc:
            raise MigrationError(
                f"rebuild_table({name!r}) could not re-create {kind} {obj} ({exc}); drop or change "
                "it in the migration before the rebuild."
            ) from exc

    # Step 10: the foreign keys must hold before the engine commits.
    problems = sq.foreign_key_problems(conn)
    if problems:
        raise MigrationError(
            f"rebuild_table({name!r}) left broken foreign keys ({problems[0]}); it was rolled back."
        )
