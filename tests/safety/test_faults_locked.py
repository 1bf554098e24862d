"""Locked: another writer holds the database past the busy timeout."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from engine import MigrationManager
from engine import sqlite as sq
from tests.safety.helpers import assert_clean_failure, files_digest, run_cli, write_lock_held


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_migrate_past_the_busy_timeout_names_the_lock_and_the_timeout_and_status_works(
    tmp_path: Path, journal_mode: str
) -> None:
    db = tmp_path / "locked.db"
    assert run_cli("migrate", "--to", "2", "--db", str(db)).returncode == 0
    with write_lock_held(db, journal_mode):
        before = files_digest(db)
        result = run_cli("migrate", "--busy-timeout", "0.3", "--db", str(db))
        assert_clean_failure(result, [1], "locked", "write lock", "0.3 s")
        status = run_cli("status", "--json", "--db", str(db))
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["current_version"] == 2
        assert files_digest(db) == before  # nothing lost, nothing half written
    assert run_cli("migrate", "--db", str(db)).returncode == 0


def test_restore_is_refused_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    assert run_cli("migrate", "--to", "2", "--db", str(db)).returncode == 0
    made = run_cli("backup", "--json", "--db", str(db))
    backup = json.loads(made.stdout)["file"]
    with write_lock_held(db):
        before = files_digest(db)
        result = run_cli("restore", backup, "--yes", "--busy-timeout", "0.3", "--db", str(db))
        assert_clean_failure(result, [1], "Cannot restore", "write lock")
        assert files_digest(db) == before


def test_opening_another_connection_keeps_this_process_s_write_lock(tmp_path: Path) -> None:
    """Regression: connect() read the file header with open()/close(), and a close() of any
    descriptor drops every POSIX lock the process holds on the file, so a second connection
    (a status call from another thread) silently released a running migration's write lock."""
    db = tmp_path / "lock.db"
    MigrationManager(db).migrate_to(1)
    writer = sq.connect(db)
    try:
        writer.execute("BEGIN IMMEDIATE")
        thread = threading.Thread(target=lambda: MigrationManager(db).status())
        thread.start()
        thread.join(10)
        outsider = run_cli("migrate", "--busy-timeout", "0.2", "--no-backup", "--db", str(db))
        assert_clean_failure(outsider, [1], "locked")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 1
