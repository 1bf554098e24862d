"""FIFOs, devices and sockets are refused before anything opens them; Ctrl-C always ends a command.

Opening a FIFO blocks until a writer comes, and SQLite retries such an open forever, through Ctrl-C
too: given as ``--db``, as a backup to restore, beside the database as its journal, or among the
migration files, a special file used to hang ``status``, ``migrate`` and ``restore``. And whatever
a command waits for (a lock held by another writer, a long statement), SIGINT ends it within about
a second with the database unchanged.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from engine import MigrationManager
from tests.safety.helpers import (
    applied_versions,
    assert_clean_failure,
    cli_command,
    cli_env,
    files_digest,
    run_cli,
    write_files,
    write_lock_held,
)

#: A refusal must come at once: a hang is the bug.
PROMPT = 30


def make_special(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.close()  # the socket file stays
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["fifo", "socket"])
@pytest.mark.parametrize(
    "command",
    [["status"], ["migrate"], ["verify"], ["history"], ["backup"], ["plan"], ["ensure-ready"]],
    ids=lambda c: c[0],
)
def test_a_special_file_as_db_is_refused_at_once(
    tmp_path: Path, kind: str, command: list[str]
) -> None:
    db = tmp_path / "app.db"
    make_special(db, kind)
    result = run_cli("--db", str(db), *command, timeout=PROMPT)
    assert result.returncode in (1, 2), (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    # ensure-ready reports it as the reason it is not ready, on stdout.
    assert "not a SQLite database file" in " ".join((result.stdout + result.stderr).split())


def test_a_device_as_db_is_refused(tmp_path: Path) -> None:
    result = run_cli("--db", "/dev/null", "migrate", timeout=PROMPT)
    assert_clean_failure(result, [2], "character device")


@pytest.mark.parametrize("suffix", ["-journal", "-wal", "-shm"])
def test_a_fifo_where_sqlite_keeps_the_journal_is_refused(tmp_path: Path, suffix: str) -> None:
    db = tmp_path / "app.db"
    MigrationManager(db, backup=False).migrate_to(1)
    os.mkfifo(f"{db}{suffix}")
    for command in (["status"], ["migrate"]):
        result = run_cli("--db", str(db), *command, timeout=PROMPT)
        assert_clean_failure(result, [2], f"app.db{suffix}")
    os.unlink(f"{db}{suffix}")  # our own check below would block on it too
    assert applied_versions(db) == [1]


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_a_special_file_as_the_backup_to_restore_is_refused(tmp_path: Path, kind: str) -> None:
    db = tmp_path / "app.db"
    MigrationManager(db, backup=False).migrate_to(2)
    before = files_digest(db)
    special = tmp_path / "backup.db"
    make_special(special, kind)
    result = run_cli("--db", str(db), "restore", str(special), "--yes", timeout=PROMPT)
    assert_clean_failure(result, [1, 2])
    assert files_digest(db) == before


def test_a_fifo_named_like_a_backup_is_not_listed_or_touched(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    MigrationManager(db, backup=False).migrate_to(1)
    real = MigrationManager(db).backup()
    fifo = real.path.with_name(real.name.replace("-v0001", "-v0009"))
    os.mkfifo(fifo)
    result = run_cli("--db", str(db), "backups", "--json", timeout=PROMPT)
    assert result.returncode == 0, result.stderr
    assert fifo.name not in result.stdout and real.name in result.stdout
    assert (
        run_cli("--db", str(db), "migrate", "--keep-backups", "1", timeout=PROMPT).returncode == 0
    )
    assert fifo.exists()


def test_a_fifo_as_a_backups_sidecar_is_ignored(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    MigrationManager(db, backup=False).migrate_to(1)
    real = MigrationManager(db).backup()
    sidecar = Path(str(real.path) + ".json")
    sidecar.unlink()
    os.mkfifo(sidecar)
    result = run_cli("--db", str(db), "backups", timeout=PROMPT)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", [["status"], ["migrate"], ["verify"], ["plan"]])
def test_a_fifo_among_the_migration_files_is_refused(tmp_path: Path, command: list[str]) -> None:
    folder = write_files(tmp_path / "m", {"0001_a.py": "def up(tx):\n    pass\n"})
    os.mkfifo(folder / "0002_b.py")
    db = tmp_path / "app.db"
    result = run_cli("--db", str(db), "--migrations", str(folder), *command, timeout=PROMPT)
    assert_clean_failure(result, [2], "0002_b.py", "FIFO")
    assert not db.exists() or applied_versions(db) == []


# -- Ctrl-C -------------------------------------------------------------------------------------


def interrupt_after(
    args: list[str], ready: float, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the CLI, send SIGINT once it has been running ``ready`` s; (result, s to exit)."""
    process = subprocess.Popen(
        cli_command(*args),
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(ready)
        assert process.poll() is None, "the command ended before it was interrupted"
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return result, took


@pytest.mark.slow
@pytest.mark.parametrize("journal_mode", ["", "WAL"], ids=["rollback-journal", "wal"])
def test_ctrl_c_ends_a_migrate_waiting_for_a_lock_within_a_second(
    tmp_path: Path, journal_mode: str
) -> None:
    db = tmp_path / "app.db"
    MigrationManager(db, backup=False).migrate_to(1)
    with write_lock_held(db, journal_mode):
        before = files_digest(db)
        result, took = interrupt_after(
            ["--db", str(db), "migrate", "--busy-timeout", "120"], ready=2.0
        )
        assert took < 1.5, took
        assert result.returncode in (1, 130), (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert "Interrupted" in result.stderr
        assert files_digest(db) == before
    assert applied_versions(db) == [1]
    assert not (tmp_path / "backups").exists()  # refused before any backup


@pytest.mark.slow
def test_ctrl_c_ends_a_migration_stuck_in_a_long_statement(tmp_path: Path) -> None:
    folder = write_files(
        tmp_path / "m",
        {
            "0001_a.py": 'def up(tx):\n    tx.execute("CREATE TABLE a (x)")\n',
            "0002_endless.py": (
                "def up(tx):\n"
                '    tx.execute("INSERT INTO a VALUES (1)")\n'
                "    tx.scalar(\n"
                '        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) "\n'
                '        "SELECT count(*) FROM c"\n'
                "    )\n"
            ),
        },
    )
    db = tmp_path / "app.db"
    MigrationManager(db, folder, backup=False).migrate_to(1)
    result, took = interrupt_after(
        ["--db", str(db), "--migrations", str(folder), "migrate", "--no-backup"], ready=2.0
    )
    assert took < 1.5, took
    assert result.returncode in (1, 130), (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert applied_versions(db) == [1]
    # The database is whole and unchanged: the next run opens it and sees version 1.
    status = run_cli("--db", str(db), "--migrations", str(folder), "status", "--json")
    assert status.returncode == 0 and '"current_version": 1' in status.stdout


@pytest.mark.slow
def test_ctrl_c_ends_a_migration_sleeping_in_python(tmp_path: Path) -> None:
    folder = write_files(
        tmp_path / "m",
        {
            "0001_a.py": 'def up(tx):\n    tx.execute("CREATE TABLE a (x)")\n',
            "0002_slow.py": (
                "import time\n\n\ndef up(tx):\n"
                '    tx.execute("INSERT INTO a VALUES (1)")\n'
                "    time.sleep(60)\n"
            ),
        },
    )
    db = tmp_path / "app.db"
    MigrationManager(db, folder, backup=False).migrate_to(1)
    result, took = interrupt_after(
        ["--db", str(db), "--migrations", str(folder), "migrate", "--no-backup"], ready=2.0
    )
    assert took < 1.5, took
    assert_clean_failure(result, [1, 130], "Interrupted")
    assert applied_versions(db) == [1]


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_a_special_file_as_config_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    config = tmp_path / "metamigrate.toml"
    make_special(config, kind)
    result = run_cli(
        "--config", str(config), "--db", str(tmp_path / "app.db"), "status", timeout=PROMPT
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "not a regular file" in result.stderr
    assert "Traceback" not in result.stderr
