"""Relative targets (rollback --to -1, migrate --to +2) and `current`."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import InvalidTargetError, MigrationManager, Registry
from engine.cli import main
from engine.targets import parse_target
from tests.lifecycle.helpers import cli_json, run_cli


def test_migrate_plus_two_applies_two_steps_from_the_current_version(
    db_path: Path, three_tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", "--to", "1", *common]) == 0
    result = cli_json(capsys, "migrate", "--to", "+2", *common)
    assert (result["from_version"], result["to_version"]) == (1, 3)


def test_rollback_minus_one_undoes_only_the_newest(
    db_path: Path, three_tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", *common]) == 0
    result = cli_json(capsys, "rollback", "--to", "-1", "--yes", *common)
    assert (result["from_version"], result["to_version"]) == (3, 2)
    assert [d["version"] for d in result["done"]] == [3]


def test_plan_accepts_a_relative_target(
    db_path: Path, three_tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", *common]) == 0
    plan = cli_json(capsys, "plan", "--to", "-2", *common)
    assert plan["target"] == 1
    assert [(s["direction"], s["version"]) for s in plan["steps"]] == [("down", 3), ("down", 2)]


def test_relative_target_past_the_ends_is_refused_with_exit_2(
    db_path: Path, three_tables: Path
) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", "--to", "2", *common]) == 0
    back = run_cli("rollback", "--to", "-5", "--yes", *common)
    assert back.returncode == 2 and "Cannot go 5 step(s) back from version 2" in back.stderr
    ahead = run_cli("migrate", "--to", "+3", *common)
    assert ahead.returncode == 2 and "the latest version 3 is 1 step(s) ahead" in ahead.stderr
    assert MigrationManager(db_path, Registry.from_directory(three_tables)).current_version == 2


def test_api_accepts_relative_targets(manager: MigrationManager) -> None:
    manager.migrate_to("+2")
    assert manager.current_version == 2
    manager.rollback("-1")
    assert manager.current_version == 1
    assert manager.resolve_target("latest") == 3 and manager.resolve_target("base") == 0


@pytest.mark.parametrize("text", ["abc", "+", "1.5", "--1", "two"])
def test_a_target_that_is_no_version_is_refused(text: str) -> None:
    with pytest.raises(InvalidTargetError, match="is not a version"):
        parse_target(text)


def test_current_prints_the_version_alone(
    db_path: Path, three_tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", "--to", "2", *common]) == 0
    capsys.readouterr()
    assert main(["current", *common]) == 0
    assert capsys.readouterr().out == "2\n"
    payload = cli_json(capsys, "current", *common)
    assert payload["current_version"] == 2 and payload["latest_version"] == 3
    assert payload["pending"] == 1
