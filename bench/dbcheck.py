"""Look inside the SQLite file after a run: did the tool really create / drop the tables?"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.pg import ScratchDatabase, assert_objects
from bench.workload import WORKLOAD_INDEX, WORKLOAD_TABLE, Workload

Database = Path | ScratchDatabase


class CheckFailed(AssertionError):
    pass


def workload_objects(db: Path) -> tuple[set[str], set[str]]:
    """Workload tables and indexes present in ``db`` (read-only connection)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
    finally:
        conn.close()
    tables = {name for kind, name in rows if kind == "table" and WORKLOAD_TABLE.match(name)}
    indexes = {name for kind, name in rows if kind == "index" and WORKLOAD_INDEX.match(name)}
    return tables, indexes


def assert_applied(db: Database, workload: Workload, who: str) -> None:
    if isinstance(db, ScratchDatabase):
        return assert_objects(db, workload, who, applied=True)
    tables, indexes = workload_objects(db)
    if tables != workload.table_names() or indexes != workload.index_names():
        raise CheckFailed(
            f"{who}: after apply expected {workload.n} tables and indexes, found "
            f"{len(tables)} tables and {len(indexes)} indexes"
        )


def assert_rolled_back(db: Database, workload: Workload, who: str) -> None:
    if isinstance(db, ScratchDatabase):
        return assert_objects(db, workload, who, applied=False)
    tables, indexes = workload_objects(db)
    if tables or indexes:
        raise CheckFailed(
            f"{who}: after rollback {len(tables)} tables and {len(indexes)} indexes remain"
        )


def change_counter(db: Database) -> int | None:
    """The header's file change counter (offset 24): committed write transactions in
    rollback-journal mode, whoever made them. On a fresh file it counts a run's commits.
    None on a server (its statistics are flushed when each backend exits, after the tool's
    process may have ended, so a count read at once is not reliable)."""
    if isinstance(db, ScratchDatabase):
        return None
    with open(db, "rb") as f:
        header = f.read(28)
    return int.from_bytes(header[24:28], "big")
