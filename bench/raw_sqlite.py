"""Raw ``sqlite3`` baseline: the same DDL with nothing but the standard library.

Run as a script (``python bench/raw_sqlite.py apply|status|rollback --db F --dir D [--one-tx]``)
so that it is a whole process like every other tool. ``D`` holds one ``NNNN_name.sql`` file per
migration: its up statements, a ``-- down`` line, its down statements, one statement per line.

Default: one transaction per migration, the version row in the same transaction (the floor for
per-migration atomicity). ``--one-tx``: one transaction for the whole run (the absolute floor).
Autocommit mode (``isolation_level=None``) with explicit ``BEGIN IMMEDIATE`` / ``COMMIT``.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time

from raw_files import arguments, migration_files, statements

BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS schema_version (version TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
)


def applied_versions(conn: sqlite3.Connection) -> list[str]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return []
    return [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]


def apply(conn: sqlite3.Connection, directory: str, one_tx: bool) -> int:
    if one_tx:
        conn.execute("BEGIN IMMEDIATE")
    conn.execute(BOOKKEEPING)
    done = set(applied_versions(conn))
    count = 0
    for version, name in migration_files(directory):
        if version in done:
            continue
        if not one_tx:
            conn.execute("BEGIN IMMEDIATE")
        for sql in statements(directory, name, 0):
            conn.execute(sql)
        conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, time.time()))
        if not one_tx:
            conn.execute("COMMIT")
        count += 1
    if one_tx:
        conn.execute("COMMIT")
    return count


def rollback(conn: sqlite3.Connection, directory: str, one_tx: bool) -> int:
    by_version = dict(migration_files(directory))
    if one_tx:
        conn.execute("BEGIN IMMEDIATE")
    count = 0
    for version in reversed(applied_versions(conn)):
        if not one_tx:
            conn.execute("BEGIN IMMEDIATE")
        for sql in statements(directory, by_version[version], 1):
            conn.execute(sql)
        conn.execute("DELETE FROM schema_version WHERE version = ?", (version,))
        if not one_tx:
            conn.execute("COMMIT")
        count += 1
    if one_tx:
        conn.execute("COMMIT")
    return count


def status(conn: sqlite3.Connection, directory: str) -> list[dict[str, object]]:
    done = set(applied_versions(conn))
    return [
        {"version": version, "name": name[:-4], "applied": version in done}
        for version, name in migration_files(directory)
    ]


def main(argv: list[str] | None = None) -> int:
    parsed = arguments(sys.argv[1:] if argv is None else argv)
    if parsed is None:
        print(__doc__, file=sys.stderr)
        return 2
    command, db, directory, one_tx = parsed
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        if command == "apply":
            print(f"applied {apply(conn, directory, one_tx)}")
        elif command == "rollback":
            print(f"rolled back {rollback(conn, directory, one_tx)}")
        else:
            json.dump(status(conn, directory), sys.stdout)
            print()
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
