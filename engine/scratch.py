"""Scratch databases: an empty database in a temporary folder, deleted afterwards.

Baseline, stamp, lint and offline SQL run the code's migrations there to learn what they produce
without touching the operator's database. On a server (PostgreSQL) the scratch database is a new
schema in the same database, dropped afterwards (``scratch_like``).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.settings import DEFAULT_BUSY_TIMEOUT, DEFAULT_SCHEMA

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
def scratch_manager(
    registry: Registry, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> Iterator[MigrationManager]:
    """A manager of ``registry`` on a new, empty scratch database (no backups, no events)."""
    from engine.manager import MigrationManager

    with scratch_path() as path:
        yield MigrationManager(path, registry, busy_timeout=busy_timeout, backup=False)


@contextlib.contextmanager
def scratch_like(manager: MigrationManager) -> Iterator[Scratch]:
    """A scratch database of the same product as ``manager``'s, with its migrations: an empty
    SQLite file in a temporary folder, or on a server a new schema in the same database (dropped
    afterwards, whatever happens)."""
    if manager.is_file_backed:
        with scratch_manager(manager.registry, busy_timeout=manager.busy_timeout) as scratch:
            yield Scratch(scratch, None, None)
        return
    import secrets

    from engine.manager import MigrationManager

    options = manager.connect_options()
    name = f"metamigrate_scratch_{secrets.token_hex(4)}"
    scratch = MigrationManager(
        manager.location,
        manager.registry,
        busy_timeout=manager.busy_timeout,
        backup=False,
        connect_options=options.replace(schema=name, read_only=False),
    )
    try:
        yield Scratch(scratch, name, options.schema or DEFAULT_SCHEMA)
    finally:
        _drop_schema(manager, name)


def _drop_schema(manager: MigrationManager, name: str) -> None:
    from engine.backends import open_backend

    backend = open_backend(manager.location, manager.connect_options().replace(read_only=False))
    try:
        backend.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        backend.close()


@dataclass(frozen=True)
class Scratch:
    """A scratch manager; on a server, the scratch schema and the schema it stands in for."""

    manager: MigrationManager
    schema: str | None
    live_schema: str | None

    def as_live(self, text: str) -> str:
        """``text`` (a schema fact, a statement) with the scratch schema's name replaced by the
        live one, so that what the scratch says compares with the live database."""
        if self.schema is None or self.live_schema is None:
            return text
        return text.replace(f'"{self.schema}"', f'"{self.live_schema}"').replace(
            self.schema, self.live_schema
        )

    def facts(self) -> list[str]:
        """The scratch schema's description, in the live schema's terms."""
        with self.manager.backend() as backend:
            return sorted(self.as_live(f) for f in backend.describe_schema().facts)
