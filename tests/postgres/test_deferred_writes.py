"""A migration costs the round trips raw psycopg pays: the bookkeeping writes nobody reads go
with the COMMIT (and before any later statement of the transaction, so nothing reads around
them), and the step's precondition is read with the BEGIN, under the lock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.backends.base import ConnectOptions
from tests.conftest import MigrationFiles, table_migration
from tests.pg import PgDatabase

pytest.importorskip("psycopg")

from engine.backends import postgres as pgb


@pytest.fixture
def backend(pg_database: PgDatabase) -> Iterator[pgb.PostgresBackend]:
    pg_database.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
    opened = pgb.connect_backend(pg_database.url, ConnectOptions())
    try:
        yield opened
    finally:
        opened.close()


def _bodies(pg_database: PgDatabase) -> list[str]:
    return [r[0] for r in pg_database.query("SELECT body FROM notes ORDER BY id")]


def test_a_deferred_write_is_seen_by_the_next_statement_and_committed(
    backend: pgb.PostgresBackend, pg_database: PgDatabase
) -> None:
    backend.begin_write()
    backend.execute_at_commit("INSERT INTO notes VALUES (%s, %s)", (1, "it's \\ 'quoted'"))
    assert _bodies(pg_database) == []  # not sent yet
    assert backend.execute("SELECT count(*) FROM notes").fetchone() == (1,)
    backend.execute_at_commit("INSERT INTO notes VALUES (%s, %s)", (2, None))
    backend.commit()
    assert pg_database.query("SELECT id, body FROM notes ORDER BY id") == [
        (1, "it's \\ 'quoted'"),
        (2, None),
    ]


def test_a_deferred_write_is_dropped_with_its_transaction_or_savepoint(
    backend: pgb.PostgresBackend, pg_database: PgDatabase
) -> None:
    backend.begin_write()
    backend.execute_at_commit("INSERT INTO notes VALUES (%s, %s)", (1, "kept"))
    backend.savepoint("sp")
    backend.execute_at_commit("INSERT INTO notes VALUES (%s, %s)", (2, "undone"))
    backend.rollback_to_savepoint("sp")
    backend.commit()
    assert _bodies(pg_database) == ["kept"]
    backend.begin_write()
    backend.execute_at_commit("INSERT INTO notes VALUES (%s, %s)", (3, "rolled back"))
    backend.rollback()
    backend.begin_write()
    backend.commit()
    assert _bodies(pg_database) == ["kept"]


def test_a_deferred_write_that_fails_at_commit_rolls_the_transaction_back(
    backend: pgb.PostgresBackend, pg_database: PgDatabase
) -> None:
    import psycopg

    backend.begin_write()
    backend.execute("INSERT INTO notes VALUES (1, 'first')")
    backend.execute_at_commit("INSERT INTO notes VALUES (%s, %s)", (1, "duplicate"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        backend.commit()
    assert not backend.in_transaction
    assert _bodies(pg_database) == []


def test_outside_a_transaction_a_deferred_write_runs_at_once(
    backend: pgb.PostgresBackend, pg_database: PgDatabase
) -> None:
    backend.execute_at_commit("INSERT INTO notes VALUES (%s, %s)", (1, "now"))
    assert _bodies(pg_database) == ["now"]


def test_each_step_sends_begin_its_own_sql_and_commit_only(
    backend: pgb.PostgresBackend, pg_database: PgDatabase, write_migrations: MigrationFiles
) -> None:
    from engine import MigrationManager

    folder: Path = write_migrations(
        {f"000{i}_t{i}.py": table_migration(f"t{i}") for i in range(1, 5)}
    )
    manager = MigrationManager(backend, folder, backup=False)
    manager.migrate_to(1)  # creates the bookkeeping
    statements: list[str] = []
    with backend.trace(statements.append):
        manager.migrate_to(3)
    steps = [s for s in statements if s.startswith(("BEGIN", "CREATE TABLE", "INSERT"))]
    # BEGIN with the lock and the head; the migration's SQL; the bookkeeping with the COMMIT.
    assert [s.split()[0].rstrip(";") for s in steps] == ["BEGIN", "CREATE", "INSERT"] * 2
    assert all(s.endswith("COMMIT") for s in steps if s.startswith("INSERT"))
    assert all("max(version)" in s for s in steps if s.startswith("BEGIN"))
    assert not [s for s in statements if s.startswith("SELECT (SELECT coalesce(max(version)")]
    assert [r[0] for r in pg_database.query("SELECT version FROM schema_migrations")] == [1, 2, 3]
    manager.rollback(1)
    assert [r[0] for r in pg_database.query("SELECT version FROM schema_migrations")] == [1]
