"""Verification checks and the deployment gate."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from engine import (
    DeploymentManager,
    DeploymentNotReady,
    MigrationManager,
    Registry,
    SchemaMismatchError,
)
from tests.conftest import MigrationFiles, table_migration


def test_verify_passes_on_a_freshly_migrated_database(manager: MigrationManager) -> None:
    manager.migrate_to_latest()
    report = manager.verify()
    assert report.ok, report.problems
    assert {c.name for c in report.checks} >= {
        "integrity",
        "foreign_keys",
        "checksums",
        "schema_drift",
        "registry",
    }


def test_an_edited_applied_migration_is_detected(
    manager: MigrationManager, three_tables: Path, db_path: Path
) -> None:
    manager.migrate_to_latest()
    path = three_tables / "0002_create_b.py"
    path.write_text(path.read_text().replace("value TEXT", "value BLOB"))
    fresh = MigrationManager(db_path, Registry.from_directory(three_tables))
    assert [s.checksum_ok for s in fresh.status()] == [True, False, True]
    report = fresh.verify()
    assert not report.check("checksums").passed
    assert "0002_create_b was edited after it was applied" in " ".join(report.problems)


def test_a_reformatted_migration_is_not_an_edit(
    manager: MigrationManager, three_tables: Path, db_path: Path
) -> None:
    manager.migrate_to_latest()
    path = three_tables / "0002_create_b.py"
    path.write_text("# reformatted\n\n\n" + path.read_text().replace("(tx):", "( tx ):"))
    fresh = MigrationManager(db_path, Registry.from_directory(three_tables))
    assert all(s.checksum_ok for s in fresh.status())
    assert fresh.verify().ok


def test_a_touched_but_unchanged_file_still_verifies(
    manager: MigrationManager, three_tables: Path, db_path: Path
) -> None:
    manager.migrate_to_latest()
    path = three_tables / "0001_create_a.py"
    os.utime(path, ns=(1, 1))  # new mtime: the status cache misses and recomputes
    fresh = MigrationManager(db_path, Registry.from_directory(three_tables))
    assert all(s.checksum_ok for s in fresh.status())


def test_schema_drift_outside_migrations_is_detected(
    manager: MigrationManager, db_path: Path
) -> None:
    manager.migrate_to_latest()
    conn = sqlite3.connect(db_path)
    conn.execute("ALTER TABLE b ADD COLUMN sneaky TEXT")
    conn.commit()
    conn.close()
    report = manager.verify()
    assert not report.check("schema_drift").passed
    assert "changed outside the migrations" in " ".join(report.problems)
    status = DeploymentManager(manager).status()
    assert status.status == "error" and not status.schema_valid


def test_rollback_then_verify_has_no_false_drift(manager: MigrationManager) -> None:
    manager.migrate_to_latest()
    manager.rollback(1)
    assert manager.verify().ok
    manager.migrate_to_latest()
    manager.rollback(2)
    assert manager.verify().ok


def test_database_ahead_of_code_is_reported_and_blocks_migrate(
    manager: MigrationManager, write_migrations: MigrationFiles, db_path: Path
) -> None:
    manager.migrate_to_latest()
    older_code = write_migrations(
        {"0001_create_a.py": table_migration("a"), "0002_create_b.py": table_migration("b")}
    )
    old = MigrationManager(db_path, Registry.from_directory(older_code))
    statuses = old.status()
    assert statuses[-1].status == "unknown" and statuses[-1].version == 3
    assert "ahead of the code" in " ".join(old.verify().problems)
    with pytest.raises(SchemaMismatchError, match="ahead of the code"):
        old.migrate_to_latest()
    deployment = DeploymentManager(old).status()
    assert deployment.status == "error"


def test_deployment_status_pending_then_ready(manager: MigrationManager) -> None:
    deployment = DeploymentManager(manager)
    pending = deployment.status()
    assert pending.status == "pending"
    assert (pending.current_version, pending.latest_version) == (0, 3)
    assert (pending.pending_count, pending.applied_count) == (3, 0)
    assert pending.schema_valid
    assert list(pending.to_dict())[:7] == [
        "status",
        "current_version",
        "latest_version",
        "pending_count",
        "applied_count",
        "schema_valid",
        "migrations",
    ]
    with pytest.raises(DeploymentNotReady) as caught:
        deployment.ensure_ready()
    assert caught.value.status.status == "pending"
    assert "3 migration(s) pending" in str(caught.value)
    ready = deployment.ensure_ready(migrate=True)
    assert ready.status == "ready" and ready.pending_count == 0


def test_ensure_ready_with_migrate_refuses_an_error_state(
    manager: MigrationManager, db_path: Path
) -> None:
    manager.migrate_to(1)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE out_of_band (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(DeploymentNotReady) as caught:
        DeploymentManager(manager).ensure_ready(migrate=True)
    assert caught.value.status.status == "error"
    assert manager.current_version == 1  # nothing migrated on top of a drifted schema


def test_rollback_to_version_is_the_emergency_rollback(manager: MigrationManager) -> None:
    manager.migrate_to_latest()
    result = DeploymentManager(manager).rollback_to_version(1)
    assert result.to_version == 1 and manager.current_version == 1


def test_quick_verify_trusts_untouched_files_and_rechecks_touched_ones(
    manager: MigrationManager, three_tables: Path, db_path: Path
) -> None:
    manager.migrate_to_latest()
    path = three_tables / "0002_create_b.py"
    stat = path.stat()
    edited = path.read_text().replace("value TEXT", "value BLOB")
    path.write_text(edited)
    fresh = MigrationManager(db_path, Registry.from_directory(three_tables))
    assert not fresh.verify(full_checksums=False).ok  # touched: re-parsed, the edit is found
    # An edit of the same size with the old mtime put back: only the full check sees it, which
    # is why the full check stays the default.
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    fresh = MigrationManager(db_path, Registry.from_directory(three_tables))
    assert fresh.verify(full_checksums=False).ok
    assert not fresh.verify().ok


def test_a_check_constraint_removed_by_hand_is_drift(db_path: Path) -> None:
    from engine import Migration, Tx

    def up(tx: Tx) -> None:
        tx.execute("CREATE TABLE t (name TEXT CHECK (length(name) > 0))")

    manager = MigrationManager(db_path, Registry([Migration(1, "t", "", up)]))
    manager.migrate_to_latest()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.executescript(
        "BEGIN; CREATE TABLE t2 (name TEXT); INSERT INTO t2 SELECT * FROM t; DROP TABLE t; "
        "ALTER TABLE t2 RENAME TO t; COMMIT;"
    )
    conn.close()
    assert not manager.verify().check("schema_drift").passed
