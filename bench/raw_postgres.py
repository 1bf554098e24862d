"""Raw psycopg baseline: the same DDL on a PostgreSQL database with nothing but the driver.

Run as a script (``python bench/raw_postgres.py apply|status|rollback --db URL --dir D
[--one-tx]``) so that it is a whole process like every other tool; ``D`` holds the same
``NNNN_name.sql`` files as the raw SQLite baseline, and the loops are the same
(``raw_files.Baseline``).

Default: one transaction per migration, the version row in the same transaction (the floor for
per-migration atomicity). ``--one-tx``: one transaction for the whole run. Autocommit mode with
explicit ``BEGIN`` / ``COMMIT``, one connection, psycopg's defaults otherwise.
"""

from __future__ import annotations

import sys

import psycopg
from raw_files import Dialect, main

POSTGRES = Dialect(
    begin="BEGIN",
    bookkeeping="CREATE TABLE IF NOT EXISTS schema_version "
    "(version TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)",
    exists="SELECT to_regclass('schema_version') IS NOT NULL",
    mark="%s",
)

if __name__ == "__main__":
    connect = lambda url: psycopg.connect(url, autocommit=True)  # noqa: E731
    sys.exit(main(sys.argv[1:], __doc__, connect, POSTGRES))
