"""PostgreSQL: migrate and rollback back the schema up by default, before the first step runs.

The default folder of a server database is ``backups/`` in the working directory (in the
service's ``--base-path`` when one is set); a missing pg_dump refuses the run unless --no-backup.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from engine.cli import main
from tests.conftest import MigrationFiles, table_migration
from tests.pg import PgDatabase
from tests.pgservice.test_pg_backup import old_tools
from tests.safety.helpers import answer_on_terminal


@pytest.fixture
def migrations(write_migrations: MigrationFiles) -> Path:
    return write_migrations(
        {"0001_create_a.py": table_migration("a"), "0002_create_b.py": table_migration("b")}
    )


@pytest.fixture
def at_version_1(
    pg_database: PgDatabase, migrations: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """The database at version 1 with a row in a; the working directory is a fresh folder."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    args = ["--db", pg_database.url, "--migrations", str(migrations)]
    assert main(["migrate", "--to", "1", *args]) == 0  # an empty schema: nothing to back up
    pg_database.execute("INSERT INTO a (id, value) VALUES (1, 'kept')")
    return args


def version(pg: PgDatabase) -> int:
    return int(pg.query("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0])


def test_migrate_writes_a_verified_dump_into_backups_of_the_working_directory(
    pg_database: PgDatabase, at_version_1: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["migrate", "--json", *at_version_1]) == 0
    backup = json.loads(capsys.readouterr().out)["backup"]
    path = Path(backup["file"])
    assert path.parent == Path.cwd() / "backups"
    assert path.name.startswith(f"{pg_database.name}.public-") and path.suffix == ".dump"
    assert backup["version"] == 1 and backup["size"] == path.stat().st_size > 0
    assert backup["reason"] == "before migrate to 2"
    toc = subprocess.run(["pg_restore", "--list", str(path)], capture_output=True, text=True)
    assert toc.returncode == 0 and "TABLE public a" in toc.stdout
    sidecar = json.loads(Path(f"{path}.json").read_text())
    assert (sidecar["version"], sidecar["size"]) == (1, path.stat().st_size)
    assert version(pg_database) == 2
    assert main(["backups", "--json", *at_version_1]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [entry["file"] for entry in listed["backups"]] == [str(path)]


def test_rollback_backs_up_by_default_too(
    pg_database: PgDatabase, at_version_1: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--no-backup", *at_version_1]) == 0
    capsys.readouterr()
    assert main(["rollback", "--to", "1", "--yes", "--json", *at_version_1]) == 0
    backup = json.loads(capsys.readouterr().out)["backup"]
    assert backup["version"] == 2 and Path(backup["file"]).parent == Path.cwd() / "backups"


def test_the_service_folder_is_the_default_folder_of_a_server_database(
    pg_database: PgDatabase,
    at_version_1: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = tmp_path / "service"
    monkeypatch.setenv("METAMIGRATE_BASE_PATH", str(service))  # where a Store keeps them too
    assert main(["migrate", *at_version_1]) == 0
    assert sorted(p.suffix for p in (service / "backups").iterdir()) == [".dump", ".json"]
    assert not (Path.cwd() / "backups").exists()


def test_config_names_the_default_backup_folder_of_a_server_database(
    pg_database: PgDatabase, at_version_1: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["config", "--json", "--db", pg_database.url]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["settings"]}
    assert rows["backup_dir"] == {
        "name": "backup_dir",
        "value": str(Path.cwd() / "backups"),
        "source": "default",
    }


def test_without_pg_dump_nothing_runs_and_one_sentence_says_why(
    pg_database: PgDatabase,
    at_version_1: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    no_tools = tmp_path / "no-tools"
    no_tools.mkdir()
    monkeypatch.setenv("PATH", str(no_tools))
    capsys.readouterr()
    assert main(["migrate", *at_version_1]) == 1
    err = capsys.readouterr().err.strip()
    assert "pg_dump was not found on PATH" in err and "--no-backup" in err
    assert "Traceback" not in err and err.count(". ") <= 1
    assert version(pg_database) == 1 and pg_database.tables() == {"a"}
    assert not (Path.cwd() / "backups").exists()
    assert main(["migrate", "--no-backup", *at_version_1]) == 0
    assert version(pg_database) == 2


def test_a_too_old_pg_dump_refuses_the_run(
    pg_database: PgDatabase,
    at_version_1: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = old_tools(tmp_path / "old-tools", "12.22")
    monkeypatch.setenv("PATH", f"{old}{os.pathsep}{os.environ['PATH']}")
    capsys.readouterr()
    assert main(["migrate", *at_version_1]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "pg_dump is version 12" in err and "nothing was run" in err
    assert version(pg_database) == 1


@pytest.mark.slow
def test_restore_on_a_terminal_asks_for_the_typed_version_and_drops_objects_created_since(
    pg_database: PgDatabase, at_version_1: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["migrate", "--json", *at_version_1]) == 0
    dump = json.loads(capsys.readouterr().out)["backup"]["file"]
    pg_database.execute("CREATE TABLE created_since (id int)")

    def restore_typing(answer: str) -> tuple[int, str]:
        return answer_on_terminal("restore", dump, *at_version_1, answer=answer)

    code, text = restore_typing("2")
    assert code == 1 and "cancelled" in text and "current schema is kept" in text
    assert version(pg_database) == 2 and "created_since" in pg_database.tables()
    code, text = restore_typing("1")
    assert code == 0 and "restored" in text, text
    assert version(pg_database) == 1 and pg_database.tables() == {"a"}
    assert pg_database.query("SELECT value FROM a") == [("kept",)]


def test_a_server_url_never_becomes_a_folder_in_the_working_directory(
    pg_database: PgDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console service, the manager, the settings and a URL that went through Path."""
    from console.service import EngineService
    from engine import MigrationManager
    from engine.errors import DatabasePathError
    from engine.settings import default_backup_folder

    monkeypatch.chdir(tmp_path)
    service = EngineService(pg_database.url)
    assert service.attempt(service.exists).value is True
    assert service.attempt(service.statuses).error is None
    assert default_backup_folder(pg_database.url) == tmp_path / "backups"
    with pytest.raises(DatabasePathError, match="was turned into a file path"):
        MigrationManager(Path(pg_database.url)).status()
    assert main(["status", "--db", pg_database.url]) == 0
    assert [p.name for p in tmp_path.iterdir()] == []
