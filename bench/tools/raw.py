"""Raw baselines: one transaction per migration (the floor) and one for everything.

``raw_sqlite.py`` with ``sqlite3`` on a file; ``raw_postgres.py`` with psycopg on a scratch
database of the server. Both read the same ``.sql`` files.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bench.tools.base import PYTHON, Invocation, Project, Tool, write_text
from bench.workload import Workload

HERE = Path(__file__).resolve().parent.parent


class RawSqlite(Tool):
    group = "floor"
    script = HERE / "raw_sqlite.py"
    driver = "sqlite3"

    def __init__(self, one_tx: bool) -> None:
        self.one_tx = one_tx
        self.key = "raw-1tx" if one_tx else "raw"
        self.baseline = self.key
        self.label = (
            f"raw {self.driver}, one tx for everything"
            if one_tx
            else f"raw {self.driver}, one tx per migration (the floor)"
        )

    def version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def write_sources(self, workload: Workload, root: Path) -> None:
        for step in workload.steps():
            body = "\n".join([*step.up, "-- down", *step.down]) + "\n"
            write_text(root / "migrations" / f"{step.slug}.sql", body)

    def project(self, workload: Workload, root: Path) -> Project:
        db = self.database(workload, root)
        extra = ["--one-tx"] if self.one_tx else []
        where = db.url if not isinstance(db, Path) else str(db)

        def call(command: str) -> Invocation:
            argv = [PYTHON, str(self.script), command, "--db", where]
            return Invocation([*argv, "--dir", str(root / "migrations"), *extra], root)

        return Project(root, db, call("apply"), call("status"), call("rollback"))

    def setup_apply(self, project: Project) -> Invocation:
        """One transaction: the same rows as per-migration apply, in a fraction of the time."""
        argv = project.apply.argv
        return Invocation(argv if "--one-tx" in argv else [*argv, "--one-tx"], project.apply.cwd)

    def status_ok(self, output: str, workload: Workload) -> bool:
        rows = json.loads(output)
        return len(rows) == workload.n and all(row["applied"] for row in rows)


class RawPostgres(RawSqlite):
    """The same baseline with psycopg on the server (``BEGIN`` / ``COMMIT`` in autocommit)."""

    script = HERE / "raw_postgres.py"
    driver = "psycopg"

    def __init__(self, one_tx: bool, server: str) -> None:
        super().__init__(one_tx)
        self.server = server

    def version(self) -> str:
        import importlib.metadata

        return f"psycopg {importlib.metadata.version('psycopg')}"
