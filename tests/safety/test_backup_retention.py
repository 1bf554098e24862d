"""Backups survive failed attempts: nothing that fails before its first change takes or prunes one.

Retention prunes only after a run that succeeded, and never leaves fewer distinct schema versions
than it found. Backups belong to a database by the id in its bookkeeping, not by its file name, so
databases that share a file name and a ``--backup-dir`` never see, prune or restore each other's.
A symlinked database is backed up and restored as the file it points at.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from engine import MigrationManager
from engine.backup import BackupManager
from engine.errors import BackupError, DatabaseLockedError, MigrationError
from tests.safety.helpers import (
    applied_versions,
    assert_clean_failure,
    query,
    run_cli,
    write_files,
    write_lock_held,
)


def store_at(db: Path, version: int, *, marker: str = "sales") -> None:
    MigrationManager(db, backup=False).migrate_to(version)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO databases (name, created_at) VALUES (?, 'now')", (marker,))
    conn.commit()
    conn.close()


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def backups_of_versions(db: Path, versions: list[int], keep: int = 10) -> MigrationManager:
    """One manual backup at each version, oldest first."""
    for version in versions:
        MigrationManager(db, backup=False).migrate_to(version)
        MigrationManager(db, keep_backups=keep).backup()
    return MigrationManager(db, keep_backups=keep)


# -- failed attempts leave the backups alone ------------------------------------------------


def test_migrate_retries_against_a_lock_take_no_backup_and_delete_none(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    store_at(db, 1)
    backups_of_versions(db, [1, 2])
    folder = tmp_path / "backups"
    before = files_in(folder)
    with write_lock_held(db):
        for _ in range(3):
            result = run_cli(
                "migrate", "--keep-backups", "1", "--busy-timeout", "0.1", "--db", str(db)
            )
            assert_clean_failure(result, [1], "locked")
    assert files_in(folder) == before


def test_migrate_under_a_lock_from_python_takes_no_backup(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    store_at(db, 2)
    with write_lock_held(db), pytest.raises(DatabaseLockedError):
        MigrationManager(db, busy_timeout=0.1).migrate_to_latest()
    assert not (tmp_path / "backups").exists()


def test_rollback_under_a_lock_takes_no_backup(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    store_at(db, 3)
    with write_lock_held(db):
        result = run_cli(
            "rollback", "--to", "1", "--yes", "--force", "--busy-timeout", "0.1", "--db", str(db)
        )
    assert_clean_failure(result, [1], "locked")
    assert not (tmp_path / "backups").exists()


def test_restore_refused_under_a_lock_changes_no_file(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    store_at(db, 1)
    manager = backups_of_versions(db, [1, 2, 3], keep=1)
    oldest = manager.list_backups()[-1]
    folder = tmp_path / "backups"
    before = files_in(folder)
    with write_lock_held(db):
        result = run_cli(
            "restore",
            oldest.name,
            "--yes",
            "--keep-backups",
            "1",
            "--busy-timeout",
            "0.1",
            "--db",
            str(db),
        )
    assert_clean_failure(result, [1], "nothing was changed")
    assert files_in(folder) == before
    assert applied_versions(db) == [1, 2, 3]


def test_a_run_whose_first_step_fails_leaves_no_backup(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    folder = write_files(
        tmp_path / "m",
        {
            "0001_a.py": 'def up(tx):\n    tx.execute("CREATE TABLE a (x)")\n',
            "0002_b.py": 'def up(tx):\n    raise ValueError("no")\n',
        },
    )
    MigrationManager(db, folder, backup=False).migrate_to(1)
    manager = MigrationManager(db, folder)
    with pytest.raises(MigrationError):
        manager.migrate_to_latest()
    assert manager.last_backup is None
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").iterdir())


def test_a_run_that_fails_after_a_change_keeps_its_backup_and_prunes_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "app.db"
    folder = write_files(
        tmp_path / "m",
        {
            "0001_a.py": 'def up(tx):\n    tx.execute("CREATE TABLE a (x)")\n',
            "0002_b.py": 'def up(tx):\n    tx.execute("CREATE TABLE b (x)")\n',
            "0003_c.py": 'def up(tx):\n    raise ValueError("no")\n',
        },
    )
    MigrationManager(db, folder, backup=False).migrate_to(1)
    old = [MigrationManager(db, folder, keep_backups=1).backup() for _ in range(1)]
    manager = MigrationManager(db, folder, keep_backups=1)
    with pytest.raises(MigrationError):
        manager.migrate_to_latest()
    assert manager.last_backup is not None and manager.last_backup.path.exists()
    assert all(b.path.exists() for b in old)
    assert applied_versions(db) == [1, 2]


# -- retention ------------------------------------------------------------------------------


def test_retention_keeps_the_newest_backup_of_every_version(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    store_at(db, 1)
    manager = backups_of_versions(db, [1, 2, 3, 3, 3, 3, 3], keep=2)
    versions = [b.version for b in manager.list_backups()]
    assert versions == [3, 3, 2, 1]


def test_a_successful_migrate_prunes_but_keeps_every_version(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    store_at(db, 1)
    backups_of_versions(db, [1, 1, 1, 2], keep=2)
    manager = MigrationManager(db, keep_backups=2)
    manager.migrate_to(3)
    assert [b.version for b in manager.list_backups()] == [2, 2, 1]


# -- identity: a shared folder, same file names ----------------------------------------------


def two_databases_one_folder(tmp_path: Path) -> tuple[Path, Path, Path]:
    shared = tmp_path / "shared-backups"
    one = tmp_path / "east" / "metadata.db"
    two = tmp_path / "west" / "metadata.db"
    one.parent.mkdir()
    two.parent.mkdir()
    store_at(one, 2, marker="east")
    store_at(two, 2, marker="west")
    return one, two, shared


def test_a_shared_backup_folder_lists_only_this_databases_backups(tmp_path: Path) -> None:
    one, two, shared = two_databases_one_folder(tmp_path)
    mine = MigrationManager(one, backup_dir=shared).backup()
    theirs = MigrationManager(two, backup_dir=shared).backup()
    assert MigrationManager(one, backup_dir=shared).list_backups() == [mine]
    assert MigrationManager(two, backup_dir=shared).list_backups() == [theirs]


def test_pruning_in_a_shared_folder_never_deletes_another_databases_backups(
    tmp_path: Path,
) -> None:
    one, two, shared = two_databases_one_folder(tmp_path)
    mine = MigrationManager(one, backup_dir=shared, keep_backups=1).backup()
    for _ in range(3):
        MigrationManager(two, backup_dir=shared, keep_backups=1).backup()
    assert mine.path.exists()
    assert len(MigrationManager(two, backup_dir=shared).list_backups()) == 1


def test_restoring_the_newest_listed_backup_puts_back_this_databases_data(tmp_path: Path) -> None:
    one, two, shared = two_databases_one_folder(tmp_path)
    MigrationManager(one, backup_dir=shared).backup()
    MigrationManager(two, backup_dir=shared).backup()  # newer, same file name
    result = run_cli(
        "restore",
        "--yes",
        "--backup-dir",
        str(shared),
        "--db",
        str(one),
        MigrationManager(one, backup_dir=shared).list_backups()[0].name,
    )
    assert result.returncode == 0, result.stderr
    assert query(one, "SELECT name FROM databases") == [("east",)]


def test_restoring_another_databases_backup_is_refused(tmp_path: Path) -> None:
    one, two, shared = two_databases_one_folder(tmp_path)
    theirs = MigrationManager(two, backup_dir=shared).backup()
    with pytest.raises(BackupError, match="another database"):
        MigrationManager(one, backup_dir=shared).restore(theirs.path)
    assert query(one, "SELECT name FROM databases") == [("east",)]


def test_a_backup_without_its_sidecar_is_known_by_the_id_inside_it(tmp_path: Path) -> None:
    one, two, shared = two_databases_one_folder(tmp_path)
    mine = MigrationManager(one, backup_dir=shared).backup()
    theirs = MigrationManager(two, backup_dir=shared).backup()
    for info in (mine, theirs):
        Path(str(info.path) + ".json").unlink()
    assert [b.path for b in MigrationManager(one, backup_dir=shared).list_backups()] == [mine.path]


def test_the_sidecar_records_the_database_id(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    store_at(db, 2)
    info = MigrationManager(db).backup()
    sidecar = json.loads(Path(str(info.path) + ".json").read_text())
    recorded = query(db, "SELECT id FROM schema_database_id")[0][0]
    assert sidecar["database_id"] == info.database_id == recorded


def test_a_restored_database_keeps_its_backups(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    store_at(db, 2)
    manager = MigrationManager(db)
    first = manager.backup()
    manager.migrate_to(3)
    manager.restore(first)
    assert first.path in [b.path for b in manager.list_backups()]


# -- symlinked databases --------------------------------------------------------------------


def test_restore_through_a_symlink_restores_the_target_and_keeps_the_link(
    tmp_path: Path,
) -> None:
    real = tmp_path / "releases" / "metadata-v3.db"
    real.parent.mkdir()
    store_at(real, 2)
    link = tmp_path / "current.db"
    link.symlink_to(real)
    manager = MigrationManager(link)
    backup = manager.backup()
    manager.migrate_to(4)
    result = run_cli("restore", backup.name, "--yes", "--db", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert applied_versions(real) == [1, 2]


def test_backups_of_a_symlinked_database_are_named_after_the_real_file(tmp_path: Path) -> None:
    real = tmp_path / "data" / "metadata.db"
    real.parent.mkdir()
    store_at(real, 2)
    link = tmp_path / "current.db"
    link.symlink_to(real)
    info = MigrationManager(link).backup()
    assert info.path.parent == real.parent / "backups"
    assert info.name.startswith("metadata.db-")
    assert MigrationManager(real).list_backups() == MigrationManager(link).list_backups()


def test_backup_manager_resolves_the_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.db"
    real.touch()
    link = tmp_path / "link.db"
    link.symlink_to(real)
    assert BackupManager(link).db_path == real.resolve()
