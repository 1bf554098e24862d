"""Bookkeeping writes nobody reads go with the COMMIT's round trip, and before any later
statement of the transaction, so nothing ever reads around them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.backends.base import ConnectOptions
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
