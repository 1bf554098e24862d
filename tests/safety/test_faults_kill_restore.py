"""SIGKILL during restores: the database is always either the old file or the backup, whole."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.safety.helpers import cli_command, cli_env, run_cli


def version_and_check(db: Path, journal_mode: str = "") -> int:
    conn = sqlite3.connect(db)
    try:
        if journal_mode:
            # Asked first, before anything else could change it: the mode the file is in.
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == journal_mode
        assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        top = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == top
        return int(top)
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_sigkill_during_restore_leaves_either_the_old_database_or_the_backup(
    tmp_path: Path, journal_mode: str
) -> None:
    """Journal mode included: a WAL database is never left in rollback-journal mode."""
    db = tmp_path / "big.db"
    assert run_cli("migrate", "--to", "2", "--db", str(db)).returncode == 0
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.executemany(
        "INSERT INTO user_preferences VALUES (?, 'k', ?, 'now')",
        [(f"user{i}", "v" * 2000) for i in range(8000)],  # ~20 MB: a restore takes a while
    )
    conn.commit()
    conn.close()
    backup = json.loads(run_cli("backup", "--json", "--db", str(db)).stdout)["file"]
    assert run_cli("migrate", "--no-backup", "--db", str(db)).returncode == 0
    args = ["restore", backup, "--yes", "--keep-backups", "3", "--db", str(db)]
    started = time.monotonic()
    assert subprocess.run(cli_command(*args), env=cli_env(), capture_output=True).returncode == 0
    full = time.monotonic() - started
    assert version_and_check(db, journal_mode) == 2
    assert run_cli("migrate", "--no-backup", "--db", str(db)).returncode == 0

    rng = random.Random(5)
    seen = set()
    for _ in range(10):
        process = subprocess.Popen(
            cli_command(*args),
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        try:
            time.sleep(rng.uniform(0.05, full))
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        version = version_and_check(db, journal_mode)
        assert version in (2, 5)
        seen.add(version)
        if version == 2:
            assert run_cli("migrate", "--no-backup", "--db", str(db)).returncode == 0
    assert 5 in seen
    # Whatever was killed, the next restore completes and leaves no temporary copy behind.
    assert run_cli(*args).returncode == 0 and version_and_check(db, journal_mode) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
