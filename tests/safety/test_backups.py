"""Automatic verified backups, retention, and atomic restores."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from engine import MigrationManager, Store
from engine.backup import BackupManager
from engine.errors import BackupError, DatabaseLockedError, ReadOnlyDatabaseError
from engine.events import BackupTaken, Event, MigrationStarted
from tests.safety.helpers import (
    answer_on_terminal,
    assert_clean_failure,
    digest,
    files_digest,
    query,
    run_cli,
    user_version,
    write_lock_held,
)


def store_at(db: Path, version: int) -> None:
    manager = MigrationManager(db, backup=False)
    manager.migrate_to(version)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO databases (name, created_at) VALUES ('sales', 'now')")
    conn.commit()
    conn.close()


def test_migrate_takes_a_verified_backup_before_the_first_step(db_path: Path) -> None:
    store_at(db_path, 2)
    events: list[Event] = []
    manager = MigrationManager(db_path, on_event=events.append)
    manager.migrate_to_latest()
    backup = manager.last_backup
    assert backup is not None and backup.version == 2
    assert backup.reason == "before migrate to 5"
    # Taken before anything ran: the event comes first, the copy is the old schema.
    kinds = [type(e) for e in events]
    assert kinds.index(BackupTaken) < kinds.index(MigrationStarted)
    assert query(backup.path, "PRAGMA quick_check") == [("ok",)]
    assert user_version(backup.path) == 2
    assert query(backup.path, "SELECT name FROM databases") == [("sales",)]
    assert backup.name.startswith(f"{db_path.name}-") and backup.name.endswith("-v0002.db")
    sidecar = json.loads(Path(str(backup.path) + ".json").read_text())
    assert sidecar["version"] == 2 and sidecar["source"] == str(db_path.absolute())
    assert manager.list_backups() == [backup]


def test_rollback_takes_a_backup_too(db_path: Path) -> None:
    store_at(db_path, 3)
    manager = MigrationManager(db_path)
    manager.rollback(1)
    assert manager.last_backup is not None and manager.last_backup.version == 3
    assert manager.last_backup.reason == "before rollback to 1"


def test_no_backup_when_there_is_nothing_to_run_or_nothing_to_lose(tmp_path: Path) -> None:
    db = tmp_path / "service.db"
    with Store.open(db):  # a new file: empty, nothing to lose
        pass
    with Store.open(db):  # every service start afterwards: nothing pending
        pass
    assert not (tmp_path / "backups").exists()


def test_backup_false_and_the_per_call_override(db_path: Path) -> None:
    store_at(db_path, 1)
    manager = MigrationManager(db_path, backup=False)
    manager.migrate_to(2)
    assert manager.last_backup is None
    manager.migrate_to(3, backup=True)
    assert manager.last_backup is not None and manager.last_backup.version == 2
    MigrationManager(db_path).migrate_to(4, backup=False)
    assert len(manager.list_backups()) == 1


def test_retention_keeps_the_newest_n(db_path: Path) -> None:
    store_at(db_path, 1)
    manager = MigrationManager(db_path, keep_backups=3)
    taken = [manager.backup() for _ in range(5)]
    assert [b.path for b in manager.list_backups()] == [b.path for b in reversed(taken[2:])]
    assert not taken[0].path.exists() and not Path(str(taken[0].path) + ".json").exists()


def test_a_configured_backup_folder_is_used(db_path: Path, tmp_path: Path) -> None:
    store_at(db_path, 1)
    folder = tmp_path / "elsewhere" / "snapshots"
    manager = MigrationManager(db_path, backup_dir=folder)
    manager.migrate_to(2)
    assert manager.last_backup is not None and manager.last_backup.path.parent == folder


def test_a_backup_is_consistent_with_wal_and_an_open_reader(db_path: Path) -> None:
    store_at(db_path, 2)
    writer = sqlite3.connect(db_path)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    reader = sqlite3.connect(db_path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM databases").fetchone()  # holds a read snapshot
    writer.executemany(
        "INSERT INTO databases (name, created_at) VALUES (?, 'now')",
        [(f"w{i}",) for i in range(50)],
    )
    writer.commit()  # committed into the WAL only
    try:
        backup = MigrationManager(db_path).backup()
    finally:
        reader.execute("COMMIT")
        reader.close()
        writer.close()
    assert query(backup.path, "SELECT count(*) FROM databases") == [(51,)]
    assert query(backup.path, "PRAGMA journal_mode") == [("delete",)]
    assert not Path(str(backup.path) + "-wal").exists()


def test_half_written_backups_of_dead_processes_are_removed_and_never_listed(
    db_path: Path,
) -> None:
    store_at(db_path, 1)
    manager = MigrationManager(db_path)
    folder = manager.backups.folder
    folder.mkdir()
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    stale = folder / f".{db_path.name}-20260101T000000.000000.{dead_pid}.tmp"
    stale.write_bytes(b"half a backup")
    assert manager.list_backups() == []
    manager.backup()
    assert not stale.exists()


def test_a_sidecar_half_written_by_a_killed_backup_is_removed_by_the_next_one(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import backup_folder

    store_at(db_path, 1)
    manager = MigrationManager(db_path)
    renamed: list[Path] = []
    replace = os.replace

    def recording(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        renamed.append(Path(source))
        replace(source, target)

    monkeypatch.setattr(backup_folder.os, "replace", recording)
    manager.backup()
    monkeypatch.undo()
    written = next(path for path in renamed if ".json" in path.name)
    # What a backup killed before renaming its sidecar leaves, its writer gone.
    stale = written.with_name(written.name.replace(f".{os.getpid()}.", f".{2**22 + 12346}."))
    assert stale.name != written.name
    stale.write_text("{")
    manager.backup()
    assert not stale.exists()


def test_restore_puts_a_backup_back_and_keeps_the_replaced_file(db_path: Path) -> None:
    store_at(db_path, 2)
    manager = MigrationManager(db_path)
    manager.migrate_to_latest()
    assert manager.last_backup is not None
    result = manager.restore(manager.last_backup)
    assert result.version == 2 and manager.current_version == 2
    assert user_version(db_path) == 2
    assert result.replaced is not None and result.replaced.version == 5
    assert result.replaced.reason == "before restore"
    assert query(result.replaced.path, "SELECT count(*) FROM schema_migrations") == [(5,)]
    assert manager.verify().ok
    # No temporary file is left beside the database.
    assert sorted(p.name for p in db_path.parent.iterdir() if p.is_file()) == [db_path.name]


def test_restore_by_file_name_in_the_backup_folder(db_path: Path) -> None:
    store_at(db_path, 2)
    manager = MigrationManager(db_path)
    backup = manager.backup()
    manager.migrate_to(3)
    assert manager.restore(backup.name).version == 2


def test_restore_of_a_wal_database_keeps_wal_mode_and_no_stale_wal(db_path: Path) -> None:
    store_at(db_path, 2)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    manager = MigrationManager(db_path)
    backup = manager.backup()
    manager.migrate_to_latest()
    manager.restore(backup)
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert query(db_path, "PRAGMA quick_check") == [("ok",)]
    assert manager.current_version == 2


def test_restore_is_refused_while_another_connection_has_a_wal_database_open(
    db_path: Path,
) -> None:
    store_at(db_path, 2)
    other = sqlite3.connect(db_path)
    other.execute("PRAGMA journal_mode = WAL")
    other.execute("SELECT 1 FROM databases").fetchall()
    try:
        manager = MigrationManager(db_path, busy_timeout=0.2)
        backup = manager.backup()
        manager.migrate_to(3)
        with pytest.raises(DatabaseLockedError, match="other connections"):
            manager.restore(backup)
        assert manager.current_version == 3
    finally:
        other.close()


def test_restore_refuses_a_damaged_backup_and_changes_nothing(db_path: Path) -> None:
    store_at(db_path, 2)
    manager = MigrationManager(db_path)
    backup = manager.backup()
    data = bytearray(backup.path.read_bytes())
    for page in range(1, len(data) // 4096):  # every b-tree page header but the first
        data[page * 4096 : page * 4096 + 12] = b"\xff" * 12
    backup.path.write_bytes(bytes(data))
    before = digest(db_path)
    with pytest.raises(BackupError, match="integrity check"):
        manager.restore(backup)
    assert digest(db_path) == before


def test_restore_through_a_store_connection_is_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        backup = store.migrations.backup()
        with pytest.raises(BackupError, match="close it"):
            store.migrations.restore(backup)
    with pytest.raises(ReadOnlyDatabaseError):
        MigrationManager(tmp_path / "s.db", read_only=True).restore(backup)


def test_keep_must_be_positive() -> None:
    with pytest.raises(BackupError, match="at least 1"):
        BackupManager("x.db", keep=0)


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_migrate_reports_the_backup_and_backups_lists_it(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    store_at(db, 2)
    migrate = run_cli("migrate", "--json", "--db", str(db))
    assert migrate.returncode == 0, migrate.stderr
    backup = json.loads(migrate.stdout)["backup"]
    assert backup["version"] == 2
    listing = json.loads(run_cli("backups", "--json", "--db", str(db)).stdout)
    assert [b["file"] for b in listing["backups"]] == [backup["file"]]
    assert {"file", "created_at", "version", "size"} <= set(listing["backups"][0])
    human = run_cli("backups", "--db", str(db))
    assert human.returncode == 0 and Path(backup["file"]).name[:20] in human.stdout


def test_cli_no_backup_warns(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    store_at(db, 2)
    result = run_cli("migrate", "--no-backup", "--db", str(db))
    assert result.returncode == 0
    assert "warning" in result.stderr and "no backup" in result.stderr
    assert not (tmp_path / "backups").exists()


def test_cli_restore_needs_yes_without_a_terminal_then_restores(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    store_at(db, 2)
    backup = json.loads(run_cli("backup", "--json", "--db", str(db)).stdout)["file"]
    assert run_cli("migrate", "--no-backup", "--db", str(db)).returncode == 0
    before = files_digest(db)
    assert_clean_failure(run_cli("restore", backup, "--db", str(db)), [2], "pass --yes")
    assert files_digest(db) == before
    restored = run_cli("restore", Path(backup).name, "--yes", "--json", "--db", str(db))
    assert restored.returncode == 0, restored.stderr
    payload = json.loads(restored.stdout)
    assert payload["version"] == 2 and payload["replaced"]["version"] == 5
    assert user_version(db) == 2


def test_cli_restore_of_a_missing_or_foreign_file_is_a_clean_error(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    store_at(db, 1)
    assert_clean_failure(
        run_cli("restore", "nope.db", "--yes", "--db", str(db)), [1], "does not exist"
    )
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"junk" * 1000)
    assert_clean_failure(
        run_cli("restore", str(junk), "--yes", "--db", str(db)), [2], "not a SQLite"
    )


def test_cli_restore_refuses_under_a_write_lock(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    store_at(db, 1)
    backup = json.loads(run_cli("backup", "--json", "--db", str(db)).stdout)["file"]
    with write_lock_held(db):
        started = time.monotonic()
        result = run_cli("restore", backup, "--yes", "--busy-timeout", "0.2", "--db", str(db))
        assert time.monotonic() - started < 30
    assert_clean_failure(result, [1], "write lock")


def test_restore_when_the_database_file_is_gone(db_path: Path) -> None:
    store_at(db_path, 2)
    manager = MigrationManager(db_path)
    backup = manager.backup()
    db_path.unlink()
    result = manager.restore(backup)
    assert result.replaced is None and manager.current_version == 2


def test_databases_sharing_a_folder_keep_separate_backups(tmp_path: Path) -> None:
    one, two = tmp_path / "meta.db", tmp_path / "meta.sqlite"
    store_at(one, 1)
    store_at(two, 1)
    first = MigrationManager(one, keep_backups=1)
    second = MigrationManager(two, keep_backups=1)
    kept = first.backup()
    second.backup()
    second.backup()
    assert first.list_backups() == [kept]
    assert len(second.list_backups()) == 1


def test_restoring_the_oldest_backup_does_not_let_retention_delete_it(db_path: Path) -> None:
    store_at(db_path, 1)
    manager = MigrationManager(db_path, keep_backups=2)
    oldest = manager.backup()
    manager.backup()
    manager.restore(oldest)
    assert oldest.path.exists()


def test_backing_up_a_database_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    assert_clean_failure(run_cli("backup", "--db", str(db)), [1], "nothing to back up")
    assert not db.exists() and not (tmp_path / "backups").exists()


def test_a_restore_cleans_up_after_a_restore_that_was_killed(db_path: Path) -> None:
    store_at(db_path, 2)
    manager = MigrationManager(db_path)
    backup = manager.backup()
    leftover = db_path.parent / f".{db_path.name}.restore.{2**22 + 4321}.tmp"
    leftover.write_bytes(b"half a copy")
    manager.restore(backup)
    assert not leftover.exists()


def test_cli_interactive_restore_requires_the_typed_version(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    store_at(db, 2)
    backup = json.loads(run_cli("backup", "--json", "--db", str(db)).stdout)["file"]
    assert run_cli("migrate", "--no-backup", "--db", str(db)).returncode == 0

    def restore_typing(answer: str) -> tuple[int, str]:
        return answer_on_terminal("restore", backup, "--db", str(db), answer=answer)

    code, text = restore_typing("5")
    assert code == 1 and "cancelled" in text and user_version(db) == 5
    code, text = restore_typing("2")
    assert code == 0 and "restored" in text and user_version(db) == 2
