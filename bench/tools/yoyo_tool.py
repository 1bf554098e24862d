"""yoyo-migrations: one step file per migration (two steps: table, then index), ``yoyo`` CLI.

Ordered by file name, yoyo's default; no ``__depends__`` (it would only add work for yoyo).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from bench.tools.base import BIN, Invocation, Project, Tool, write_text
from bench.workload import Workload

STEP_FILE = '''\
"""{slug}"""

from yoyo import step

steps = [
    step({up0!r}, {down1!r}),
    step({up1!r}, {down0!r}),
]
'''


class Yoyo(Tool):
    key = "yoyo"
    label = "yoyo"
    group = "peer"

    def __init__(self, server: str | None = None) -> None:
        self.server = server

    def unavailable(self) -> str | None:
        return None if importlib.util.find_spec("yoyo") else "yoyo-migrations is not installed"

    def version(self) -> str:
        return f"yoyo-migrations {importlib.metadata.version('yoyo-migrations')}"

    def write_sources(self, workload: Workload, root: Path) -> None:
        for step in workload.steps():
            # Steps roll back in reverse: the index step's down runs first.
            text = STEP_FILE.format(
                slug=step.slug,
                up0=step.up[0],
                down1=step.down[1],
                up1=step.up[1],
                down0=step.down[0],
            )
            write_text(root / "migrations" / f"{step.slug}.py", text)

    def project(self, workload: Workload, root: Path) -> Project:
        db = self.database(workload, root)
        # yoyo 9 reaches psycopg 3 through the postgresql+psycopg scheme.
        url = f"sqlite:///{db}" if isinstance(db, Path) else db.sqlalchemy_url

        def call(*args: str) -> Invocation:
            argv = [str(BIN / "yoyo"), *args, "--batch", "--no-config-file"]
            return Invocation([*argv, "--database", url, str(root / "migrations")], root)

        return Project(root, db, call("apply"), call("list"), call("rollback", "--all"))
