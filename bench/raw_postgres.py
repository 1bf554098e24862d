"""Raw psycopg baseline: the same DDL on a PostgreSQL database with nothing but the driver.

Run as a script (``python bench/raw_postgres.py apply|status|rollback --db URL --dir D
[--one-tx]``) so that it is a whole process like every other tool; ``D`` holds the same
``NNNN_name.sql`` files as the raw SQLite baseline (see ``raw_files.py``).

Default: one transaction per migration, the version row in the same transaction (the floor for
per-migration atomicity). ``--one-tx``: one transaction for the whole run. Autocommit mode with
explicit ``BEGIN`` / ``COMMIT``, one connection, psycopg's defaults otherwise.
"""

from __future__ import annotations

import json
import sys
import time

import psycopg
from raw_files import arguments, migration_files, statements

BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS schema_version "
    "(version TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
)


def applied_versions(conn: psycopg.Connection) -> list[str]:
    if conn.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
        return []
    return [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]


def apply(conn: psycopg.Connection, directory: str, one_tx: bool) -> int:
    if one_tx:
        conn.execute("BEGIN")
    conn.execute(BOOKKEEPING)
    done = set(applied_versions(conn))
    count = 0
    for version, name in migration_files(directory):
        if version in done:
            continue
        if not one_tx:
            conn.execute("BEGIN")
        for sql in statements(directory, name, 0):
            conn.execute(sql)
        conn.execute("INSERT INTO schema_version VALUES (%s, %s)", (version, time.time()))
        if not one_tx:
            conn.execute("COMMIT")
        count += 1
    if one_tx:
        conn.execute("COMMIT")
    return count


def rollback(conn: psycopg.Connection, directory: str, one_tx: bool) -> int:
    by_version = dict(migration_files(directory))
    if one_tx:
        conn.execute("BEGIN")
    count = 0
    for version in reversed(applied_versions(conn)):
        if not one_tx:
            conn.execute("BEGIN")
        for sql in statements(directory, by_version[version], 1):
            conn.execute(sql)
        conn.execute("DELETE FROM schema_version WHERE version = %s", (version,))
        if not one_tx:
            conn.execute("COMMIT")
        count += 1
    if one_tx:
        conn.execute("COMMIT")
    return count


def status(conn: psycopg.Connection, directory: str) -> list[dict[str, object]]:
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
    command, url, directory, one_tx = parsed
    with psycopg.connect(url, autocommit=True) as conn:
        if command == "apply":
            print(f"applied {apply(conn, directory, one_tx)}")
        elif command == "rollback":
            print(f"rolled back {rollback(conn, directory, one_tx)}")
        else:
            json.dump(status(conn, directory), sys.stdout)
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
