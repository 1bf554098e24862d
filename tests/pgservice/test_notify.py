"""The engine announces each change of the applied set on PostgreSQL; watchers LISTEN for it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine import MigrationError, MigrationManager
from engine.backends.base import ConnectOptions
from tests.conftest import MigrationFiles, table_migration
from tests.pg import PgDatabase

pytest.importorskip("psycopg")

from engine.backends.pg_listen import ChangeListener


def heard(listener: ChangeListener, count: int, timeout: float = 5.0) -> list[str]:
    """What the listener hears until ``count`` announcements came or ``timeout`` passed: each
    commit sends its own notification, and they need not reach the listener together."""
    deadline = time.monotonic() + timeout
    found: list[str] = []
    while len(found) < count and (left := deadline - time.monotonic()) > 0:
        found += listener.wait(left)
    return found


@pytest.fixture
def migrations(write_migrations: MigrationFiles) -> Path:
    return write_migrations(
        {
            "0001_a.py": table_migration("a"),
            "0002_b.py": table_migration("b"),
            "0003_bad.py": 'def up(tx):\n    tx.execute("CREATE TABLE a (id int)")\n',
        }
    )


def test_each_migration_and_rollback_is_announced_when_it_commits(
    pg_database: PgDatabase, migrations: Path
) -> None:
    manager = MigrationManager(pg_database.url, migrations, backup=False)
    with ChangeListener(pg_database.url) as listener:
        assert listener.wait(0.05) == []
        manager.migrate_to(2)
        assert heard(listener, 2) == ["applied 1", "applied 2"]
        manager.rollback(1)
        assert heard(listener, 1) == ["unapplied 2"]


def test_a_failed_migration_and_a_rehearsal_announce_nothing(
    pg_database: PgDatabase, migrations: Path
) -> None:
    manager = MigrationManager(pg_database.url, migrations, backup=False)
    manager.migrate_to(2)
    with ChangeListener(pg_database.url) as listener:
        with pytest.raises(MigrationError):
            manager.migrate_to(3)
        report = manager.rehearse(0)
        assert report.ok
        assert listener.wait(0.3) == []


def test_a_listener_hears_only_its_own_schema(pg_database: PgDatabase, migrations: Path) -> None:
    pg_database.execute("CREATE SCHEMA other")
    with ChangeListener(pg_database.url, ConnectOptions(schema="other")) as listener:
        MigrationManager(pg_database.url, migrations, backup=False).migrate_to(1)
        assert listener.wait(0.3) == []


def test_an_announcement_rolled_back_to_its_savepoint_is_never_sent(
    pg_database: PgDatabase,
) -> None:
    from engine.backends import open_backend

    backend = open_backend(pg_database.url, ConnectOptions())
    try:
        with ChangeListener(pg_database.url) as listener:
            backend.begin_write()
            backend.notify_change("applied 1")
            backend.savepoint("sp")
            backend.notify_change("applied 2")
            backend.rollback_to_savepoint("sp")
            assert listener.wait(0.1) == []  # nothing before the commit
            backend.commit()
            assert listener.wait(5) == ["applied 1"]
            backend.begin_write()
            backend.notify_change("applied 3")
            backend.rollback()
            assert listener.wait(0.3) == []
    finally:
        backend.close()
