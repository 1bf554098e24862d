"""The raw baselines' shared part: the migration files and the apply / rollback / status loops.

Migration files: ``NNNN_name.sql``, up statements, a ``-- down`` line, down statements, one
statement per line. Imported by the raw scripts (``raw_sqlite.py``, ``raw_postgres.py``) by file
name from their own folder, so it uses nothing but cheap standard modules (no dataclasses or
typing): a raw baseline's process pays for its driver alone. Each script gives a DB-API
connection and its dialect's words (how to begin a write transaction, the parameter mark,
whether the version table exists).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

DOWN_MARKER = "-- down\n"


def migration_files(directory: str) -> list[tuple[str, str]]:
    """(version, file name) of every migration, in order; names only, bodies are not read."""
    names = sorted(n for n in os.listdir(directory) if n.endswith(".sql"))
    return [(n.split("_", 1)[0], n) for n in names]


def statements(directory: str, name: str, part: int) -> list[str]:
    """The up (``part`` 0) or down (1) statements of one file, one per line."""
    with open(os.path.join(directory, name), encoding="utf-8") as f:
        text = f.read().split(DOWN_MARKER)[part]
    return [s for s in text.splitlines() if s.strip()]


class Dialect:
    """A driver's words: ``begin`` starts a write transaction (``BEGIN IMMEDIATE`` on SQLite),
    ``bookkeeping`` creates the version table if missing, ``exists`` returns one row whose first
    value is true when it exists, ``mark`` is the parameter mark."""

    def __init__(self, begin: str, bookkeeping: str, exists: str, mark: str) -> None:
        self.begin, self.bookkeeping, self.exists, self.mark = begin, bookkeeping, exists, mark


class Baseline:
    """Apply, roll back or list the migrations of ``directory`` with nothing but the driver:
    one transaction per migration, the version row in it (``one_tx``: one for the whole run)."""

    def __init__(self, conn: object, dialect: Dialect, directory: str, one_tx: bool) -> None:
        self.conn, self.dialect, self.directory, self.one_tx = conn, dialect, directory, one_tx

    def applied_versions(self) -> list[str]:
        if not self.conn.execute(self.dialect.exists).fetchone()[0]:
            return []
        rows = self.conn.execute("SELECT version FROM schema_version ORDER BY version")
        return [row[0] for row in rows]

    def _run(
        self,
        versions: list[tuple[str, str]],
        part: int,
        record: str,
        values: Callable[[str], tuple[object, ...]],
    ) -> int:
        begin, execute = self.dialect.begin, self.conn.execute
        if self.one_tx:
            execute(begin)
        count = 0
        for version, name in versions:
            if not self.one_tx:
                execute(begin)
            for sql in statements(self.directory, name, part):
                execute(sql)
            execute(record, values(version))
            if not self.one_tx:
                execute("COMMIT")
            count += 1
        if self.one_tx:
            execute("COMMIT")
        return count

    def apply(self) -> int:
        self.conn.execute(self.dialect.bookkeeping)
        done = set(self.applied_versions())
        todo = [(v, n) for v, n in migration_files(self.directory) if v not in done]
        mark = self.dialect.mark
        insert = f"INSERT INTO schema_version VALUES ({mark}, {mark})"
        return self._run(todo, 0, insert, lambda version: (version, time.time()))

    def rollback(self) -> int:
        by_version = dict(migration_files(self.directory))
        todo = [(v, by_version[v]) for v in reversed(self.applied_versions())]
        delete = f"DELETE FROM schema_version WHERE version = {self.dialect.mark}"
        return self._run(todo, 1, delete, lambda version: (version,))

    def status(self) -> list[dict[str, object]]:
        done = set(self.applied_versions())
        return [
            {"version": version, "name": name[:-4], "applied": version in done}
            for version, name in migration_files(self.directory)
        ]


def main(
    argv: list[str], doc: str | None, connect: Callable[[str], object], dialect: Dialect
) -> int:
    """``apply|status|rollback --db DB --dir D [--one-tx]``. Plain parsing: argparse would add
    its import time to the floor."""
    if not argv or argv[0] not in ("apply", "status", "rollback"):
        print(doc, file=sys.stderr)
        return 2
    command, db = argv[0], argv[argv.index("--db") + 1]
    directory = argv[argv.index("--dir") + 1]
    conn = connect(db)
    try:
        baseline = Baseline(conn, dialect, directory, "--one-tx" in argv)
        if command == "apply":
            print(f"applied {baseline.apply()}")
        elif command == "rollback":
            print(f"rolled back {baseline.rollback()}")
        else:
            json.dump(baseline.status(), sys.stdout)
            print()
    finally:
        conn.close()
    return 0
