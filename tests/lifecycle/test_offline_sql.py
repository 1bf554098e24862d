"""migrate --sql / rollback --to N --sql: the plan's SQL as a reviewable script, nothing changed."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from engine import MigrationManager, Registry
from engine.backends import open_backend
from engine.cli import main
from tests.conftest import MigrationFiles, table_migration
from tests.lifecycle.helpers import run_cli


def _facts(path: Path) -> list[str]:
    backend = open_backend(path)
    try:
        return list(backend.describe_schema().facts)
    finally:
        backend.close()


def test_migrate_sql_prints_migration_and_marked_bookkeeping_statements(
    db_path: Path, three_tables: Path
) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", "--to", "1", *common]) == 0
    before = db_path.read_bytes()
    result = run_cli("migrate", "--sql", *common)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "CREATE TABLE b (id INTEGER PRIMARY KEY, value TEXT);" in lines
    assert any(
        x.startswith("INSERT INTO schema_migrations") and x.endswith("-- bookkeeping")
        for x in lines
    )
    assert "-- 0002_create_b (up)" in lines and "-- 0003_create_c (up)" in lines
    assert db_path.read_bytes() == before


def test_the_script_run_by_hand_gives_what_migrate_gives(
    tmp_path: Path, db_path: Path, three_tables: Path
) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", "--to", "1", *common]) == 0
    by_hand = tmp_path / "by_hand.db"
    shutil.copy(db_path, by_hand)
    script = run_cli("migrate", "--sql", *common).stdout
    conn = sqlite3.connect(by_hand, isolation_level=None)
    conn.executescript(script)
    conn.close()
    MigrationManager(db_path, Registry.from_directory(three_tables)).migrate_to_latest()
    assert _facts(by_hand) == _facts(db_path)
    assert MigrationManager(by_hand, Registry.from_directory(three_tables)).current_version == 3


def test_migrate_sql_on_a_missing_database_creates_nothing(
    tmp_path: Path, three_tables: Path
) -> None:
    db = tmp_path / "new" / "meta.db"
    result = run_cli("migrate", "--sql", "--db", str(db), "--migrations", str(three_tables))
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE a (id INTEGER PRIMARY KEY, value TEXT);" in result.stdout
    assert "empty scratch database" in result.stdout
    assert not db.exists() and not db.parent.exists()


def test_rollback_sql_needs_no_confirmation_and_changes_nothing(
    db_path: Path, three_tables: Path
) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", *common]) == 0
    before = db_path.read_bytes()
    result = run_cli("rollback", "--to", "1", "--sql", *common)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines.index("DROP TABLE c;") < lines.index("DROP TABLE b;")
    assert "DELETE FROM schema_migrations WHERE version = 3;  -- bookkeeping" in lines
    assert db_path.read_bytes() == before


def test_sql_json_lists_statements_with_their_kind(db_path: Path, three_tables: Path) -> None:
    common = ["--db", str(db_path), "--migrations", str(three_tables)]
    assert main(["migrate", "--to", "2", *common]) == 0
    result = run_cli("rollback", "--to", "-1", "--sql", "--json", *common)
    payload = json.loads(result.stdout)
    assert (payload["from_version"], payload["to_version"], payload["ok"]) == (2, 1, True)
    own = [s["sql"] for s in payload["statements"] if not s["bookkeeping"]]
    assert own == ["DROP TABLE b"]


def test_a_step_that_would_fail_ends_the_script_and_exits_1(
    db_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_again.py": table_migration("a"),
        }
    )
    common = ["--db", str(db_path), "--migrations", str(folder)]
    result = run_cli("migrate", "--sql", *common)
    assert result.returncode == 1
    assert "-- THE RUN WOULD FAIL HERE" in result.stdout and "already exists" in result.stdout
    assert not db_path.exists()


def test_rollback_sql_across_an_irreversible_migration_is_refused(
    db_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations({"0001_create_a.py": table_migration("a", down=False)})
    common = ["--db", str(db_path), "--migrations", str(folder)]
    assert main(["migrate", *common]) == 0
    result = run_cli("rollback", "--to", "0", "--sql", *common)
    assert result.returncode == 1 and "irreversible" in result.stderr
