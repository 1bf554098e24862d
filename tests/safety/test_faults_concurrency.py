"""Concurrent runners: processes started at once on one file apply each migration exactly once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.safety.helpers import cli_command, cli_env, write_files

SLOWISH = '''
    """Create t{n} while holding the write lock for a moment."""
    import time


    def up(tx):
        tx.execute("CREATE TABLE t{n} (id INTEGER PRIMARY KEY)")
        tx.executemany("INSERT INTO t{n} (id) VALUES (?)", [(i,) for i in range(200)])
        time.sleep({sleep})


    def down(tx):
        tx.execute("DROP TABLE t{n}")
    '''


def start_all(count: int, args: list[str]) -> list[subprocess.CompletedProcess[str]]:
    processes = [
        subprocess.Popen(
            cli_command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=cli_env(),
        )
        for _ in range(count)
    ]
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=60)
            results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    return results


def successful_ups(db: Path) -> dict[int, int]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT version, count(*) FROM schema_migration_history "
            "WHERE direction = 'up' AND success = 1 GROUP BY version"
        ).fetchall()
    finally:
        conn.close()
    return dict(rows)


@pytest.mark.slow
def test_eight_runners_on_one_empty_file_apply_every_migration_exactly_once(
    tmp_path: Path,
) -> None:
    folder = write_files(
        tmp_path / "migrations",
        {f"000{n}_t{n}.py": SLOWISH.format(n=n, sleep=0.05) for n in range(1, 6)},
    )
    db = tmp_path / "shared.db"
    db.touch()  # an empty file, as a fresh deployment has
    results = start_all(8, ["migrate", "--json", "--db", str(db), "--migrations", str(folder)])

    done: list[int] = []
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        payload = json.loads(result.stdout)
        done += [step["version"] for step in payload["done"]]
        # A loser either waited and skipped what others did, or found nothing to do.
        assert payload["to_version"] == 5
    assert sorted(done) == [1, 2, 3, 4, 5]  # each applied by exactly one process
    assert successful_ups(db) == {v: 1 for v in range(1, 6)}
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        for n in range(1, 6):
            assert conn.execute(f"SELECT count(*) FROM t{n}").fetchone()[0] == 200
    finally:
        conn.close()


@pytest.mark.slow
def test_runners_that_wait_past_the_busy_timeout_fail_cleanly_and_change_nothing(
    tmp_path: Path,
) -> None:
    """One step holds the lock for 2.5 s; runners with a 0.3 s busy timeout give up in words."""
    folder = write_files(
        tmp_path / "migrations",
        {"0001_t1.py": SLOWISH.format(n=1, sleep=2.5)},
    )
    db = tmp_path / "shared.db"
    db.touch()
    args = ["migrate", "--busy-timeout", "0.3", "--db", str(db), "--migrations", str(folder)]
    results = start_all(4, args)

    failed = [r for r in results if r.returncode != 0]
    assert 1 <= len(failed) < len(results)
    for result in results:
        assert "Traceback" not in result.stderr + result.stdout
    for result in failed:
        assert result.returncode == 1, result.stderr
        flat = " ".join(result.stderr.split())
        assert "locked" in flat and "0.3 s" in flat, flat
    assert successful_ups(db) == {1: 1}
    # Those that gave up can simply run again: nothing to do.
    again = subprocess.run(
        cli_command("migrate", "--db", str(db), "--migrations", str(folder)),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert again.returncode == 0 and "Nothing to do" in again.stdout
