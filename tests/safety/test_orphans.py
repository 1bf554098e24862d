"""Temporary files of killed backups, restores and rehearsals are removed by the next run.

A backup or restore killed while SQLite wrote its copy leaves the copy and SQLite's journal beside
it (``.<name>.<pid>.tmp``, ``...tmp-journal``, ``-wal``, ``-shm``); a killed rehearsal leaves its
throw-away folder. The next run removes those whose writer is gone, and only those.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import MigrationManager
from tests.safety.helpers import cli_command, cli_env, run_cli

COMPANIONS = ("", "-journal", "-wal", "-shm")


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


@pytest.fixture
def live_pid() -> Iterator[int]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait(timeout=10)


def leave(folder: Path, stem: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}{companion}" for companion in COMPANIONS]
    for path in paths:
        path.write_bytes(b"left by a killed process")
    return paths


def test_a_backup_removes_the_journals_of_killed_backups(tmp_path: Path, live_pid: int) -> None:
    db = tmp_path / "app.db"
    MigrationManager(db, backup=False).migrate_to(1)
    backups = tmp_path / "backups"
    dead = leave(backups, f".app.db-20261201T000000.000000.{dead_pid()}.tmp")
    alive = leave(backups, f".app.db-20261201T000001.000000.{live_pid}.tmp")
    assert run_cli("--db", str(db), "backup").returncode == 0
    assert not any(path.exists() for path in dead)
    assert all(path.exists() for path in alive)


def test_a_run_removes_the_journals_of_killed_restores_beside_the_database(
    tmp_path: Path, live_pid: int
) -> None:
    db = tmp_path / "app.db"
    MigrationManager(db, backup=False).migrate_to(1)
    dead = leave(tmp_path, f".app.db.restore.{dead_pid()}.tmp")
    alive = leave(tmp_path, f".app.db.restore.{live_pid}.tmp")
    assert run_cli("--db", str(db), "migrate", "--to", "2").returncode == 0
    assert not any(path.exists() for path in dead)
    assert all(path.exists() for path in alive)
    # SQLite's own journal of the database itself is never touched.
    assert run_cli("--db", str(db), "status").returncode == 0


def test_a_rehearsal_on_a_copy_removes_copies_of_killed_rehearsals(
    tmp_path: Path, live_pid: int
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    dead = scratch / f"metamigrate-rehearsal-{dead_pid()}-abc"
    alive = scratch / f"metamigrate-rehearsal-{live_pid}-def"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "rehearsal.db").write_bytes(b"x")
        (folder / "rehearsal.db-journal").write_bytes(b"x")
    db = tmp_path / "app.db"
    MigrationManager(db, backup=False).migrate_to(4)
    # --read-only makes the rehearsal run on a throw-away copy.
    result = subprocess.run(
        cli_command("--db", str(db), "--read-only", "migrate", "--rehearse"),
        capture_output=True,
        text=True,
        env=cli_env({"TMPDIR": str(scratch)}),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert not dead.exists() and alive.exists()
    assert sorted(p.name for p in scratch.iterdir()) == [alive.name]


@pytest.mark.slow
def test_backups_killed_at_random_leave_nothing_after_the_next_run(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    MigrationManager(db, backup=False).migrate_to(2)
    conn = sqlite3.connect(db)
    conn.executemany(
        "INSERT INTO user_preferences VALUES (?, 'k', ?, 'now')",
        [(f"user{i}", "v" * 2000) for i in range(6000)],
    )
    conn.commit()
    conn.close()
    started = time.monotonic()
    assert run_cli("--db", str(db), "backup").returncode == 0
    full = time.monotonic() - started
    for delay in (0.15, 0.3, 0.45, 0.6, full * 0.8):
        process = subprocess.Popen(
            cli_command("--db", str(db), "backup"),
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert run_cli("--db", str(db), "backup").returncode == 0
    leftovers = [p.name for p in (tmp_path / "backups").iterdir() if ".tmp" in p.name]
    assert leftovers == []
