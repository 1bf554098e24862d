"""Bad files: never a traceback, a clear error or a correct recovery, and never a worse file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.safety.helpers import (
    assert_clean_failure,
    cli_env,
    digest,
    files_digest,
    run_cli,
)

READ_COMMANDS = (["status"], ["verify"], ["plan"], ["history"])
WRITE_COMMANDS = (["migrate"], ["rollback", "--to", "0", "--yes", "--force"])


def run_everything(db: Path) -> list[subprocess.CompletedProcess[str]]:
    results = []
    for command in (*READ_COMMANDS, *WRITE_COMMANDS):
        for json_flag in ([], ["--json"]):
            result = run_cli(*command, *json_flag, "--db", str(db))
            assert "Traceback" not in result.stderr + result.stdout, (command, result.stderr)
            results.append(result)
    return results


@pytest.fixture
def populated(tmp_path: Path) -> Path:
    """A real store database at version 2, with enough rows to span many pages."""
    db = tmp_path / "store.db"
    assert run_cli("migrate", "--to", "2", "--db", str(db)).returncode == 0
    conn = sqlite3.connect(db)
    conn.executemany(
        "INSERT INTO databases (name, description, created_at) VALUES (?, ?, 'now')",
        [(f"db{i}", "d" * 200) for i in range(400)],
    )
    conn.commit()
    conn.close()
    return db


def test_not_a_sqlite_file_is_refused_with_exit_2_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_bytes(b"these are my notes, not a database\n" * 200)
    before = digest(db)
    for result in run_everything(db):
        assert_clean_failure(result, [2], "not a SQLite database")
    assert digest(db) == before


def test_a_directory_instead_of_a_file_is_refused_with_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "actually_a_folder.db"
    folder.mkdir()
    for result in run_everything(folder):
        assert_clean_failure(result, [2], "is a directory")
    assert list(folder.iterdir()) == []


def test_a_zero_byte_file_is_an_empty_database_and_migrates(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    status = run_cli("status", "--json", "--db", str(db))
    assert status.returncode == 0 and json.loads(status.stdout)["current_version"] == 0
    assert db.read_bytes() == b""  # reading wrote nothing
    migrate = run_cli("migrate", "--db", str(db))
    assert migrate.returncode == 0, migrate.stderr
    assert run_cli("verify", "--db", str(db)).returncode == 0
    assert not (tmp_path / "backups").exists()  # an empty file has nothing to back up


def test_a_truncated_database_is_never_migrated_or_changed(populated: Path) -> None:
    data = populated.read_bytes()
    populated.write_bytes(data[: len(data) // 2])
    before = digest(populated)
    results = run_everything(populated)
    for result in results:
        assert result.returncode in (0, 1, 2)
    migrate = run_cli("migrate", "--db", str(populated))
    assert_clean_failure(migrate, [1, 2])
    assert "nothing was" in " ".join(migrate.stderr.split()) or "corrupt" in migrate.stderr
    assert digest(populated) == before


def _flip_bytes_in_a_data_page(db: Path) -> None:
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    # A leaf page of the databases table, found through the dbstat-free rootpage + scan: the
    # rows fill pages after the root, so the middle of the file is table data.
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    target = (pages // 2) * page_size
    with db.open("r+b") as handle:
        handle.seek(target)
        handle.write(b"\xff" * 64)
        handle.seek(target + page_size // 2)
        handle.write(os.urandom(128))


def test_a_corrupted_database_is_never_migrated_or_changed(populated: Path) -> None:
    _flip_bytes_in_a_data_page(populated)
    conn = sqlite3.connect(populated)
    try:
        assert conn.execute("PRAGMA quick_check").fetchall() != [("ok",)]
    except sqlite3.DatabaseError:
        pass  # so damaged that the check itself cannot run
    finally:
        conn.close()
    before = digest(populated)
    results = run_everything(populated)
    migrate = run_cli("migrate", "--db", str(populated))
    assert_clean_failure(migrate, [1], "integrity check")
    verify = run_cli("verify", "--db", str(populated))
    assert verify.returncode == 1 and "Traceback" not in verify.stderr
    assert digest(populated) == before
    assert all(r.returncode in (0, 1, 2) for r in results)
    assert not list((populated.parent / "backups").glob("*.db"))


CRASHING_WRITER = """
import os, signal, sys
from engine import MigrationManager
from engine import sqlite as sq
conn = sq.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode = WAL")
MigrationManager(conn, backup=False).migrate_to(2)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("lose_shm", [False, True])
def test_a_wal_left_by_a_crashed_writer_is_recovered(tmp_path: Path, lose_shm: bool) -> None:
    db = tmp_path / "wal.db"
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(db)], env=cli_env(), timeout=60
    )
    assert crashed.returncode == -signal.SIGKILL
    wal = Path(f"{db}-wal")
    assert wal.exists() and wal.stat().st_size > 0  # the committed versions are only in the WAL
    if lose_shm:
        Path(f"{db}-shm").unlink()
    status = run_cli("status", "--json", "--db", str(db))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["current_version"] == 2
    migrate = run_cli("migrate", "--db", str(db))
    assert migrate.returncode == 0, migrate.stderr
    verify = run_cli("verify", "--db", str(db))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_reading_a_corrupted_file_writes_nothing(populated: Path) -> None:
    _flip_bytes_in_a_data_page(populated)
    before = files_digest(populated)
    for command in READ_COMMANDS:
        result = run_cli(*command, "--db", str(populated))
        assert "Traceback" not in result.stderr
    assert files_digest(populated) == before
