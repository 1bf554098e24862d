"""Disk full: SQLITE_FULL mid-migration (PRAGMA max_page_count) and while writing the backup."""

from __future__ import annotations

import resource
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from engine import MigrationError, MigrationManager, Registry
from engine import sqlite as sq
from engine.errors import BackupError
from tests.safety.helpers import cli_command, cli_env, digest, write_files

SMALL = '''
    """Create a small table."""


    def up(tx):
        tx.execute("CREATE TABLE small (id INTEGER PRIMARY KEY, value TEXT)")
        tx.executemany("INSERT INTO small (value) VALUES (?)", [("v" * 50,)] * 50)


    def down(tx):
        tx.execute("DROP TABLE small")
    '''

BIG = '''
    """Fill a big table: far more pages than the test allows."""


    def up(tx):
        tx.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, payload TEXT)")
        tx.executemany("INSERT INTO big (payload) VALUES (?)", [("p" * 1000,)] * 2000)


    def down(tx):
        tx.execute("DROP TABLE big")
    '''


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry.from_directory(
        write_files(tmp_path / "migrations", {"0001_small.py": SMALL, "0002_big.py": BIG})
    )


def test_disk_full_mid_migration_is_reported_in_words_and_leaves_the_last_good_version(
    tmp_path: Path, registry: Registry
) -> None:
    db = tmp_path / "full.db"
    MigrationManager(db, registry).migrate_to(1)
    conn = sq.connect(db)
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 8}")
        manager = MigrationManager(conn, registry)
        with pytest.raises(MigrationError) as caught:
            manager.migrate_to_latest()
        message = caught.value.message
        assert "disk full" in message and "version 1" in message, message
        # SQLite may already have rolled back: the engine checked, and is not in a transaction.
        assert not conn.in_transaction
        assert manager.current_version == 1
        assert sq.user_version(conn) == 1
        assert sq.integrity_problems(conn) == []
        assert not sq.table_exists(conn, "big")
        failure = manager.history(1)[0]
        assert (failure.version, failure.success) == (2, False)
        assert "disk full" in (failure.error or "")
        assert manager.verify().ok
    finally:
        conn.close()


def test_backup_folder_that_cannot_be_created_stops_the_run_before_anything_changes(
    tmp_path: Path, registry: Registry
) -> None:
    db = tmp_path / "b.db"
    MigrationManager(db, registry).migrate_to(1)
    before = digest(db)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the backup folder should be")
    manager = MigrationManager(db, registry, backup_dir=blocker / "backups")
    with pytest.raises(BackupError) as caught:
        manager.migrate_to_latest()
    assert "cannot be created" in caught.value.message
    assert "nothing was changed" in caught.value.message
    assert digest(db) == before
    assert manager.current_version == 1


def _limit_file_size() -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_full_disk_while_writing_the_backup_stops_the_run(
    tmp_path: Path, registry: Registry
) -> None:
    """The child may write at most 64 KB per file: the backup of a 200 KB database fails."""
    db = tmp_path / "b.db"
    MigrationManager(db, registry).migrate_to(1)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE padding (x)")
    conn.executemany("INSERT INTO padding VALUES (?)", [("z" * 1000,)] * 200)
    conn.commit()
    conn.close()
    before = digest(db)
    folder = registry.source
    result = subprocess.run(
        cli_command("migrate", "--db", str(db), "--migrations", folder),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
        preexec_fn=_limit_file_size,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    flat = " ".join(result.stderr.split())
    assert "Cannot take a backup" in flat and "nothing was run" in flat, flat
    assert digest(db) == before
    backups = tmp_path / "backups"
    assert not any(p.suffix == ".db" for p in backups.iterdir())  # no half backup listed
