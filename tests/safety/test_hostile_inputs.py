"""Hostile input through the real CLI: one sentence on stderr and exit 1 or 2, never a traceback.

Folders the user cannot enter or write, names over the file system's limit, numbers out of range,
migration files nested too deeply to parse, locales that cannot print the output, file names that
are not UTF-8, and bookkeeping rows edited by hand into the wrong types. Root ignores permissions,
so the permission cases run as ``nobody`` (``setpriv``) when the tests run as root.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from engine import MigrationManager
from tests.safety.helpers import (
    assert_clean_failure,
    cli_command,
    cli_env,
    files_digest,
    run_cli,
)

LONG_NAME = "a" * 300  # over NAME_MAX (255) on every common file system


def one_sentence(result: subprocess.CompletedProcess[str], codes: Sequence[int] = (1, 2)) -> None:
    assert_clean_failure(result, codes)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr


# -- permissions (as an unprivileged user) ----------------------------------------------------


def _unprivileged_prefix() -> list[str] | None:
    """How to run a command as a user whose permissions are enforced (None: impossible here)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import engine"],
        env=cli_env(),
        cwd="/",
        capture_output=True,
        timeout=60,
    )
    return prefix if probe.returncode == 0 else None


@pytest.fixture(scope="module")
def unprivileged() -> list[str]:
    prefix = _unprivileged_prefix()
    if prefix is None:
        pytest.skip("no way to run as an unprivileged user here (root, and no usable setpriv)")
    return prefix


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder every user may enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="mm-safety-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in folder.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)


def run_as(prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env({"HOME": "/tmp"})
    return subprocess.run(
        [*prefix, *cli_command(*args)],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("command", [["status"], ["migrate"], ["verify"], ["backup"], ["backups"]])
def test_a_database_in_a_folder_the_user_cannot_enter_is_one_sentence(
    unprivileged: list[str], shared_dir: Path, command: list[str]
) -> None:
    locked = shared_dir / "locked"
    locked.mkdir()
    db = locked / "app.db"
    MigrationManager(db, backup=False).migrate_to(1)
    locked.chmod(0o700)  # owned by root: nobody cannot enter it
    result = run_as(unprivileged, "--db", str(db), *command)
    one_sentence(result)
    assert "permission denied" in result.stderr.lower()


def test_new_into_a_folder_the_user_cannot_write_is_one_sentence(
    unprivileged: list[str], shared_dir: Path
) -> None:
    folder = shared_dir / "migrations"
    folder.mkdir()
    folder.chmod(0o755)  # owned by root: nobody can read it, not write it
    result = run_as(unprivileged, "new", "add_email", "--dir", str(folder))
    one_sentence(result)
    assert list(folder.iterdir()) == []


def test_new_into_a_folder_the_user_cannot_create_is_one_sentence(
    unprivileged: list[str], shared_dir: Path
) -> None:
    parent = shared_dir / "readonly"
    parent.mkdir()
    result = run_as(unprivileged, "new", "add_email", "--dir", str(parent / "migrations"))
    one_sentence(result)


# -- names over the limit ---------------------------------------------------------------------


@pytest.mark.parametrize("command", [["status"], ["migrate"], ["verify"], ["backup"]])
def test_a_db_name_over_the_limit_is_one_sentence(tmp_path: Path, command: list[str]) -> None:
    result = run_cli("--db", str(tmp_path / f"{LONG_NAME}.db"), *command)
    one_sentence(result)
    assert "too long" in result.stderr


def test_a_db_path_over_the_limit_is_one_sentence(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*(["b" * 200] * 25)) / "app.db"  # about 5,000 characters
    result = run_cli("--db", str(deep), "migrate")
    one_sentence(result)
    assert "too long" in result.stderr


def test_new_with_a_name_over_the_limit_is_one_sentence(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    result = run_cli("new", LONG_NAME, "--dir", str(folder))
    one_sentence(result)
    assert "too long" in result.stderr


def test_new_into_a_dir_over_the_limit_is_one_sentence(tmp_path: Path) -> None:
    result = run_cli("new", "add_email", "--dir", str(tmp_path / LONG_NAME))
    one_sentence(result)


def test_migrations_dir_over_the_limit_is_one_sentence(tmp_path: Path) -> None:
    result = run_cli(
        "--db", str(tmp_path / "app.db"), "--migrations", str(tmp_path / LONG_NAME), "status"
    )
    one_sentence(result)


# -- numbers out of range ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["history", "--limit", "99999999999999999999"],
        ["history", "--limit", "0"],
        ["history", "--limit", "-5"],
        ["migrate", "--keep-backups", "-1"],
        ["backup", "--keep-backups", "0"],
        ["status", "--busy-timeout", "-1"],
        ["status", "--busy-timeout", "nan"],
        ["status", "--busy-timeout", "inf"],
        ["status", "--busy-timeout", "1e400"],
        ["status", "--connect-timeout", "nan"],
        ["status", "--lock-timeout", "-3"],
        ["migrate", "--lock-retries", "-1"],
    ],
    ids=lambda args: " ".join(args),
)
def test_a_number_out_of_range_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "app.db"
    MigrationManager(db, backup=False).migrate_to(1)
    before = files_digest(db)
    result = run_cli("--db", str(db), *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert f"argument {args[1]}" in result.stderr  # argparse names the option
    assert files_digest(db) == before  # refused before anything ran


@pytest.mark.parametrize("value", ["nan", "-1", "inf"])
def test_a_timeout_out_of_range_in_the_environment_is_a_usage_error(
    tmp_path: Path, value: str
) -> None:
    result = subprocess.run(
        cli_command("--db", str(tmp_path / "app.db"), "status"),
        capture_output=True,
        text=True,
        env=cli_env({"METAMIGRATE_BUSY_TIMEOUT": value}),
        timeout=60,
    )
    one_sentence(result, (2,))
    assert "METAMIGRATE_BUSY_TIMEOUT" in result.stderr


def test_a_nan_timeout_in_the_config_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "metamigrate.toml").write_text("busy_timeout = nan\n", encoding="utf-8")
    result = subprocess.run(
        cli_command("--db", str(tmp_path / "app.db"), "status"),
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
        timeout=60,
    )
    one_sentence(result, (2,))


# -- migration files nested too deeply ------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["x = " + "-" * 100_000 + "1", "x = " + "1 + " * 100_000 + "1"],
    ids=["unary-chain", "binary-chain"],
)
@pytest.mark.parametrize("command", [["status"], ["migrate"], ["verify"], ["plan"]])
def test_a_migration_file_nested_too_deeply_is_one_sentence(
    tmp_path: Path, body: str, command: list[str]
) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001_deep.py").write_text(f"{body}\n\n\ndef up(tx):\n    pass\n", encoding="utf-8")
    db = tmp_path / "app.db"
    sqlite3.connect(db).close()  # an empty database: every command reads the migrations
    result = run_cli("--db", str(db), "--migrations", str(folder), *command)
    one_sentence(result, (2,))
    assert "0001_deep.py" in result.stderr


def test_an_applied_migration_edited_to_nest_deeply_fails_verify_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    migration = folder / "0001_a.py"
    migration.write_text('def up(tx):\n    tx.execute("CREATE TABLE a (x)")\n', encoding="utf-8")
    db = tmp_path / "app.db"
    MigrationManager(db, folder, backup=False).migrate_to_latest()
    migration.write_text(
        "x = " + "1 + " * 100_000 + "1\n\n\ndef up(tx):\n    pass\n", encoding="utf-8"
    )
    result = run_cli("--db", str(db), "--migrations", str(folder), "verify")
    assert result.returncode in (1, 2), (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr


# -- locales and file names that are not UTF-8 ------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {"LC_ALL": "C", "PYTHONUTF8": "0"},
        {"LC_ALL": "POSIX", "PYTHONUTF8": "0"},
        {"PYTHONIOENCODING": "ascii"},
        {"PYTHONIOENCODING": "latin-1"},
    ],
    ids=["C", "POSIX", "ascii", "latin-1"],
)
@pytest.mark.parametrize("command", [["status"], ["verify"], ["history"], ["plan", "--to", "1"]])
def test_a_non_utf8_locale_prints_without_a_traceback(
    tmp_path: Path, env: dict[str, str], command: list[str]
) -> None:
    db = tmp_path / "app.db"
    MigrationManager(db, backup=False).migrate_to(2)
    result = subprocess.run(
        cli_command("--db", str(db), *command),
        capture_output=True,
        text=True,
        errors="replace",
        env=cli_env(env),
        timeout=60,
    )
    assert result.returncode in (0, 1), (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert "Error" not in result.stderr


def test_a_non_utf8_locale_prints_an_error_as_one_sentence(tmp_path: Path) -> None:
    result = subprocess.run(
        cli_command("--db", str(tmp_path / "missing.db"), "rollback", "--to", "0", "--yes"),
        capture_output=True,
        text=True,
        errors="replace",
        env=cli_env({"LC_ALL": "C", "PYTHONUTF8": "0"}),
        timeout=60,
    )
    one_sentence(result)


def test_a_db_file_name_that_is_not_utf8_is_used_exactly(tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/caf\xe9-\xff.db"
    env = cli_env()
    for command in (["migrate", "--to", "2"], ["status"], ["backup"], ["verify"]):
        result = subprocess.run(
            [os.fsencode(sys.executable), b"-m", b"engine", b"--db", name]
            + [c.encode() for c in command],
            capture_output=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert b"Traceback" not in result.stderr + result.stdout
    assert os.path.exists(name)
    conn = sqlite3.connect(os.fsdecode(name))
    try:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (2,)
    finally:
        conn.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [os.fsdecode(name).rsplit("/", 1)[1], "backups"]
    )


def test_a_migration_file_name_that_is_not_utf8_is_one_sentence(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    bad = os.fsencode(folder) + b"/0001_caf\xe9.py"
    with open(bad, "w", encoding="utf-8") as handle:
        handle.write("def up(tx):\n    pass\n")
    result = run_cli("--db", str(tmp_path / "app.db"), "--migrations", str(folder), "status")
    one_sentence(result, (2,))


# -- bookkeeping rows edited into wrong types -------------------------------------------------

EDITS = {
    "text-in-numbers": (
        "UPDATE schema_migrations SET duration_ms = 'fast', reversible = 'maybe'",
        "UPDATE schema_migration_history SET duration_ms = 'slow', pid = 'me'",
    ),
    "numbers-in-text": (
        "UPDATE schema_migrations SET applied_at = 12345, name = 7, checksum = 3.5",
        "UPDATE schema_migration_history SET started_at = 1, name = 2, error = 3",
    ),
    "blobs": (
        "UPDATE schema_migrations SET applied_by = x'00ff', description = x'ff'",
        "UPDATE schema_migration_history SET host = x'ff00'",
    ),
    "version-as-text": (
        "UPDATE schema_migration_history SET version = 'two' WHERE id = "
        "(SELECT min(id) FROM schema_migration_history)",
    ),
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["status", "--json"],
        ["history"],
        ["history", "--json"],
        ["verify"],
        ["ensure-ready"],
        ["migrate"],
        ["rollback", "--to", "1", "--yes", "--force"],
    ],
    ids=lambda c: " ".join(c),
)
def test_bookkeeping_rows_of_the_wrong_type_never_raise_a_traceback(
    tmp_path: Path, edit: str, command: list[str]
) -> None:
    db = tmp_path / "app.db"
    MigrationManager(db, backup=False).migrate_to(2)
    conn = sqlite3.connect(db)
    for statement in EDITS[edit]:
        conn.execute(statement)
    conn.commit()
    conn.close()
    result = run_cli("--db", str(db), *command)
    assert result.returncode in (0, 1, 2), (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
