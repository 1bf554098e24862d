"""Shared fixtures: real SQLite files in tmp_path, small registries written as real files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import MigrationManager, Registry

# PostgreSQL: a fresh database per test (pg_database) or module (pg_module_database), and the
# `backend` fixture that runs a shared test on both SQLite and PostgreSQL. See tests/pg.py.
from tests.pg import (  # noqa: F401
    backend,
    pg_database,
    pg_module_database,
    pytest_runtest_makereport,
)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "metadata.db"


MigrationFiles = Callable[[dict[str, str]], Path]


@pytest.fixture
def write_migrations(tmp_path: Path) -> MigrationFiles:
    """Write {"0001_name.py": source} into a fresh folder and return the folder."""
    counter = iter(range(1000))

    def write(files: dict[str, str]) -> Path:
        folder = tmp_path / f"migrations_{next(counter)}"
        folder.mkdir()
        for name, source in files.items():
            (folder / name).write_text(textwrap.dedent(source), encoding="utf-8")
        return folder

    return write


def table_migration(table: str, *, down: bool = True, doc: str = "") -> str:
    """Source of a migration file that creates (and drops) one table."""
    text = f'"""{doc or "Create " + table}."""\n\n\ndef up(tx):\n'
    text += f'    tx.execute("CREATE TABLE {table} (id INTEGER PRIMARY KEY, value TEXT)")\n'
    if down:
        text += f'\n\ndef down(tx):\n    tx.execute("DROP TABLE {table}")\n'
    return text


@pytest.fixture
def three_tables(write_migrations: MigrationFiles) -> Path:
    return write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b"),
            "0003_create_c.py": table_migration("c"),
        }
    )


@pytest.fixture
def manager(db_path: Path, three_tables: Path) -> MigrationManager:
    return MigrationManager(db_path, Registry.from_directory(three_tables))


def tables_in(path: Path) -> set[str]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    finally:
        conn.close()
    bookkeeping = {"schema_migrations", "schema_migration_history", "schema_database_id"}
    return {r[0] for r in rows} - bookkeeping
