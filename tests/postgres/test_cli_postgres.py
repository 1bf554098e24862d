"""PostgreSQL-only behaviour through the command line and the API: bad input in one sentence,
estimates labelled "about", the session's name, the schema option."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from engine import MigrationManager, Registry
from tests.conftest import MigrationFiles, table_migration
from tests.pg import PgDatabase
from tests.safety.helpers import cli_command, cli_env

pytest.importorskip("psycopg")

from engine.backends import postgres as pgb


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _one_sentence(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    flat = " ".join(result.stderr.split())
    assert flat.startswith("error: "), flat
    assert text in flat, flat


@pytest.mark.parametrize(
    ("url", "code", "text"),
    [
        ("postgresql://root@127.0.0.1:1/postgres", 1, "connection refused"),
        ("postgresql://root@no-such-host.invalid/postgres", 2, "unknown host"),
        ("postgresql://no_such_role_mm@127.0.0.1:5432/postgres", 2, "authentication failed"),
        ("postgresql://root@127.0.0.1:5432/mm_no_such_db", 2, "create it first"),
    ],
)
def test_bad_connections_fail_with_one_sentence_and_the_right_exit_code(
    url: str, code: int, text: str
) -> None:
    from tests.pg import require_server

    require_server()
    started = time.monotonic()
    _one_sentence(_run("status", "--db", url, "--connect-timeout", "3"), code, text)
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://root:hunter2@[::1/postgres", 'matching "]" in IPv6 host address'),
        ("postgresql://root:hunter2@127.0.0.1:99999/postgres", 'invalid port number: "99999"'),
        ("postgresql://root:hunter2@127.0.0.1:abc/postgres", '"abc" for connection option "port"'),
        ("postgresql://root:hunter2@127.0.0.1/postgres?nosuch=1", 'parameter: "nosuch"'),
        ("postgresql://%zz:hunter2@127.0.0.1/postgres", 'percent-encoded token: "%zz"'),
        ("postgresql://root:hunter2@127.0.0.1/postgres?sslmode=bogus", 'sslmode value: "bogus"'),
    ],
)
def test_a_malformed_url_is_one_sentence_naming_what_is_wrong_never_its_password(
    url: str, said: str
) -> None:
    for command in (("status",), ("migrate",)):
        result = _run(*command, "--db", url)
        _one_sentence(result, 2, "is not valid (")
        assert said in result.stderr
        assert "hunter2" not in result.stdout + result.stderr
        assert "Fix it in --db" in result.stderr


def test_a_password_in_the_url_is_never_printed(pg_database: PgDatabase) -> None:
    url = pg_database.url.replace("root@", "root:hunter2@")
    result = _run("status", "--db", url, "--json")
    assert "hunter2" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["database"].startswith("postgresql://root:***@")


def test_the_schema_option_keeps_bookkeeping_and_tables_in_that_schema(
    pg_database: PgDatabase, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations({"0001_create_a.py": table_migration("a")})
    result = _run(
        "migrate", "--db", pg_database.url, "--migrations", str(folder), "--schema", "tenant"
    )
    assert result.returncode == 0, result.stderr
    assert pg_database.tables(schema="tenant") == {"a"}
    assert pg_database.tables(schema="public") == set()
    rows = pg_database.query("SELECT version FROM tenant.schema_migrations")
    assert rows == [(1,)]
    status = _run(
        "status", "--db", pg_database.url, "--migrations", str(folder), "--json"
    )  # public: nothing applied there
    assert json.loads(status.stdout)["current_version"] == 0


def test_a_sqlite_only_flag_is_refused_on_postgresql_with_a_sentence(
    pg_database: PgDatabase, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_rebuild.py": '"""Rebuild."""\n\nDISABLE_FOREIGN_KEYS = True\n\n\n'
            'def up(tx):\n    tx.execute("SELECT 1")\n'
        }
    )
    result = _run("migrate", "--db", pg_database.url, "--migrations", str(folder))
    _one_sentence(result, 1, "DISABLE_FOREIGN_KEYS is a SQLite table-rebuild option")


def test_transaction_false_is_refused_on_sqlite_with_a_sentence(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_outside.py": '"""Outside."""\n\nTRANSACTION = False\n\n\n'
            'def up(tx):\n    tx.execute("CREATE TABLE t (id INTEGER)")\n'
        }
    )
    result = _run("migrate", "--db", str(tmp_path / "m.db"), "--migrations", str(folder))
    _one_sentence(result, 1, "TRANSACTION = False is not supported on SQLite")


def test_a_large_table_lost_in_a_rollback_is_an_estimate_labelled_about(
    pg_database: PgDatabase, write_migrations: MigrationFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_migrations(
        {
            "0001_big.py": '"""Big."""\n\n\ndef up(tx):\n'
            '    tx.execute("CREATE TABLE big (id INTEGER PRIMARY KEY)")\n'
            '    tx.execute("INSERT INTO big SELECT g FROM generate_series(1, 5000) AS g")\n\n\n'
            'def down(tx):\n    tx.execute("DROP TABLE big")\n'
        }
    )
    manager = MigrationManager(pg_database.url, Registry.from_directory(folder), backup=False)
    manager.migrate_to_latest()
    pg_database.execute("ANALYZE big")
    monkeypatch.setattr(pgb, "EXACT_COUNT_MAX_BYTES", 0)
    (dropped,) = manager.rollback_impact(0).dropped_tables
    assert dropped.exact is False
    assert dropped.describe().startswith("drops table big, about ")


def test_small_tables_lost_in_a_rollback_are_counted_exactly(
    pg_database: PgDatabase, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_small.py": '"""Small."""\n\n\ndef up(tx):\n'
            '    tx.execute("CREATE TABLE small (id INTEGER PRIMARY KEY)")\n'
            '    tx.execute("INSERT INTO small VALUES (1), (2), (3)")\n\n\n'
            'def down(tx):\n    tx.execute("DROP TABLE small")\n'
        }
    )
    manager = MigrationManager(pg_database.url, Registry.from_directory(folder), backup=False)
    manager.migrate_to_latest()
    (dropped,) = manager.rollback_impact(0).dropped_tables
    assert dropped.describe() == "drops table small, 3 rows"


LOCK_TABLE_FULL = '''"""Create f, then hit a full lock table (raised as the server raises it)."""


def up(tx):
    tx.execute("CREATE TABLE f (id INTEGER PRIMARY KEY)")
    tx.execute(
        "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '53200', MESSAGE = 'out of shared memory', "
        "HINT = 'You might need to increase max_locks_per_transaction.'; END $$"
    )
'''


def test_a_full_lock_table_says_what_to_change_and_the_step_is_rolled_back(
    pg_database: PgDatabase, write_migrations: MigrationFiles
) -> None:
    # A long --atomic run takes a lock per table and index it touches; past the server's lock
    # table the error is SQLSTATE 53200 "out of shared memory", which names neither cause nor fix.
    folder = write_migrations({"0001_a.py": table_migration("a"), "0002_f.py": LOCK_TABLE_FULL})
    result = _run("migrate", "--db", pg_database.url, "--migrations", str(folder), "--no-backup")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    flat = " ".join(result.stderr.split())
    assert "lock table is full" in flat and "max_locks_per_transaction" in flat, flat
    assert "without --atomic" in flat, flat
    assert pg_database.tables() >= {"a"} and "f" not in pg_database.tables()
    assert pg_database.query("SELECT max(version) FROM schema_migrations") == [(1,)]
