"""SIGKILL at random moments while real processes migrate and roll back: nothing is ever half done.

A child process runs the real CLI over slow migrations (each inserts rows in chunks with sleeps
between them, one rebuilds a table with foreign keys off, the downs delete in chunks) and is killed
at a random moment, again and again. After every kill the file passes quick_check, exactly the
recorded versions' effects are present, user_version equals the highest recorded version, and
no verified backup is half written; at the end an uninterrupted run completes.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from engine import MigrationManager, Registry
from tests.safety.helpers import cli_command, cli_env, write_files

VERSIONS = 5
ROWS = 400


def slow_table(n: int) -> str:
    return f'''
        """Create t{n} and fill it slowly."""
        import time


        def up(tx):
            tx.execute("CREATE TABLE t{n} (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
            for _ in range(4):
                tx.executemany(
                    "INSERT INTO t{n} (payload) VALUES (?)", [("x" * 100,)] * {ROWS // 4}
                )
                time.sleep(0.015)


        def down(tx):
            for _ in range(2):
                tx.execute("DELETE FROM t{n} WHERE id IN (SELECT id FROM t{n} LIMIT {ROWS // 4})")
                time.sleep(0.015)
            tx.execute("DROP TABLE t{n}")
        '''


REBUILD = '''
    """Add a CHECK constraint to t1 by rebuilding it (foreign keys off around the transaction)."""
    import time

    DISABLE_FOREIGN_KEYS = True


    def up(tx):
        time.sleep(0.02)
        tx.rebuild_table(
            "t1",
            "CREATE TABLE t1 (id INTEGER PRIMARY KEY, "
            "payload TEXT NOT NULL CHECK (length(payload) > 0))",
        )
        time.sleep(0.02)


    def down(tx):
        tx.rebuild_table("t1", "CREATE TABLE t1 (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        time.sleep(0.02)
    '''


@pytest.fixture
def slow_migrations(tmp_path: Path) -> Path:
    files = {
        "0001_t1.py": slow_table(1),
        "0002_t2.py": slow_table(2),
        "0003_check_t1.py": REBUILD,
        "0004_t4.py": slow_table(4),
        "0005_t5.py": slow_table(5),
    }
    return write_files(tmp_path / "slow_migrations", files)


def check_consistent(db: Path) -> int:
    """Every invariant after a crash; returns the version the file is at."""
    conn = sqlite3.connect(db)  # opening rolls back a hot journal, as the next run would
    try:
        assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        applied: list[int] = []
        if "schema_migrations" in tables:
            applied = [
                r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")
            ]
        top = max(applied, default=0)
        assert applied == list(range(1, top + 1)), applied
        assert conn.execute("PRAGMA user_version").fetchone()[0] == top
        for n in (1, 2, 4, 5):
            present = f"t{n}" in tables
            assert present == (n in applied), (n, applied, tables)
            if present:
                assert conn.execute(f"SELECT count(*) FROM t{n}").fetchone()[0] == ROWS
        if 1 in applied:
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 't1'").fetchone()[0]
            assert ("CHECK" in sql) == (3 in applied), (sql, applied)
        assert not [t for t in tables if t.startswith("_rebuild_new_")]
        history_ok = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'schema_migration_history'"
        ).fetchone()[0]
        assert history_ok == (1 if "schema_migrations" in tables else 0)
    finally:
        conn.close()
    return top


def run_and_kill(args: list[str], delay: float, db: Path) -> tuple[bool, bool]:
    """Start the CLI, SIGKILL it after ``delay`` s: (killed mid-run, killed inside a write)."""
    process = subprocess.Popen(
        cli_command(*args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=cli_env(),
    )
    try:
        try:
            process.wait(timeout=delay)
            return False, False
        except subprocess.TimeoutExpired:
            pass
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        # In rollback-journal mode a -journal file exists exactly while a write is in progress.
        return True, Path(str(db) + "-journal").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize(("journal_mode", "kills"), [("delete", 50), ("wal", 15)])
def test_sigkill_at_random_moments_never_leaves_a_half_migrated_database(
    tmp_path: Path, slow_migrations: Path, journal_mode: str, kills: int
) -> None:
    db = tmp_path / "killed.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.close()
    common = ["--json", "--db", str(db), "--migrations", str(slow_migrations)]
    # How long a full run takes here, so that kills spread over start-up, backup and every step.
    started = time.monotonic()
    assert (
        subprocess.run(
            cli_command("migrate", *common), env=cli_env(), capture_output=True, timeout=60
        ).returncode
        == 0
    )
    full_run = time.monotonic() - started
    assert check_consistent(db) == VERSIONS

    rng = random.Random(int(os.environ.get("METAMIGRATE_KILL_SEED", "20261126")))
    killed = mid_write = 0
    attempts = 0
    while killed < kills:
        attempts += 1
        assert attempts < kills * 4, "the child finished before every kill: the timing is off"
        version = check_consistent(db)
        if version == VERSIONS or (version > 0 and rng.random() < 0.5):
            target = rng.randrange(0, version)
            args = ["rollback", "--to", str(target), "--yes", "--force", *common]
        else:
            args = ["migrate", *common]
        was_killed, in_write = run_and_kill(args, rng.uniform(0.05, full_run * 1.1), db)
        killed += was_killed
        mid_write += in_write
        check_consistent(db)

    print(f"{journal_mode}: {killed} kills in {attempts} runs, {mid_write} inside a write")
    if journal_mode == "delete":
        # Most kills must land inside a write transaction, or the test proves little.
        assert mid_write >= kills // 3, (mid_write, kills)
    # The next run completes, and the engine's own verification agrees.
    finished = subprocess.run(
        cli_command("migrate", *common), env=cli_env(), capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stderr
    assert check_consistent(db) == VERSIONS
    manager = MigrationManager(db, Registry.from_directory(slow_migrations))
    report = manager.verify()
    assert report.ok, report.problems
    # Killed backups leave at most hidden temporary files, never a listed half backup.
    for backup in manager.list_backups():
        check = sqlite3.connect(f"file:{backup.path}?mode=ro", uri=True)
        try:
            assert check.execute("PRAGMA quick_check").fetchall() == [("ok",)]
            assert check.execute("PRAGMA user_version").fetchone()[0] == backup.version
        finally:
            check.close()
