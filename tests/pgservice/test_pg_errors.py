"""PostgreSQL errors the store acts on: integrity violations are "constraint", like SQLite's."""

from __future__ import annotations

import pytest

from tests.pg import PgDatabase

psycopg = pytest.importorskip("psycopg")


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO t VALUES (1, 'a', 1)",  # unique
        "INSERT INTO t VALUES (2, '', 1)",  # check
        "INSERT INTO t VALUES (3, NULL, 1)",  # not null
        "INSERT INTO t VALUES (4, 'b', 99)",  # foreign key
    ],
)
def test_integrity_violations_are_the_constraint_kind(
    pg_module_database: PgDatabase, statement: str
) -> None:
    from engine.backends.base import ConnectOptions
    from engine.backends.postgres import connect_backend

    pg_module_database.execute(
        "CREATE TABLE IF NOT EXISTS p (id int PRIMARY KEY);"
        "INSERT INTO p VALUES (1) ON CONFLICT DO NOTHING;"
        "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, name text NOT NULL "
        "CHECK (name <> ''), p int REFERENCES p (id));"
        "INSERT INTO t VALUES (1, 'a', 1) ON CONFLICT DO NOTHING"
    )
    backend = connect_backend(pg_module_database.url, ConnectOptions())
    try:
        with pytest.raises(psycopg.Error) as caught:
            backend.execute(statement)
        assert backend.error_kind(caught.value) == "constraint"
    finally:
        backend.close()
