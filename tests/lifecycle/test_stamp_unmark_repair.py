"""stamp, unmark and repair: bookkeeping changed by hand, with a reason, recorded in history."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine import MigrationManager, Registry
from engine.cli import main
from engine.lifecycle import LifecycleError, LifecycleUsageError
from tests.conftest import MigrationFiles, table_migration, tables_in
from tests.lifecycle.helpers import cli_json, run_cli


def test_stamp_marks_versions_applied_without_running_them(manager: MigrationManager) -> None:
    manager.migrate_to(0)  # an empty database
    result = manager.stamp(2, reason="tables made by hand")
    assert [c.version for c in result.changes] == [1, 2]
    assert manager.current_version == 2
    assert tables_in(manager.db_path) == set()  # no up ran
    assert [s.status for s in manager.status()] == ["applied", "applied", "pending"]


def test_stamp_is_recorded_in_history_with_who_where_and_why(manager: MigrationManager) -> None:
    manager.migrate_to(0)  # an empty database
    manager.stamp(1, reason="INC-42 restore")
    [entry] = manager.history()
    assert (entry.version, entry.direction, entry.success) == (1, "stamp", True)
    assert entry.reason == "INC-42 restore" and "without running" in (entry.note or "")
    assert entry.user and entry.host and entry.pid > 0


def test_stamp_down_removes_marks_without_running_downs(manager: MigrationManager) -> None:
    manager.migrate_to_latest()
    result = manager.stamp(1, reason="downs run by hand")
    assert [c.version for c in result.changes] == [3, 2]
    assert manager.current_version == 1
    assert tables_in(manager.db_path) == {"a", "b", "c"}  # no down ran
    drift = " ".join(manager.verify().check("schema_drift").problems)
    assert "table b added" in drift and "table c added" in drift


def test_stamp_records_what_the_migrations_produce_so_verify_compares_with_it(
    manager: MigrationManager,
) -> None:
    manager.migrate_to(0)  # an empty database
    conn = sqlite3.connect(manager.db_path)
    conn.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, value TEXT)")
    conn.close()
    manager.stamp(1, reason="a was created by hand")
    assert manager.verify().check("schema_drift").passed


def test_stamp_dry_run_changes_nothing(manager: MigrationManager) -> None:
    manager.migrate_to(0)  # an empty database
    preview = manager.stamp(3, reason="check", dry_run=True)
    assert preview.dry_run and len(preview.changes) == 3
    assert manager.current_version == 0 and manager.history() == []


def test_stamp_at_the_current_version_is_nothing_to_do(manager: MigrationManager) -> None:
    manager.migrate_to(2)
    result = manager.stamp(2, reason="noop")
    assert result.nothing_to_do
    assert [e.direction for e in manager.history()] == ["up", "up"]


def test_stamp_without_a_reason_is_refused(manager: MigrationManager) -> None:
    manager.migrate_to(0)
    with pytest.raises(LifecycleUsageError, match="A reason is required"):
        manager.stamp(2, reason="  ")


def test_stamp_fills_a_gap_left_by_different_code(manager: MigrationManager) -> None:
    manager.migrate_to_latest()
    conn = sqlite3.connect(manager.db_path)
    conn.execute("DELETE FROM schema_migrations WHERE version = 2")
    conn.commit()
    conn.close()
    assert not manager.verify().ok
    result = manager.stamp(3, reason="row 2 lost")
    assert [c.version for c in result.changes] == [2]
    assert manager.verify().check("registry").passed


def test_unmark_forgets_the_newest_version_without_running_its_down(
    manager: MigrationManager,
) -> None:
    manager.migrate_to_latest()
    result = manager.unmark(3, reason="3 was undone by hand")
    assert (result.from_version, result.to_version) == (3, 2)
    assert manager.current_version == 2 and "c" in tables_in(manager.db_path)
    assert manager.history()[0].direction == "unmark"


def test_unmark_below_the_newest_is_refused(manager: MigrationManager) -> None:
    manager.migrate_to_latest()
    with pytest.raises(LifecycleError, match="stamp 1"):
        manager.unmark(2, reason="x")
    assert manager.current_version == 3


def test_repair_accepts_an_intended_edit(db_path: Path, write_migrations: MigrationFiles) -> None:
    folder = write_migrations({"0001_create_a.py": table_migration("a")})
    MigrationManager(db_path, Registry.from_directory(folder)).migrate_to_latest()
    path = folder / "0001_create_a.py"
    path.write_text(path.read_text().replace("value TEXT", "value TEXT DEFAULT ''"))
    manager = MigrationManager(db_path, Registry.from_directory(folder))
    assert not manager.verify().check("checksums").passed
    result = manager.repair(1, reason="default added to match prod")
    assert "accepted the edited code" in result.changes[0].note
    assert manager.verify().check("checksums").passed
    entry = manager.history()[0]
    assert (entry.direction, entry.reason) == ("repair", "default added to match prod")


def test_repair_with_nothing_wrong_is_nothing_to_do(manager: MigrationManager) -> None:
    manager.migrate_to(1)
    assert manager.repair(1, reason="look").nothing_to_do


def test_repair_clears_an_unfinished_attempt(manager: MigrationManager) -> None:
    manager.migrate_to(1)
    conn = sqlite3.connect(manager.db_path)
    conn.execute(
        "INSERT INTO schema_migration_history (version, name, direction, started_at, finished_at,"
        " duration_ms, success, error, user, host, pid) "
        "VALUES (2, 'create_b', 'up', '2026-12-01T03:00:00.000Z', '', 0, 0, NULL, 'u', 'h', 1)"
    )
    conn.commit()
    conn.close()
    result = manager.repair(2, reason="index build died; dropped the invalid index")
    assert "cleared the unfinished attempt" in result.changes[0].note
    recorder_rows = [e for e in manager.history() if e.version == 2]
    assert {e.direction for e in recorder_rows} == {"repair", "up"}
    assert all(e.finished_at for e in recorder_rows)


def test_repair_of_a_version_neither_applied_nor_unfinished_is_refused(
    manager: MigrationManager,
) -> None:
    manager.migrate_to(1)
    with pytest.raises(LifecycleError, match="nothing to repair"):
        manager.repair(2, reason="x")


def test_verify_lists_the_changes_made_by_hand(manager: MigrationManager) -> None:
    manager.migrate_to(0)  # an empty database
    manager.stamp(2, reason="adopted from backup")
    check = manager.verify().check("bookkeeping")
    assert check.passed and len(check.notes) == 2
    assert all("stamp" in n and "adopted from backup" in n for n in check.notes)


# -- the command line -------------------------------------------------------------------------


def test_cli_stamp_without_a_terminal_needs_yes(db_path: Path, three_tables: Path) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", "--to", "0", *common]) == 0
    result = run_cli("stamp", "2", "--reason", "r", *common)
    assert result.returncode == 2 and "pass --yes" in result.stderr
    assert MigrationManager(db_path, Registry.from_directory(three_tables)).current_version == 0


def test_cli_stamp_without_reason_exits_2(db_path: Path, three_tables: Path) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", "--to", "0", *common]) == 0
    result = run_cli("stamp", "2", "--yes", *common)
    assert result.returncode == 2 and "A reason is required" in result.stderr


def test_cli_stamp_json_and_history_rows(
    db_path: Path, three_tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", "--to", "0", *common]) == 0
    result = cli_json(capsys, "stamp", "2", "--reason", "by hand", "--yes", *common)
    assert result["action"] == "stamp" and result["to_version"] == 2
    history = cli_json(capsys, "history", *common)
    assert [(h["direction"], h["reason"]) for h in history] == [("stamp", "by hand")] * 2


def test_cli_unmark_and_repair_exit_codes(db_path: Path, three_tables: Path) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", *common]) == 0
    refused = run_cli("unmark", "1", "--reason", "r", "--yes", *common)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert run_cli("unmark", "3", "--reason", "r", "--yes", *common).returncode == 0
    nothing = run_cli("repair", "1", "--reason", "r", "--yes", *common)
    assert nothing.returncode == 0 and "Nothing to do" in nothing.stdout


def test_cli_stamp_on_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "missing.db"
    result = run_cli("stamp", "1", "--reason", "r", "--yes", "--db", str(db))
    assert result.returncode == 2 and "no database at" in result.stderr
    assert not db.exists()
