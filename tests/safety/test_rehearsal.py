"""Rehearsals run the real plan and keep nothing: the file is byte-identical afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import MigrationManager, Registry, Store
from tests.safety.helpers import files_digest, run_cli, write_files

BULK = '''
    """Insert enough rows to overflow SQLite's page cache (so pages spill to the file)."""


    def up(tx):
        tx.execute("CREATE TABLE bulk (id INTEGER PRIMARY KEY, payload TEXT)")
        tx.executemany("INSERT INTO bulk (payload) VALUES (?)", [("b" * 500,)] * 12000)
        tx.execute("UPDATE seed SET value = value || '!'")


    def down(tx):
        tx.execute("DROP TABLE bulk")
    '''

SEED = '''
    """Seed table."""


    def up(tx):
        tx.execute("CREATE TABLE seed (id INTEGER PRIMARY KEY, value TEXT)")
        tx.executemany("INSERT INTO seed (value) VALUES (?)", [("s",)] * 10)


    def down(tx):
        tx.execute("DROP TABLE seed")
    '''

BROKEN = '''
    """Refers to a table that does not exist."""


    def up(tx):
        tx.execute("INSERT INTO missing_table VALUES (1)")
    '''


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_files(
        tmp_path / "migrations",
        {"0001_seed.py": SEED, "0002_bulk.py": BULK, "0003_broken.py": BROKEN},
    )


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_rehearsal_leaves_the_database_file_byte_identical(
    db_path: Path, folder: Path, journal_mode: str
) -> None:
    manager = MigrationManager(db_path, Registry.from_directory(folder), backup=False)
    manager.migrate_to(1)
    with manager.connection() as conn:
        conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    before = files_digest(db_path)
    report = manager.rehearse(2)
    assert report.ok and report.mode == "transaction"
    assert report.steps[0].rows_changed == 12010
    after = files_digest(db_path)
    assert after[db_path.name] == before[db_path.name]
    if journal_mode == "delete":
        assert after == before  # no journal left either
    assert manager.current_version == 1
    assert not (db_path.parent / "backups").exists()  # a rehearsal takes no backup


def test_rehearsal_reports_sql_time_rows_and_the_step_that_would_fail(
    db_path: Path, folder: Path
) -> None:
    manager = MigrationManager(db_path, Registry.from_directory(folder))
    report = manager.rehearse()
    assert (report.direction, report.from_version, report.target_version) == ("up", 0, 3)
    seed, bulk, broken = report.steps
    assert seed.status == "ok" and seed.rows_changed == 10
    assert any("CREATE TABLE seed" in sql for sql in seed.sql)
    assert bulk.status == "ok" and bulk.duration_ms > 0
    assert broken.status == "failed" and broken.would_fail
    assert "no such table: missing_table" in (broken.error or "")
    assert not report.ok and report.failed_step == broken
    assert manager.current_version == 0
    assert json.loads(json.dumps(report.to_dict()))["steps"][2]["status"] == "failed"


def test_steps_after_a_failure_are_not_run(db_path: Path, folder: Path, tmp_path: Path) -> None:
    more = write_files(
        tmp_path / "more",
        {"0001_broken.py": BROKEN, "0002_seed.py": SEED},
    )
    report = MigrationManager(db_path, Registry.from_directory(more)).rehearse()
    assert [s.status for s in report.steps] == ["failed", "not_run"]


def test_rehearsing_a_foreign_keys_off_step_on_a_connection_with_foreign_keys_on_uses_a_copy(
    tmp_path: Path,
) -> None:
    db = tmp_path / "store.db"
    with Store.open(db, migrations=None) as store:
        store.migrations.rollback(4)
        store.create_database("sales")
        store.create_table("sales", "orders", metadata_location="s3://o", properties={"a": "1"})
        before = files_digest(db)
        report = store.migrations.rehearse()
        assert report.ok and report.mode == "copy"
        assert report.steps[0].version == 5
        assert files_digest(db) == before


def test_cli_migrate_rehearse_changes_nothing_and_exits_1_when_a_step_would_fail(
    db_path: Path, folder: Path
) -> None:
    common = ["--db", str(db_path), "--migrations", str(folder)]
    assert run_cli("migrate", "--to", "1", "--no-backup", *common).returncode == 0
    before = files_digest(db_path)
    ok = run_cli("migrate", "--rehearse", "--to", "2", *common)
    assert ok.returncode == 0, ok.stderr
    assert "Every step would succeed" in ok.stdout and "CREATE TABLE bulk" in ok.stdout
    failing = run_cli("migrate", "--rehearse", "--json", *common)
    assert failing.returncode == 1
    assert json.loads(failing.stdout)["steps"][-1]["status"] == "failed"
    assert files_digest(db_path) == before


def test_cli_rollback_rehearse_needs_no_confirmation_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    assert run_cli("migrate", "--db", str(db)).returncode == 0
    before = files_digest(db)
    result = run_cli("rollback", "--to", "1", "--rehearse", "--json", "--db", str(db))
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert [s["version"] for s in payload["steps"]] == [5, 4, 3, 2]
    assert payload["ok"] is True
    assert files_digest(db) == before


def test_repeated_statements_are_reported_once_with_a_count(db_path: Path, folder: Path) -> None:
    manager = MigrationManager(db_path, Registry.from_directory(folder), backup=False)
    manager.migrate_to(1)
    bulk = manager.rehearse(2).steps[0]
    assert bulk.sql[0].startswith("CREATE TABLE bulk")
    assert bulk.sql[1] == "INSERT INTO bulk (payload) VALUES (?)  -- x12,000"
    assert len(bulk.sql) == 3  # and the UPDATE of seed


def test_rehearsal_of_a_locked_database_says_so_and_changes_nothing(
    db_path: Path, folder: Path
) -> None:
    from engine.errors import DatabaseLockedError
    from tests.safety.helpers import write_lock_held

    manager = MigrationManager(db_path, Registry.from_directory(folder), busy_timeout=0.2)
    manager.migrate_to(1, backup=False)
    with write_lock_held(db_path):
        before = files_digest(db_path)
        with pytest.raises(DatabaseLockedError, match="locked"):
            manager.rehearse(2)
        assert files_digest(db_path) == before
