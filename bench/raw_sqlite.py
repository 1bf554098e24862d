"""Raw ``sqlite3`` baseline: the same DDL with nothing but the standard library.

Run as a script (``python bench/raw_sqlite.py apply|status|rollback --db F --dir D [--one-tx]``)
so that it is a whole process like every other tool. ``D`` holds one ``NNNN_name.sql`` file per
migration: its up statements, a ``-- down`` line, its down statements, one statement per line.

Default: one transaction per migration, the version row in the same transaction (the floor for
per-migration atomicity). ``--one-tx``: one transaction for the whole run (the absolute floor).
Autocommit mode (``isolation_level=None``) with explicit ``BEGIN IMMEDIATE`` / ``COMMIT``.
The loops are ``raw_files.Baseline``'s, shared with the PostgreSQL baseline.
"""

from __future__ import annotations

import sqlite3
import sys

from raw_files import Baseline, Dialect, main

SQLITE = Dialect(
    begin="BEGIN IMMEDIATE",
    bookkeeping="CREATE TABLE IF NOT EXISTS schema_version "
    "(version TEXT PRIMARY KEY, applied_at REAL NOT NULL)",
    exists="SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
    mark="?",
)


def apply(conn: sqlite3.Connection, directory: str, one_tx: bool) -> int:
    """Apply every pending migration (the in-process breakdown probe calls this)."""
    return Baseline(conn, SQLITE, directory, one_tx).apply()


def rollback(conn: sqlite3.Connection, directory: str, one_tx: bool) -> int:
    return Baseline(conn, SQLITE, directory, one_tx).rollback()


if __name__ == "__main__":
    connect = lambda db: sqlite3.connect(db, isolation_level=None)  # noqa: E731
    sys.exit(main(sys.argv[1:], __doc__, connect, SQLITE))
