"""baseline: adopt an unmanaged database after checking its schema on a scratch database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine import MigrationManager, Registry
from engine.lifecycle import BaselineMismatchError, LifecycleError
from tests.lifecycle.helpers import run_cli


def _unmanaged(db: Path, extra: str = "") -> None:
    """A database built by hand with what migrations 1 and 2 of three_tables create."""
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, value TEXT);"
        "CREATE TABLE b (id INTEGER PRIMARY KEY, value TEXT);"
        "INSERT INTO a (value) VALUES ('kept');" + extra
    )
    conn.close()


def test_baseline_adopts_a_matching_database_without_running_migrations(
    db_path: Path, manager: MigrationManager
) -> None:
    _unmanaged(db_path)
    result = manager.baseline(2, reason="adopting the legacy store")
    assert [c.version for c in result.changes] == [1, 2] and result.differences == ()
    assert manager.current_version == 2
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT value FROM a").fetchall() == [("kept",)]
    conn.close()
    assert manager.verify().ok
    assert {e.direction for e in manager.history()} == {"baseline"}


def test_baseline_then_migrate_runs_only_the_rest(db_path: Path, manager: MigrationManager) -> None:
    _unmanaged(db_path)
    manager.baseline(2, reason="adopt")
    result = manager.migrate_to_latest()
    assert [s.version for s in result.done] == [3]


def test_baseline_refuses_a_mismatch_and_lists_the_differences(
    db_path: Path, manager: MigrationManager
) -> None:
    _unmanaged(db_path, "CREATE TABLE rogue (id INTEGER); ALTER TABLE b ADD COLUMN owner TEXT;")
    with pytest.raises(BaselineMismatchError) as caught:
        manager.baseline(2, reason="adopt")
    assert caught.value.differences == ["table rogue added", "column b.owner added"]
    assert manager.current_version == 0 and manager.history() == []


def test_baseline_force_accepts_the_differences_and_audits_them(
    db_path: Path, manager: MigrationManager
) -> None:
    _unmanaged(db_path, "CREATE TABLE rogue (id INTEGER);")
    result = manager.baseline(2, reason="rogue is the ops team's", force=True)
    assert result.differences == ("table rogue added",)
    assert manager.current_version == 2
    notes = [e.note or "" for e in manager.history()]
    assert all("--force" in n and "table rogue added" in n for n in notes)
    assert manager.verify().check("schema_drift").passed  # the adopted schema is the baseline


def test_baseline_of_a_managed_database_is_refused(manager: MigrationManager) -> None:
    manager.migrate_to(1)
    with pytest.raises(LifecycleError, match="already managed"):
        manager.baseline(1, reason="x")


def test_cli_baseline_mismatch_exits_1_and_lists_differences(
    db_path: Path, three_tables: Path
) -> None:
    _unmanaged(db_path, "DROP TABLE b;")
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    result = run_cli("baseline", "--version", "2", "--reason", "adopt", "--yes", *common)
    assert result.returncode == 1
    assert "table b dropped" in result.stdout + result.stderr
    as_json = run_cli("baseline", "--version", "2", "--reason", "adopt", "--json", *common)
    assert json.loads(as_json.stdout)["differences"] == ["table b dropped"]
    assert MigrationManager(db_path, Registry.from_directory(three_tables)).current_version == 0


def test_cli_baseline_force_with_yes_adopts(db_path: Path, three_tables: Path) -> None:
    _unmanaged(db_path, "DROP TABLE b;")
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    result = run_cli(
        "baseline", "--version", "2", "--force", "--reason", "b retired", "--yes", *common
    )
    assert result.returncode == 0, result.stderr
    history = json.loads(run_cli("history", "--json", *common).stdout)
    assert {h["direction"] for h in history} == {"baseline"}
    assert all(h["reason"] == "b retired" for h in history)
