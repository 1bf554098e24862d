"""Scratch databases: an empty database in a temporary folder, deleted afterwards.

Baseline, lint and offline SQL run the code's migrations there to learn what they produce without
touching the operator's database.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.manager import MigrationManager
    from engine.migration import Registry


@contextlib.contextmanager
def scratch_path(prefix: str = "metamigrate-scratch-") -> Iterator[Path]:
    """A path for a database that does not exist yet, in a folder removed on exit."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder / "scratch.db"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def scratch_manager(registry: Registry, *, busy_timeout: float = 5.0) -> Iterator[MigrationManager]:
    """A manager of ``registry`` on a new, empty scratch database (no backups, no events)."""
    from engine.manager import MigrationManager

    with scratch_path() as path:
        yield MigrationManager(path, registry, busy_timeout=busy_timeout, backup=False)
