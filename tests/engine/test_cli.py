"""The metamigrate command line: output shapes, exit codes, and one-sentence errors."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from tests.conftest import MigrationFiles, table_migration, tables_in


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real console script in a real process, as an operator runs it."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    full_env.pop("METAMIGRATE_DB", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        input=stdin if stdin is not None else "",
        timeout=60,
    )


def assert_one_clean_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert text in " ".join(result.stderr.split())


@pytest.fixture(autouse=True)
def _no_env_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METAMIGRATE_DB", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")


def status_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["status", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_default_database_and_full_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["status"]) == 2  # reading never creates
    assert not (tmp_path / "metadata.db").exists()
    assert main(["migrate"]) == 0
    assert (tmp_path / "metadata.db").exists()
    assert "Done: migrate from version 0 to" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert "Nothing to do" in capsys.readouterr().out
    assert main(["rollback", "--to", "1", "--yes"]) == 0
    assert status_json(capsys)["current_version"] == 1
    assert main(["verify"]) == 0
    assert main(["history"]) == 0
    assert main(["ensure-ready"]) == 1
    assert main(["ensure-ready", "--migrate"]) == 0
    assert "READY" in capsys.readouterr().out


def test_options_are_accepted_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "x.db"
    assert main(["migrate", "--to", "0", "--db", str(db), "--json"]) == 0
    payload = status_json(capsys, "--db", str(db))
    assert payload["database"] == str(db) and payload["current_version"] == 0
    migrations = payload["migrations"]
    assert isinstance(migrations, list)
    assert set(migrations[0]) >= {"version", "name", "description", "status", "applied_at"}


def test_env_var_chooses_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("METAMIGRATE_DB", str(db))
    assert main(["migrate", "--to", "0", "--json"]) == 0
    assert status_json(capsys)["database"] == str(db)


def test_json_everywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "j.db")
    for args in (
        ["migrate", "--to", "0"],
        ["plan"],
        ["migrate"],
        ["verify"],
        ["history"],
        ["ensure-ready"],
        ["rollback", "--to", "0", "--yes"],
    ):
        capsys.readouterr()
        code = main([*args, "--json", "--db", db])
        assert code == 0, args
        json.loads(capsys.readouterr().out)


def test_not_a_sqlite_file_is_exit_2_with_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("this is not a database, it is a text file with enough bytes")
    before = bad.read_bytes()
    result = run_cli("--db", str(bad), "migrate")
    assert_one_clean_error(result, 2, "is not a SQLite database")
    assert bad.read_bytes() == before


def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    assert_one_clean_error(run_cli("status", "--db", str(tmp_path)), 2, "is a directory")


def test_missing_parent_folders_are_created(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "metadata.db"
    result = run_cli("migrate", "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert db.exists()


def test_uncreatable_parent_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")
    result = run_cli("migrate", "--db", str(blocker / "sub" / "metadata.db"))
    assert_one_clean_error(result, 2, "Cannot create the folder")


def test_read_only_open_allows_status_and_refuses_migrate(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    assert run_cli("migrate", "--to", "1", "--db", str(db)).returncode == 0
    before = db.read_bytes()
    status = run_cli("status", "--json", "--read-only", "--db", str(db))
    assert status.returncode == 0 and json.loads(status.stdout)["current_version"] == 1
    assert run_cli("verify", "--read-only", "--db", str(db)).returncode == 0
    result = run_cli("migrate", "--read-only", "--db", str(db))
    assert_one_clean_error(result, 1, "read-only")
    assert db.read_bytes() == before


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions"
)
def test_a_file_without_write_permission_gives_status_but_not_migrate(tmp_path: Path) -> None:
    db = tmp_path / "perm.db"
    assert run_cli("migrate", "--to", "1", "--db", str(db)).returncode == 0
    db.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        assert run_cli("status", "--db", str(db)).returncode == 0
        assert_one_clean_error(run_cli("migrate", "--db", str(db)), 1, "read-only")
    finally:
        tmp_path.chmod(0o755)
        db.chmod(0o644)


def test_locked_database_fails_with_the_lock_and_timeout_named(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    assert run_cli("migrate", "--to", "1", "--db", str(db)).returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = run_cli("migrate", "--db", str(db), "--busy-timeout", "0.3")
        assert_one_clean_error(result, 1, "locked by another")
        assert "0.3 s" in result.stderr
        assert run_cli("status", "--db", str(db)).returncode == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert run_cli("migrate", "--db", str(db)).returncode == 0


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["migrate", "--to", "99"], 2, "There is no migration 99"),
        (["migrate", "--to", "-1"], 2, "the database is at version 0 already"),
        (["rollback", "--to", "99", "--yes"], 2, "There is no migration 99"),
        (["migrate", "--to", "abc"], 2, "is not a version"),
    ],
)
def test_bad_targets(tmp_path: Path, args: list[str], code: int, text: str) -> None:
    db = str(tmp_path / "t.db")
    assert main(["migrate", "--to", "0", "--db", db, "--json"]) == 0
    assert_one_clean_error(run_cli(*args, "--db", db), code, text)


def test_already_at_target_is_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "t.db")
    assert main(["migrate", "--db", db]) == 0
    capsys.readouterr()
    assert main(["migrate", "--to", "2", "--db", db]) == 2  # below current: that is a rollback
    assert "use rollback" in capsys.readouterr().err
    assert main(["rollback", "--to", "5", "--yes", "--db", db]) == 0
    assert "Nothing to do" in capsys.readouterr().out


def test_rollback_needs_yes_without_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    assert run_cli("migrate", "--db", str(db)).returncode == 0
    result = run_cli("rollback", "--to", "1", "--db", str(db))
    assert_one_clean_error(result, 2, "pass --yes")
    assert json.loads(run_cli("status", "--json", "--db", str(db)).stdout)["current_version"] == 5


def test_rollback_across_an_irreversible_migration_exits_1(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {"0001_a.py": table_migration("a", down=False), "0002_b.py": table_migration("b")}
    )
    db = tmp_path / "i.db"
    assert run_cli("migrate", "--db", str(db), "--migrations", str(folder)).returncode == 0
    result = run_cli("rollback", "--to", "0", "--yes", "--db", str(db), "--migrations", str(folder))
    assert_one_clean_error(result, 1, "irreversible")
    assert tables_in(db) == {"a", "b"}


def test_a_migration_that_raises_exits_1_and_keeps_the_database(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {"0001_a.py": table_migration("a"), "0002_bad.py": "def up(tx):\n    1 / 0\n"}
    )
    db = tmp_path / "f.db"
    result = run_cli("migrate", "--db", str(db), "--migrations", str(folder))
    assert_one_clean_error(result, 1, "ZeroDivisionError")
    assert "unchanged at version 1" in " ".join(result.stderr.split())
    history = json.loads(
        run_cli("history", "--json", "--db", str(db), "--migrations", str(folder)).stdout
    )
    assert history[0]["success"] is False and history[0]["version"] == 2


def test_a_migration_that_commits_exits_1(tmp_path: Path, write_migrations: MigrationFiles) -> None:
    folder = write_migrations(
        {
            "0001_c.py": (
                "def up(tx):\n    tx.execute('CREATE TABLE c (x)')\n    tx.execute('COMMIT')\n"
            )
        }
    )
    db = tmp_path / "c.db"
    result = run_cli("migrate", "--db", str(db), "--migrations", str(folder))
    assert_one_clean_error(result, 1, "must not control")
    assert tables_in(db) == set()


def test_duplicate_versions_exit_2(tmp_path: Path, write_migrations: MigrationFiles) -> None:
    folder = write_migrations({"0001_a.py": table_migration("a"), "01_b.py": table_migration("b")})
    result = run_cli("status", "--db", str(tmp_path / "d.db"), "--migrations", str(folder))
    assert_one_clean_error(result, 2, "Duplicate migration version 1")


def test_a_file_that_does_not_import_exits_2(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations({"0001_a.py": "import nowhere_to_be_found\n"})
    result = run_cli("migrate", "--db", str(tmp_path / "d.db"), "--migrations", str(folder))
    assert_one_clean_error(result, 2, "0001_a.py failed to import")


def test_database_ahead_of_code(tmp_path: Path, write_migrations: MigrationFiles) -> None:
    db = tmp_path / "ahead.db"
    assert run_cli("migrate", "--db", str(db)).returncode == 0
    older = write_migrations({"0001_initial.py": table_migration("x")})
    args = ("--db", str(db), "--migrations", str(older))
    assert_one_clean_error(run_cli("migrate", *args), 1, "ahead of the code")
    assert run_cli("verify", *args).returncode == 1
    ready = run_cli("ensure-ready", "--json", *args)
    assert ready.returncode == 1 and json.loads(ready.stdout)["status"] == "error"


def test_an_edited_applied_migration_fails_verify(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations({"0001_a.py": table_migration("a")})
    db = tmp_path / "e.db"
    args = ("--db", str(db), "--migrations", str(folder))
    assert run_cli("migrate", *args).returncode == 0
    (folder / "0001_a.py").write_text(table_migration("a").replace("value TEXT", "v INTEGER"))
    result = run_cli("verify", *args)
    assert result.returncode == 1 and "edited after it was applied" in " ".join(
        result.stdout.split()
    )
    assert run_cli("ensure-ready", *args).returncode == 1


def test_new_scaffolds_the_next_numbered_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "migs"
    assert main(["new", "create_items", "--dir", str(folder)]) == 0
    assert main(["new", "add email", "--dir", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["0001_create_items.py", "0002_add_email.py"]
    db = str(tmp_path / "n.db")
    assert main(["migrate", "--db", db, "--migrations", str(folder)]) == 0
    assert main(["rollback", "--to", "0", "--yes", "--db", db, "--migrations", str(folder)]) == 0
    assert main(["new", "bad/name", "--dir", str(folder)]) == 2


def test_interactive_rollback_requires_the_typed_version(tmp_path: Path) -> None:
    """A pseudo-terminal: typing the wrong version cancels; the right one rolls back."""
    import pty

    db = tmp_path / "tty.db"
    assert run_cli("migrate", "--db", str(db)).returncode == 0

    def rollback_typing(answer: str) -> int:
        pid, fd = pty.fork()
        if pid == 0:  # child: the CLI on a terminal
            os.execvpe(
                sys.executable,
                [sys.executable, "-m", "engine", "rollback", "--to", "1", "--db", str(db)],
                {**os.environ, "NO_COLOR": "1"},
            )
        output = b""
        while b"confirm" not in output:
            output += os.read(fd, 1024)
        os.write(fd, answer.encode() + b"\n")
        try:
            while os.read(fd, 1024):
                pass
        except OSError:
            pass
        return os.waitpid(pid, 0)[1] >> 8

    assert rollback_typing("2") == 1
    assert json.loads(run_cli("status", "--json", "--db", str(db)).stdout)["current_version"] == 5
    assert rollback_typing("1") == 0
    assert json.loads(run_cli("status", "--json", "--db", str(db)).stdout)["current_version"] == 1
