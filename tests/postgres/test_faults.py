"""Faults with real processes on the real server: replicas racing, kills, a terminated backend,
a reader in the way, a non-transactional migration interrupted.

Every process is the real CLI (``python -m engine``), each migrator its own process and its own
connection, as replicas of the service run it.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.pg import PgDatabase
from tests.safety.helpers import cli_command, cli_env, write_files

pytestmark = pytest.mark.slow


def slow_table(n: int, sleep: float = 0.05) -> str:
    return f'''
        """Create t{n} slowly."""


        def up(tx):
            tx.execute("CREATE TABLE t{n} (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
            tx.execute("INSERT INTO t{n} SELECT g, 'x' FROM generate_series(1, 200) AS g")
            tx.execute("SELECT pg_sleep({sleep})")


        def down(tx):
            tx.execute("SELECT pg_sleep({sleep})")
            tx.execute("DROP TABLE t{n}")
        '''


def _migrations(tmp_path: Path, count: int, sleep: float = 0.05) -> Path:
    return write_files(
        tmp_path / "migrations",
        {f"{n:04d}_create_t{n}.py": slow_table(n, sleep) for n in range(1, count + 1)},
    )


def _cli(db: PgDatabase, folder: Path, *args: str) -> list[str]:
    return cli_command(*args, "--db", db.url, "--migrations", str(folder))


def _run(db: PgDatabase, folder: Path, *args: str, timeout: float = 120) -> Any:
    return subprocess.run(
        _cli(db, folder, *args),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _applied(db: PgDatabase) -> list[int]:
    if not db.query("SELECT to_regclass('public.schema_migrations') IS NOT NULL")[0][0]:
        return []
    return [r[0] for r in db.query("SELECT version FROM schema_migrations ORDER BY 1")]


def _advisory_locks(db: PgDatabase) -> int:
    rows = db.query(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return int(rows[0][0])


def _wait_until(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def test_eight_replicas_started_together_apply_each_migration_exactly_once(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    folder = _migrations(tmp_path, 6, sleep=0.05)
    command = _cli(pg_database, folder, "ensure-ready", "--migrate", "--json")
    replicas = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
        )
        for _ in range(8)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in replicas]
    for code, out, err in results:
        assert code == 0, (out, err)
        assert "Traceback" not in err
        assert json.loads(out.strip().splitlines()[-1])["status"] == "ready"
    ups = pg_database.query(
        "SELECT version, count(*) FROM schema_migration_history "
        "WHERE direction = 'up' AND success = 1 GROUP BY version ORDER BY version"
    )
    assert ups == [(v, 1) for v in range(1, 7)]
    assert _applied(pg_database) == list(range(1, 7))
    assert pg_database.tables() == {f"t{n}" for n in range(1, 7)}
    assert _advisory_locks(pg_database) == 0


def test_sigkill_at_random_moments_never_leaves_half_a_migration_or_a_lock(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    count = 4
    folder = _migrations(tmp_path, count, sleep=0.04)
    rng = random.Random(1313)
    for _round in range(30):
        going_up = len(_applied(pg_database)) < count
        args = (
            ("migrate", "--no-backup")
            if going_up
            else ("rollback", "--to", "0", "--yes", "--force", "--no-backup")
        )
        process = subprocess.Popen(
            _cli(pg_database, folder, *args),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.25, 0.9))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        # The server ends the killed session's transaction (and its lock) when it notices.
        assert _wait_until(lambda: _advisory_locks(pg_database) == 0), "advisory lock left behind"
        applied = _applied(pg_database)
        assert applied == list(range(1, len(applied) + 1))
        assert pg_database.tables() == {f"t{n}" for n in applied}
        for n in applied:
            assert pg_database.query(f"SELECT count(*) FROM t{n}") == [(200,)]
    result = _run(pg_database, folder, "migrate", "--no-backup")
    assert result.returncode == 0, result.stderr
    assert _applied(pg_database) == list(range(1, count + 1))
    verify = _run(pg_database, folder, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _backend_of(db: PgDatabase, prefix: str, query_part: str, timeout: float = 20) -> int:
    found: list[int] = []

    def look() -> bool:
        rows = db.query(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s AND query LIKE %s "
            "AND state = 'active'",
            (prefix + "%", "%" + query_part + "%"),
        )
        found[:] = [r[0] for r in rows]
        return bool(found)

    assert _wait_until(look, timeout), f"no session {prefix!r} running {query_part!r}"
    return found[0]


def test_a_terminated_migrator_fails_cleanly_and_the_failure_is_recorded(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    folder = write_files(
        tmp_path / "migrations",
        {
            "0001_create_t1.py": slow_table(1, 0.01),
            "0002_slow.py": slow_table(2, 30),
        },
    )
    process = subprocess.Popen(
        [*_cli(pg_database, folder, "migrate"), "--no-backup"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
    )
    pid = _backend_of(pg_database, "metamigrate migrate", "pg_sleep(30")
    pg_database.execute("SELECT pg_terminate_backend(%s)", (pid,))
    code = process.wait(timeout=30)
    _out, err = process.communicate()
    assert code == 1, err
    assert "Traceback" not in err
    flat = " ".join(err.split())
    assert "Could not apply migration 0002_slow" in flat
    assert "connection to the server was lost" in flat
    assert _applied(pg_database) == [1]
    assert pg_database.tables() == {"t1"}
    failures = pg_database.query("SELECT version FROM schema_migration_history WHERE success = 0")
    assert failures == [(2,)]


ALTER_BUSY = '''
    """Add a column to busy."""

    LOCK_TIMEOUT = "1s"


    def up(tx):
        tx.execute("ALTER TABLE busy ADD COLUMN extra INTEGER")


    def down(tx):
        tx.execute("ALTER TABLE busy DROP COLUMN extra")
    '''

CREATE_BUSY = '''
    """Create busy."""


    def up(tx):
        tx.execute("CREATE TABLE busy (id INTEGER PRIMARY KEY)")


    def down(tx):
        tx.execute("DROP TABLE busy")
    '''


def test_a_migration_behind_a_reader_fails_within_its_lock_timeout_naming_the_reader(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    folder = write_files(
        tmp_path / "migrations",
        {"0001_create_busy.py": CREATE_BUSY, "0002_alter_busy.py": ALTER_BUSY},
    )
    assert _run(pg_database, folder, "migrate", "--to", "1", "--no-backup").returncode == 0
    reader = pg_database.connect(application_name="nightly report")
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM busy")
        started = time.monotonic()
        result = _run(pg_database, folder, "migrate", "--no-backup", timeout=60)
        elapsed = time.monotonic() - started
        assert result.returncode == 1, result.stdout
        flat = " ".join(result.stderr.split())
        assert f"pid {reader.info.backend_pid}" in flat
        assert "public.busy" in flat
        assert "nightly report" in flat
        assert "unchanged at version 1" in flat
        assert elapsed < 15
        # The reader's session was never disturbed, and the others' queries were not queued
        # behind the migration once it gave up.
        assert reader.execute("SELECT count(*) FROM busy").fetchone() == (0,)
        with pg_database.connect() as other:
            other.execute("SET statement_timeout = '2s'")
            assert other.execute("SELECT count(*) FROM busy").fetchone() == (0,)
    finally:
        reader.close()
    assert _applied(pg_database) == [1]


CONCURRENT_INDEX = '''
    """Index busy concurrently."""

    TRANSACTION = False


    def up(tx):
        tx.execute("SELECT pg_sleep({sleep})")
        tx.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS busy_id ON busy (id)")


    def down(tx):
        tx.execute("DROP INDEX CONCURRENTLY IF EXISTS busy_id")
    '''


def test_a_non_transactional_migration_runs_outside_a_transaction(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    folder = write_files(
        tmp_path / "migrations",
        {
            "0001_create_busy.py": CREATE_BUSY,
            "0002_index_busy.py": CONCURRENT_INDEX.replace("{sleep}", "0"),
        },
    )
    result = _run(pg_database, folder, "migrate", "--no-backup")
    assert result.returncode == 0, result.stderr
    assert _applied(pg_database) == [1, 2]
    assert pg_database.query("SELECT count(*) FROM pg_indexes WHERE indexname = 'busy_id'") == [
        (1,)
    ]
    assert _run(pg_database, folder, "verify").returncode == 0
    assert _advisory_locks(pg_database) == 0


def test_an_interrupted_non_transactional_migration_is_reported_until_repaired(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    folder = write_files(
        tmp_path / "migrations",
        {
            "0001_create_busy.py": CREATE_BUSY,
            "0002_index_busy.py": CONCURRENT_INDEX.replace("{sleep}", "30"),
        },
    )
    assert _run(pg_database, folder, "migrate", "--to", "1", "--no-backup").returncode == 0
    process = subprocess.Popen(
        [*_cli(pg_database, folder, "migrate"), "--no-backup"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
    )
    pid = _backend_of(pg_database, "metamigrate migrate", "pg_sleep(30")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    pg_database.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert _wait_until(lambda: _advisory_locks(pg_database) == 0)

    for command in ("status", "verify", "ensure-ready"):
        result = _run(pg_database, folder, command)
        text = " ".join((result.stdout + result.stderr).split())
        assert "migration 2 was interrupted outside a transaction" in text, (command, text)
        assert "Traceback" not in text
    assert _run(pg_database, folder, "verify").returncode == 1
    assert _run(pg_database, folder, "ensure-ready").returncode == 1
    # Nothing reruns or skips it silently.
    result = _run(pg_database, folder, "migrate", "--no-backup")
    assert result.returncode == 1
    assert "interrupted" in result.stderr
    assert _applied(pg_database) == [1]

    repaired = _run(
        pg_database, folder, "repair", "2", "--reason", "dropped the invalid index", "--yes"
    )
    assert repaired.returncode == 0, repaired.stderr
    fixed = write_files(
        tmp_path / "migrations",
        {"0002_index_busy.py": CONCURRENT_INDEX.replace("{sleep}", "0")},
    )
    result = _run(pg_database, fixed, "migrate", "--no-backup")
    assert result.returncode == 0, result.stderr
    assert _applied(pg_database) == [1, 2]
    assert _run(pg_database, fixed, "verify").returncode == 0


def test_the_lock_wait_is_bounded_and_names_the_holder(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    folder = write_files(tmp_path / "migrations", {"0001_slow.py": slow_table(1, 20)})
    first = subprocess.Popen(
        [*_cli(pg_database, folder, "migrate"), "--no-backup"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
    )
    try:
        holder = _backend_of(pg_database, "metamigrate migrate", "pg_sleep(20")
        started = time.monotonic()
        second = _run(pg_database, folder, "migrate", "--no-backup", "--lock-timeout", "1")
        assert time.monotonic() - started < 15
        assert second.returncode == 1, second.stdout
        flat = " ".join(second.stderr.split())
        assert "Waited 1 s for the migration lock" in flat
        assert f"pid {holder}" in flat
        assert "metamigrate migrate" in flat
    finally:
        first.kill()
        first.wait(timeout=30)


def test_lock_retries_wait_out_a_short_reader_with_backoff(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    folder = write_files(
        tmp_path / "migrations",
        {
            "0001_create_busy.py": CREATE_BUSY,
            "0002_alter_busy.py": ALTER_BUSY.replace('"1s"', '"300ms"'),
        },
    )
    assert _run(pg_database, folder, "migrate", "--to", "1", "--no-backup").returncode == 0
    reader = pg_database.connect(application_name="short report")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM busy")
    process = subprocess.Popen(
        [*_cli(pg_database, folder, "migrate"), "--no-backup", "--lock-retries", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
    )
    try:
        # Let the first attempt (or two) fail on the lock, then end the report.
        assert _wait_until(
            lambda: bool(
                pg_database.query(
                    "SELECT 1 FROM schema_migration_history WHERE version = 2 AND success = 0"
                )
            ),
            timeout=20,
        )
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    code = process.wait(timeout=60)
    _out, err = process.communicate()
    assert code == 0, err
    assert _applied(pg_database) == [1, 2]
    results = [
        bool(r[0])
        for r in pg_database.query(
            "SELECT success FROM schema_migration_history WHERE version = 2 ORDER BY id"
        )
    ]
    assert results[-1] is True and not any(results[:-1]) and len(results) >= 2


def test_statement_timeout_cancels_a_runaway_migration_cleanly(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    folder = write_files(tmp_path / "migrations", {"0001_slow.py": slow_table(1, 30)})
    started = time.monotonic()
    result = _run(pg_database, folder, "migrate", "--no-backup", "--statement-timeout", "1s")
    assert time.monotonic() - started < 20
    assert result.returncode == 1, result.stdout
    assert "statement_timeout" in " ".join(result.stderr.split())
    assert _applied(pg_database) == []
    assert pg_database.tables() == set()


def test_a_read_only_server_shows_status_and_refuses_migrate(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    folder = write_files(tmp_path / "migrations", {"0001_t.py": slow_table(1, 0)})
    assert _run(pg_database, folder, "migrate", "--no-backup").returncode == 0
    standby = pg_database.url + "?options=-c%20default_transaction_read_only%3Don"
    status = subprocess.run(
        cli_command("status", "--db", standby, "--migrations", str(folder), "--json"),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["current_version"] == 1
    refused = subprocess.run(
        cli_command(
            "rollback",
            "--to",
            "0",
            "--yes",
            "--force",
            "--no-backup",
            "--db",
            standby,
            "--migrations",
            str(folder),
        ),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert refused.returncode == 1
    assert "Run migrations against the primary" in " ".join(refused.stderr.split())
    assert _applied(pg_database) == [1]
