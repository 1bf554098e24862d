"""Piped CLI output is never hard-wrapped; --json is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from tests.lifecycle.helpers import run_cli


def test_piped_error_keeps_a_long_path_on_one_line(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 6) / "metadata.db"
    result = run_cli("status", "--db", str(deep))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert str(deep) in result.stderr


def test_piped_tables_are_not_wrapped_at_80_columns(tmp_path: Path, write_migrations) -> None:  # type: ignore[no-untyped-def]
    name = "add_a_migration_name_that_is_much_longer_than_eighty_columns_of_terminal"
    folder = write_migrations(
        {
            f"0001_{name}.py": '"""A description long enough to be wrapped at eighty."""\n'
            "def up(tx):\n    tx.execute('CREATE TABLE t (id INTEGER)')\n"
        }
    )
    db = tmp_path / "w.db"
    assert run_cli("migrate", "--db", str(db), "--migrations", str(folder)).returncode == 0
    history = run_cli("history", "--db", str(db), "--migrations", str(folder))
    assert history.returncode == 0
    rows = [line for line in history.stdout.splitlines() if "0001_" in line]
    assert len(rows) == 1 and name in rows[0]
    assert max(len(line) for line in history.stdout.splitlines()) > 80


def test_json_output_is_unchanged_when_piped(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    assert run_cli("migrate", "--db", str(db)).returncode == 0
    result = run_cli("status", "--json", "--db", str(db))
    assert result.stdout.count("\n") == 1
    assert json.loads(result.stdout)["current_version"] >= 1
