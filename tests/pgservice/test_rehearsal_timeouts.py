"""Rehearsals and the rollback impact wait for locks like a real run: a migration's LOCK_TIMEOUT
and the run's --ddl-lock-timeout apply to them too (one step runner, engine.steps)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import MigrationManager, Registry
from engine.backends.base import ConnectOptions
from tests.conftest import MigrationFiles
from tests.pg import PgDatabase

CREATE_BUSY = '''"""Create busy."""


def up(tx):
    tx.execute("CREATE TABLE busy (id INTEGER PRIMARY KEY)")


def down(tx):
    tx.execute("DROP TABLE busy")
'''

ALTER_BUSY = '''"""Add a column to busy."""
{constant}

def up(tx):
    tx.execute("ALTER TABLE busy ADD COLUMN extra INTEGER")


def down(tx):
    tx.execute("ALTER TABLE busy DROP COLUMN extra")
'''


def _manager(pg: PgDatabase, folder: Path, **options: str) -> MigrationManager:
    return MigrationManager(
        pg.url, Registry.from_directory(folder), connect_options=ConnectOptions(**options)
    )


@pytest.fixture
def reader(pg_database: PgDatabase) -> Iterator[None]:
    """Another session reading busy in an open transaction (its lock blocks ALTER TABLE)."""
    conn = pg_database.connect(application_name="nightly report")
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM busy")
        yield
    finally:
        conn.close()


def _migrations(write_migrations: MigrationFiles, constant: str) -> Path:
    return write_migrations(
        {
            "0001_create_busy.py": CREATE_BUSY,
            "0002_alter_busy.py": ALTER_BUSY.format(constant=constant),
        }
    )


@pytest.fixture
def with_constant(pg_database: PgDatabase, write_migrations: MigrationFiles) -> Path:
    folder = _migrations(write_migrations, '\nLOCK_TIMEOUT = "200ms"\n')
    _manager(pg_database, folder).migrate_to(1, backup=False)
    return folder


def test_a_rehearsal_applies_the_migrations_lock_timeout(
    pg_database: PgDatabase, with_constant: Path, reader: None
) -> None:
    manager = _manager(pg_database, with_constant)  # the run's default is 5 s
    started = time.monotonic()
    report = manager.rehearse()
    elapsed = time.monotonic() - started
    failed = report.failed_step
    assert failed is not None and failed.version == 2 and elapsed < 2.5
    assert "lock" in (failed.error or "").lower()
    assert manager.current_version == 1


def test_a_rehearsal_applies_the_runs_ddl_lock_timeout(
    pg_database: PgDatabase, write_migrations: MigrationFiles
) -> None:
    folder = _migrations(write_migrations, "")
    _manager(pg_database, folder).migrate_to(1, backup=False)
    conn = pg_database.connect()
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM busy")
        started = time.monotonic()
        report = _manager(pg_database, folder, lock_timeout="200ms").rehearse()
        assert report.failed_step is not None and time.monotonic() - started < 2.5
    finally:
        conn.close()


def test_the_rollback_impact_applies_the_migrations_lock_timeout(
    pg_database: PgDatabase, with_constant: Path
) -> None:
    manager = _manager(pg_database, with_constant)
    manager.migrate_to(2, backup=False)
    pg_database.execute("INSERT INTO busy (id, extra) VALUES (1, 7)")  # measured by rehearsing
    conn = pg_database.connect()
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM busy")
        started = time.monotonic()
        impact = manager.rollback_impact(1)
        elapsed = time.monotonic() - started
    finally:
        conn.close()
    assert impact.rehearsal is not None and impact.rehearsal.failed_step is not None
    assert elapsed < 2.5 and manager.current_version == 2
