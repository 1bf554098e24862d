"""Reading commands on a missing database refuse (exit 2) and create nothing; migrate creates."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import DatabaseNotFoundError, DeploymentManager, MigrationManager, Registry
from engine.cli import main
from tests.lifecycle.helpers import run_cli

READING = [
    ["status"],
    ["status", "--json"],
    ["verify"],
    ["plan"],
    ["plan", "--to", "1"],
    ["history"],
    ["current"],
    ["ensure-ready"],
    ["rollback", "--to", "0", "--yes"],
]


@pytest.mark.parametrize("command", READING, ids=lambda c: " ".join(c))
def test_reading_command_on_a_missing_database_exits_2_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    db = tmp_path / "typo" / "nested" / "metdata.db"
    result = run_cli(*command, "--db", str(db))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"no database at {db}; `migrate` creates it" in result.stderr
    assert "Traceback" not in result.stderr
    assert not db.exists()
    assert not (tmp_path / "typo").exists()


def test_json_error_on_a_missing_database_is_one_object_on_stdout(tmp_path: Path) -> None:
    import json

    result = run_cli("verify", "--json", "--db", str(tmp_path / "missing.db"))
    assert result.returncode == 2
    assert json.loads(result.stdout)["exit_code"] == 2


def test_migrate_creates_the_missing_database(tmp_path: Path, three_tables: Path) -> None:
    db = tmp_path / "new" / "metadata.db"
    assert main(["migrate", "--db", str(db), "--migrations", str(three_tables)]) == 0
    assert db.exists()
    assert main(["current", "--db", str(db), "--migrations", str(three_tables)]) == 0


def test_api_reads_of_a_missing_database_create_nothing(tmp_path: Path, three_tables: Path) -> None:
    db = tmp_path / "missing.db"
    manager = MigrationManager(db, Registry.from_directory(three_tables))
    assert [s.status for s in manager.status()] == ["pending"] * 3
    assert [s.version for s in manager.plan()] == [1, 2, 3]
    assert manager.history() == []
    assert manager.current_version == 0
    assert DeploymentManager(manager).status().status == "pending"
    assert not db.exists()


def test_api_verify_of_a_missing_database_raises_instead_of_passing(
    tmp_path: Path, three_tables: Path
) -> None:
    db = tmp_path / "missing.db"
    manager = MigrationManager(db, Registry.from_directory(three_tables))
    with pytest.raises(DatabaseNotFoundError, match="no database at"):
        manager.verify()
    assert not db.exists()


def test_rehearsal_of_a_missing_database_runs_on_a_scratch_copy_and_creates_nothing(
    tmp_path: Path, three_tables: Path
) -> None:
    db = tmp_path / "missing.db"
    report = MigrationManager(db, Registry.from_directory(three_tables)).rehearse()
    assert report.ok and [s.version for s in report.steps] == [1, 2, 3]
    assert not db.exists()
