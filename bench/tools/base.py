"""What every benchmarked tool provides: its native sources for a workload and three commands."""

from __future__ import annotations

import shutil
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from bench.pg import ScratchDatabase, scratch
from bench.workload import Workload

#: The interpreter of the venv the harness runs in; every tool runs under it.
PYTHON = sys.executable
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Invocation:
    """One command line, as an operator would type it, and where it runs."""

    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Project:
    """A tool's sources for one workload, the database they act on, and the three commands.

    ``db``: a SQLite file, or a scratch database of the PostgreSQL server."""

    root: Path
    db: Path | ScratchDatabase
    apply: Invocation
    status: Invocation
    rollback: Invocation

    def reset(self) -> None:
        """Fresh database per repetition: remove the file, its journal and any backups (on a
        server: drop and create the database)."""
        for extra in ("backups", ".metamigrate"):
            shutil.rmtree(self.root / extra, ignore_errors=True)
        if isinstance(self.db, ScratchDatabase):
            self.db.recreate()
            return
        for path in self.root.glob(self.db.name + "*"):
            path.unlink()
        if self.db.parent != self.root:
            for path in self.db.parent.glob(self.db.name + "*"):
                path.unlink()


class Tool(ABC):
    """A way of running the workload: a baseline, a peer, or metamigrate in one mode."""

    #: Short stable identifier, used in results.json.
    key: str
    #: Human label for the tables.
    label: str
    #: "floor" (raw baselines), "ours" or "peer".
    group: str
    #: Which row of the raw baselines this tool is compared to: "raw" or "raw-1tx".
    baseline: str = "raw"
    #: The PostgreSQL server this tool runs against (None: SQLite files).
    server: str | None = None

    def unavailable(self) -> str | None:
        """Why this tool cannot run here, or None when it can."""
        return None

    @abstractmethod
    def version(self) -> str:
        """Version string of the tool (or of SQLite for the raw baselines)."""

    @abstractmethod
    def write_sources(self, workload: Workload, root: Path) -> None:
        """Write the workload in the tool's native form under ``root``."""

    @abstractmethod
    def project(self, workload: Workload, root: Path) -> Project:
        """The database and commands for sources written by :meth:`write_sources`."""

    def database(self, workload: Workload, root: Path) -> Path | ScratchDatabase:
        """Where this tool's project keeps its data: ``root/db.sqlite3``, or a scratch database
        of the server."""
        if self.server is None:
            return root / "db.sqlite3"
        return scratch(self.server, workload.n, self.key)

    def setup_apply(self, project: Project) -> Invocation:
        """The untimed apply that prepares a database for status runs (default: ``apply``)."""
        return project.apply

    def status_ok(self, output: str, workload: Workload) -> bool:
        """Whether the status output reports the last migration (default: it names it)."""
        return workload.step(workload.n).slug in output

    def prepare(self, workload: Workload, root: Path) -> Project:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        self.write_sources(workload, root)
        return self.project(workload, root)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
