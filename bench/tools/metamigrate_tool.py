"""metamigrate: one ``NNNN_name.py`` file per migration with ``up(tx)`` / ``down(tx)``.

Commands are the installed ``metamigrate`` CLI, as an operator runs it. Modes: per-migration
transactions with the automatic backup off and on (when the CLI has ``--no-backup``), and
``migrate --atomic`` (one transaction for the whole plan, compared to the raw one-tx floor).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import subprocess
from pathlib import Path

from bench.tools.base import BIN, Invocation, Project, Tool, write_text
from bench.workload import Workload

MIGRATION = '''\
"""{slug}"""


def up(tx):
{up}


def down(tx):
{down}
'''

CLI = BIN / "metamigrate"


def _execs(statements: tuple[str, ...]) -> str:
    return "\n".join(f"    tx.execute({sql!r})" for sql in statements)


def write_migrations(workload: Workload, directory: Path) -> None:
    """The workload as metamigrate migration files (shared with the in-process probes)."""
    for step in workload.steps():
        text = MIGRATION.format(slug=step.slug, up=_execs(step.up), down=_execs(step.down))
        write_text(directory / f"{step.slug}.py", text)


def engine_unavailable() -> str | None:
    if importlib.util.find_spec("engine.manager") is None:
        return "engine.manager does not exist yet"
    if not CLI.exists():
        return f"{CLI} is not installed"
    return None


@functools.cache
def supports(command: str, flag: str) -> bool:
    """Whether ``metamigrate <command> --help`` lists ``flag``."""
    try:
        out = subprocess.run(
            [str(CLI), command, "--help"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return flag in out


class Metamigrate(Tool):
    group = "ours"

    def __init__(self, mode: str, server: str | None = None) -> None:
        if mode not in ("no-backup", "backup", "atomic"):
            raise ValueError(mode)
        self.mode = mode
        self.server = server
        self.key = {"no-backup": "metamigrate", "backup": "metamigrate-backup"}.get(
            mode, "metamigrate-atomic"
        )
        self.baseline = "raw-1tx" if mode == "atomic" else "raw"
        self.label = {
            "no-backup": "metamigrate, one tx per migration",
            "backup": "metamigrate, one tx per migration, backup on",
            "atomic": "metamigrate --atomic (one tx for the whole plan)",
        }[mode]

    def unavailable(self) -> str | None:
        reason = engine_unavailable()
        if reason is None and self.mode == "backup" and not supports("migrate", "--no-backup"):
            return "no automatic backup in this engine yet (migrate has no --no-backup)"
        return reason

    def version(self) -> str:
        try:
            return f"metamigrate {importlib.metadata.version('metamigrate')}"
        except importlib.metadata.PackageNotFoundError:
            return "metamigrate (not installed)"

    def write_sources(self, workload: Workload, root: Path) -> None:
        write_migrations(workload, root / "migrations")

    def _flags(self, command: str) -> list[str]:
        flags = ["--atomic"] if self.mode == "atomic" else []
        if self.mode != "backup" and supports(command, "--no-backup"):
            flags.append("--no-backup")
        return flags

    def project(self, workload: Workload, root: Path) -> Project:
        db = self.database(workload, root)
        where = str(db) if isinstance(db, Path) else db.url
        base = [str(CLI), "--db", where, "--migrations", str(root / "migrations")]
        return Project(
            root,
            db,
            Invocation([*base, "migrate", *self._flags("migrate")], root),
            Invocation([*base, "status", "--json"], root),
            Invocation([*base, "rollback", "--to", "0", "--yes", *self._flags("rollback")], root),
        )

    def setup_apply(self, project: Project) -> Invocation:
        """``migrate --atomic``: the same bookkeeping as per-migration apply, one transaction."""
        argv = project.apply.argv
        return Invocation(argv if "--atomic" in argv else [*argv, "--atomic"], project.apply.cwd)

    def status_ok(self, output: str, workload: Workload) -> bool:
        data = json.loads(output)
        rows = data.get("migrations") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            return workload.step(workload.n).slug in output
        return len(rows) == workload.n and all(row.get("status") == "applied" for row in rows)
