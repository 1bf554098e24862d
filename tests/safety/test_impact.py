"""The rollback impact preview: what the downs would destroy, and the confirmation it demands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import MigrationManager, Store
from tests.safety.helpers import assert_clean_failure, files_digest, run_cli, user_version


@pytest.fixture
def with_data(tmp_path: Path) -> Path:
    db = tmp_path / "store.db"
    with Store.open(db) as store:
        store.create_database("sales")
        store.create_table("sales", "orders", metadata_location="s3://o", properties={"a": "1"})
        store.create_table("sales", "items", metadata_location="s3://i", table_format="DELTA")
        for n in range(3):
            store.set_preference("ann", f"k{n}", n)
    return db


def test_impact_lists_dropped_tables_and_columns_with_their_rows(with_data: Path) -> None:
    manager = MigrationManager(with_data)
    before = files_digest(with_data)
    impact = manager.rollback_impact(1)
    assert files_digest(with_data) == before
    assert [(t.name, t.rows) for t in impact.dropped_tables] == [
        ("table_properties", 1),
        ("user_preferences", 3),
    ]
    assert [(c.table, c.column, c.rows) for c in impact.dropped_columns] == [
        ("tables", "table_format", 2)
    ]
    assert impact.rows_lost == 6 and impact.loses_data and not impact.would_fail
    assert "drops table user_preferences, 3 rows" in impact.changes
    assert impact.summary().startswith("This rollback drops table table_properties, 1 row")
    assert [s.version for s in impact.steps] == [5, 4, 3, 2]


def test_a_rollback_that_drops_only_empty_things_loses_no_data(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    MigrationManager(db).migrate_to_latest()
    impact = MigrationManager(db).rollback_impact(0)
    assert not impact.loses_data and impact.rows_lost == 0
    assert {t.name for t in impact.dropped_tables} == {
        "databases",
        "tables",
        "table_properties",
        "user_preferences",
    }


def test_impact_to_the_current_version_is_empty(with_data: Path) -> None:
    impact = MigrationManager(with_data).rollback_impact(5)
    assert impact.steps == () and not impact.loses_data
    assert "Nothing to undo" in impact.summary()


def test_plan_to_shows_the_impact(with_data: Path) -> None:
    human = run_cli("plan", "--to", "1", "--db", str(with_data))
    assert human.returncode == 0, human.stderr
    assert "drops table user_preferences, 3 rows" in " ".join(human.stdout.split())
    as_json = json.loads(run_cli("plan", "--to", "1", "--json", "--db", str(with_data)).stdout)
    assert as_json["impact"]["rows_lost"] == 6
    assert as_json["impact"]["dropped_tables"][1] == {"table": "user_preferences", "rows": 3}


def test_a_rollback_that_loses_rows_needs_typing_even_with_yes_unless_forced(
    with_data: Path,
) -> None:
    before = files_digest(with_data)
    refused = run_cli("rollback", "--to", "1", "--yes", "--db", str(with_data))
    assert_clean_failure(refused, [2], "destroys data", "user_preferences, 3 rows", "--force")
    assert files_digest(with_data) == before
    forced = run_cli("rollback", "--to", "1", "--yes", "--force", "--db", str(with_data))
    assert forced.returncode == 0, forced.stderr
    assert user_version(with_data) == 1


def test_a_rollback_that_loses_nothing_needs_only_yes(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    assert run_cli("migrate", "--db", str(db)).returncode == 0
    result = run_cli("rollback", "--to", "1", "--yes", "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert user_version(db) == 1


def test_interactive_rollback_shows_the_impact_and_the_backup(with_data: Path) -> None:
    import os
    import pty
    import sys

    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI on a terminal, typing the target
        os.execvpe(
            sys.executable,
            [
                sys.executable,
                "-m",
                "engine",
                "rollback",
                "--to",
                "1",
                "--yes",
                "--db",
                str(with_data),
            ],
            {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        )
    output = b""
    while b"confirm" not in output:
        chunk = os.read(fd, 4096)
        assert chunk
        output += chunk
    os.write(fd, b"1\n")
    try:
        while chunk := os.read(fd, 4096):
            output += chunk
    except OSError:
        pass
    assert os.waitpid(pid, 0)[1] >> 8 == 0
    text = " ".join(output.decode(errors="replace").split())
    assert "drops table user_preferences, 3 rows" in text
    assert "A verified backup will be written to" in text
    assert user_version(with_data) == 1


def test_a_rehearsed_rollback_counts_per_step_the_rows_the_impact_counts(with_data: Path) -> None:
    """DROP TABLE changes no rows (total_changes), yet destroys them: each rehearsed down says
    how many rows it loses, measured like the impact, so the two never disagree."""
    manager = MigrationManager(with_data)
    report = manager.rehearse(1)
    lost = {step.version: step.rows_lost for step in report.steps}
    assert lost[2] == 3  # drops user_preferences with its 3 rows
    assert lost[3] == 2  # drops tables.table_format, set on 2 rows
    assert sum(lost.values()) == manager.rollback_impact(1).rows_lost
    assert all(step.rows_lost == 0 for step in manager.rehearse(None).steps)
