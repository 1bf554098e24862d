"""The console's watcher on PostgreSQL: another replica's migration shows at once (LISTEN)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from console.watcher import DatabaseWatcher
from engine import MigrationManager
from tests.conftest import MigrationFiles, table_migration
from tests.pg import PgDatabase

pytest.importorskip("psycopg")


def test_a_migration_by_another_process_wakes_the_watcher_at_once(
    pg_database: PgDatabase, write_migrations: MigrationFiles
) -> None:
    folder: Path = write_migrations({"0001_a.py": table_migration("a")})
    manager = MigrationManager(pg_database.url, folder, backup=False)
    manager.plan()
    seen = threading.Event()
    reasons: list[str] = []

    def on_change(reason: str) -> None:
        reasons.append(reason)
        seen.set()

    # A poll interval far longer than the test: only the notification can wake it in time.
    watcher = DatabaseWatcher(pg_database.url, on_change, interval=60)
    watcher.prime()
    watcher.start()
    try:
        deadline = time.monotonic() + 5
        while not watcher.listening and time.monotonic() < deadline:
            time.sleep(0.01)  # the watcher is listening before the change is made
        started = time.monotonic()
        manager.migrate_to_latest()
        assert seen.wait(1.5), "the watcher did not wake on the NOTIFY"
        assert time.monotonic() - started < 1.5
        assert reasons == ["another connection committed"]
    finally:
        watcher.stop()


def test_pausing_the_watcher_leaves_no_session_that_would_block_a_restore(
    pg_database: PgDatabase,
) -> None:
    watcher = DatabaseWatcher(pg_database.url, lambda reason: None, interval=60)
    watcher.prime()
    watcher.start()
    try:
        deadline = time.monotonic() + 5
        while not watcher.listening and time.monotonic() < deadline:
            time.sleep(0.01)
        watcher.pause()
        sessions = pg_database.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        assert sessions == [(0,)]
    finally:
        watcher.stop()


def test_the_console_names_a_server_database_by_host_database_and_schema_never_the_password() -> (
    None
):
    from console.formatting import display_path

    label = display_path("postgresql://svc:s3cret@db.internal:6432/metadata?sslmode=require")
    assert label == "db.internal:6432/metadata · public"
    assert display_path("postgresql://db/meta", schema="ops") == "db/meta · ops"
