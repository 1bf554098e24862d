"""Raw ``sqlite3`` baselines: one transaction per migration (the floor) and one for everything."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bench.tools.base import PYTHON, Invocation, Project, Tool, write_text
from bench.workload import Workload

SCRIPT = Path(__file__).resolve().parent.parent / "raw_sqlite.py"


class RawSqlite(Tool):
    group = "floor"

    def __init__(self, one_tx: bool) -> None:
        self.one_tx = one_tx
        self.key = "raw-1tx" if one_tx else "raw"
        self.baseline = self.key
        self.label = (
            "raw sqlite3, one tx for everything"
            if one_tx
            else "raw sqlite3, one tx per migration (the floor)"
        )

    def version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def write_sources(self, workload: Workload, root: Path) -> None:
        for step in workload.steps():
            body = "\n".join([*step.up, "-- down", *step.down]) + "\n"
            write_text(root / "migrations" / f"{step.slug}.sql", body)

    def project(self, workload: Workload, root: Path) -> Project:
        db = root / "db.sqlite3"
        extra = ["--one-tx"] if self.one_tx else []

        def call(command: str) -> Invocation:
            argv = [
                PYTHON,
                str(SCRIPT),
                command,
                "--db",
                str(db),
                "--dir",
                str(root / "migrations"),
            ]
            return Invocation([*argv, *extra], root)

        return Project(root, db, call("apply"), call("status"), call("rollback"))

    def setup_apply(self, project: Project) -> Invocation:
        """One transaction: the same rows as per-migration apply, in a fraction of the time."""
        argv = project.apply.argv
        return Invocation(argv if "--one-tx" in argv else [*argv, "--one-tx"], project.apply.cwd)

    def status_ok(self, output: str, workload: Workload) -> bool:
        rows = json.loads(output)
        return len(rows) == workload.n and all(row["applied"] for row in rows)
