"""The core commands behave the same on SQLite and PostgreSQL: each test runs on both.

Migrations here use SQL both dialects accept; JSON shapes and exit codes are compared as they
are, with no per-backend expectations except where a backend really differs (said inline).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine import MigrationManager, Registry
from engine.cli import main
from tests.conftest import MigrationFiles, table_migration
from tests.pg import Target

SEEDED = '''"""Create and fill d."""


def up(tx):
    tx.execute("CREATE TABLE d (id INTEGER PRIMARY KEY, value TEXT)")
    tx.execute("INSERT INTO d (id, value) VALUES (1, 'one')")
    tx.execute("INSERT INTO d (id, value) VALUES (2, 'two')")


def down(tx):
    tx.execute("DROP TABLE d")
'''

FAILING = '''"""Create e, then fail."""


def up(tx):
    tx.execute("CREATE TABLE e (id INTEGER PRIMARY KEY)")
    tx.execute("INSERT INTO missing_table VALUES (1)")


def down(tx):
    tx.execute("DROP TABLE e")
'''


@pytest.fixture(autouse=True)
def _plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METAMIGRATE_DB", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")


@pytest.fixture
def migrations(write_migrations: MigrationFiles) -> Path:
    return write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b"),
            "0003_create_d.py": SEEDED,
        }
    )


def cli(
    capsys: pytest.CaptureFixture[str], backend: Target, migrations: Path, *args: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(
        [*args, "--db", backend.spec, "--migrations", str(migrations), "--no-backup"]
        if args and args[0] in ("migrate", "rollback")
        else [*args, "--db", backend.spec, "--migrations", str(migrations)]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_json(
    capsys: pytest.CaptureFixture[str], backend: Target, migrations: Path, *args: str
) -> Any:
    code, out, err = cli(capsys, backend, migrations, *args, "--json")
    assert code == 0, (out, err)
    return json.loads(out)


def test_status_of_a_new_database_lists_every_migration_pending(
    backend: Target, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend.kind == "sqlite":
        cli(capsys, backend, migrations, "migrate", "--to", "0")
    payload = cli_json(capsys, backend, migrations, "status")
    assert payload["current_version"] == 0
    assert payload["latest_version"] == 3
    assert [m["status"] for m in payload["migrations"]] == ["pending"] * 3


def test_migrate_applies_everything_and_status_shows_it(
    backend: Target, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, backend, migrations, "migrate")
    assert code == 0, err
    assert "Done: migrate from version 0 to 3 (3 step(s))." in out
    assert backend.tables() == {"a", "b", "d"}
    payload = cli_json(capsys, backend, migrations, "status")
    assert payload["current_version"] == 3
    assert all(m["status"] == "applied" and m["checksum_ok"] for m in payload["migrations"])


def test_migrate_to_stops_at_the_target(
    backend: Target, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli_json(capsys, backend, migrations, "migrate", "--to", "2")
    assert (result["from_version"], result["to_version"]) == (0, 2)
    assert backend.tables() == {"a", "b"}


def test_plan_lists_the_steps_of_a_migrate(
    backend: Target, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, backend, migrations, "migrate", "--to", "1")
    payload = cli_json(capsys, backend, migrations, "plan")
    assert [(s["direction"], s["version"]) for s in payload["steps"]] == [("up", 2), ("up", 3)]


def test_a_failing_migration_leaves_the_last_good_version_and_a_failed_history_row(
    backend: Target, write_migrations: MigrationFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_migrations({"0001_create_a.py": table_migration("a"), "0002_fail.py": FAILING})
    code, _out, err = cli(capsys, backend, folder, "migrate")
    assert code == 1
    assert "Could not apply migration 0002_fail" in err
    assert "unchanged at version 1" in " ".join(err.split())
    assert "Traceback" not in err
    assert backend.tables() == {"a"}
    history = cli_json(capsys, backend, folder, "history")
    assert [(h["version"], h["success"]) for h in history] == [(2, False), (1, True)]


def test_atomic_migrate_rolls_back_the_whole_plan(
    backend: Target, write_migrations: MigrationFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_migrations({"0001_create_a.py": table_migration("a"), "0002_fail.py": FAILING})
    code, _out, err = cli(capsys, backend, folder, "migrate", "--atomic")
    assert code == 1
    assert "whole plan was rolled back" in " ".join(err.split())
    assert backend.tables() == set()


def test_rollback_undoes_down_to_the_target(
    backend: Target, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, backend, migrations, "migrate")
    result = cli_json(capsys, backend, migrations, "rollback", "--to", "1", "--yes", "--force")
    assert (result["from_version"], result["to_version"]) == (3, 1)
    assert backend.tables() == {"a"}


def test_rollback_without_typing_refuses_when_data_would_be_lost(
    backend: Target, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, backend, migrations, "migrate")
    code, _out, err = cli(capsys, backend, migrations, "rollback", "--to", "2", "--yes")
    assert code != 0
    assert "2 rows" in " ".join(err.split())
    assert backend.tables() == {"a", "b", "d"}


def test_plan_of_a_rollback_reports_the_rows_it_destroys(
    backend: Target, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, backend, migrations, "migrate")
    code, out, err = cli(capsys, backend, migrations, "plan", "--to", "2")
    assert code == 0, err
    assert "d" in out and "2 rows" in " ".join(out.split())


def test_verify_passes_after_migrate_and_fails_after_a_manual_change(
    backend: Target, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, backend, migrations, "migrate")
    report = cli_json(capsys, backend, migrations, "verify")
    assert report["ok"], report
    backend.query("CREATE TABLE sneaky (id INTEGER)")
    code, out, _err = cli(capsys, backend, migrations, "verify", "--json")
    assert code == 1
    drift = next(c for c in json.loads(out)["checks"] if c["name"] == "schema_drift")
    assert not drift["passed"]


def test_ensure_ready_is_pending_then_ready_after_migrate(
    backend: Target, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, backend, migrations, "migrate", "--to", "1")
    code, out, _err = cli(capsys, backend, migrations, "ensure-ready", "--json")
    assert (code, json.loads(out)["status"]) == (1, "pending")
    code, out, err = cli(capsys, backend, migrations, "ensure-ready", "--migrate", "--json")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["status"] == "ready"


def test_rehearse_reports_each_step_and_changes_nothing(
    backend: Target, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, backend, migrations, "migrate", "--to", "1")
    before = backend.tables()
    code, out, err = cli(capsys, backend, migrations, "migrate", "--rehearse", "--json")
    assert code == 0, err
    report = json.loads(out)
    steps = report["steps"]
    assert [s["version"] for s in steps] == [2, 3]
    assert steps[-1]["rows_changed"] == 2
    assert any("CREATE TABLE d" in sql for sql in steps[-1]["sql"])
    assert backend.tables() == before


def test_read_only_shows_status_and_refuses_migrate(
    backend: Target, migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, backend, migrations, "migrate", "--to", "1")
    payload = cli_json(capsys, backend, migrations, "status", "--read-only")
    assert payload["current_version"] == 1
    code, _out, err = cli(capsys, backend, migrations, "migrate", "--read-only")
    assert code == 1
    assert "read-only" in err
    assert backend.tables() == {"a"}


def test_the_api_takes_the_same_location(backend: Target, migrations: Path) -> None:
    manager = MigrationManager(backend.spec, Registry.from_directory(migrations), backup=False)
    result = manager.migrate_to_latest()
    assert result.to_version == 3
    assert manager.current_version == 3
    assert manager.rollback(2).to_version == 2
    assert [h.version for h in manager.history()] == [3, 3, 2, 1]
