"""The PostgreSQL schema description: what the fingerprint covers, and what verify reports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.backends.base import ConnectOptions
from tests.pg import PgDatabase

pytest.importorskip("psycopg")

from engine.backends import postgres as pgb

BASE = """
CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL DEFAULT 'x');
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id), n int CHECK (n > 0));
CREATE INDEX child_n ON child (n);
CREATE VIEW named AS SELECT id, name FROM parent;
CREATE SEQUENCE counter START 5;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER child_touch BEFORE INSERT ON child FOR EACH ROW EXECUTE FUNCTION touch();
"""


@pytest.fixture
def backend(pg_database: PgDatabase) -> Iterator[pgb.PostgresBackend]:
    opened = pgb.connect_backend(pg_database.url, ConnectOptions())
    opened.begin_write()
    opened.script(BASE)
    for statement in opened.bookkeeping_ddl():
        opened.execute(statement)
    opened.commit()
    try:
        yield opened
    finally:
        opened.rollback()
        opened.close()


def _changed_by(backend: pgb.PostgresBackend, sql: str) -> bool:
    before = backend.schema_fingerprint()
    backend.begin_write()
    backend.script(sql)
    after = backend.schema_fingerprint()
    backend.rollback()
    assert backend.schema_fingerprint() == before
    return after != before


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE child ALTER COLUMN n TYPE bigint",
        "ALTER TABLE parent ALTER COLUMN name SET DEFAULT 'y'",
        "ALTER TABLE parent ALTER COLUMN name DROP NOT NULL",
        "ALTER TABLE parent ADD COLUMN extra int",
        "ALTER TABLE child DROP CONSTRAINT child_n_check",
        "ALTER TABLE child ADD CONSTRAINT n_small CHECK (n < 100)",
        "DROP INDEX child_n",
        "CREATE UNIQUE INDEX parent_name ON parent (name)",
        "CREATE OR REPLACE VIEW named AS SELECT id, name, 1 AS one FROM parent",
        "ALTER SEQUENCE counter INCREMENT 2",
        "DROP TRIGGER child_touch ON child",
        "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.n := 1; RETURN NEW; END $$",
        "CREATE FUNCTION other(a int) RETURNS int LANGUAGE sql AS 'SELECT a'",
        "CREATE TYPE mood AS ENUM ('ok', 'sad')",
    ],
)
def test_the_fingerprint_sees_each_kind_of_change(
    backend: pgb.PostgresBackend, change: str
) -> None:
    assert _changed_by(backend, change)


def test_data_and_sequence_values_are_not_schema(backend: pgb.PostgresBackend) -> None:
    assert not _changed_by(backend, "INSERT INTO parent VALUES (1, 'a'); SELECT nextval('counter')")


def test_bookkeeping_rows_and_tables_are_left_out(backend: pgb.PostgresBackend) -> None:
    assert not _changed_by(
        backend,
        "INSERT INTO schema_migration_history (version, name, direction, started_at, "
        'finished_at, duration_ms, success, "user", host, pid) '
        "VALUES (1, 'x', 'up', '', '', 0, 1, 'u', 'h', 1); "
        "ALTER TABLE schema_migrations ADD COLUMN note text",
    )
    facts = backend.describe_schema().facts
    assert not [f for f in facts if "schema_migration" in f]


def test_the_same_schema_built_in_another_order_has_the_same_fingerprint(
    pg_database: PgDatabase, backend: pgb.PostgresBackend
) -> None:
    statements = pgb.split_statements(BASE)
    reordered = [
        statements[4],
        statements[0],
        statements[1],
        statements[3],
        statements[2],
        statements[5],
        statements[6],
    ]
    other = pgb.connect_backend(pg_database.url, ConnectOptions(schema="again"))
    try:
        other.begin_write()
        other.script(";\n".join(reordered))
        other.commit()
        # The same objects in another schema: only the schema name in index definitions
        # differs, so compare the facts with it taken out.
        mine = [f.replace("public.", "") for f in backend.describe_schema().facts]
        theirs = [f.replace("again.", "") for f in other.describe_schema().facts]
        assert sorted(mine) == sorted(theirs)
    finally:
        other.close()


def test_the_description_is_scoped_to_the_schema(pg_database: PgDatabase) -> None:
    pg_database.execute("CREATE TABLE outside (id int)")
    scoped = pgb.connect_backend(pg_database.url, ConnectOptions(schema="app"))
    try:
        scoped.begin_write()
        scoped.execute("CREATE TABLE inside (id int, label text)")
        scoped.commit()
        assert scoped.tables() == ["inside"]
        assert dict(scoped.describe_schema().tables) == {"inside": ("id", "label")}
        assert scoped.table_exists("inside") and not scoped.table_exists("outside")
        assert pg_database.tables(schema="app") == {"inside"}
    finally:
        scoped.close()


def test_invalid_indexes_and_not_valid_constraints_are_integrity_problems(
    pg_database: PgDatabase, backend: pgb.PostgresBackend
) -> None:
    assert backend.integrity_problems() == []
    pg_database.execute("INSERT INTO parent VALUES (1, 'same'), (2, 'same')")
    with pg_database.connect() as conn, pytest.raises(Exception, match="could not create"):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY parent_name_u ON parent (name)")
    pg_database.execute(
        "ALTER TABLE parent ADD CONSTRAINT short CHECK (length(name) < 3) NOT VALID"
    )
    problems = backend.integrity_problems()
    assert any("index public.parent_name_u" in p and "invalid" in p for p in problems)
    assert any("constraint short" in p and "NOT VALID" in p for p in problems)


def test_small_tables_are_counted_exactly(backend: pgb.PostgresBackend) -> None:
    backend.execute("INSERT INTO parent VALUES (1, 'a'), (2, 'b')")
    shape = backend.table_shapes(["parent"])["parent"]
    assert (shape.rows, dict(shape.columns), shape.exact) == (2, {"id": 2, "name": 2}, True)


def test_many_tables_are_counted_exactly_a_chunk_of_tables_per_statement(
    backend: pgb.PostgresBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgb, "_COUNTS_PER_STATEMENT", 3)
    for i in range(9):
        backend.execute(f'CREATE TABLE "t {i}" (id int, "odd ""name" text)')
    for i in range(5):  # t 5 holds three rows; t 0-3 one row each, deleted: pages, no rows
        backend.execute(f"INSERT INTO \"t {i}\" VALUES (1, NULL), (2, 'x'), (3, 'y')")
    backend.execute('DELETE FROM "t 0"; DELETE FROM "t 1"; DELETE FROM "t 2"; DELETE FROM "t 3"')
    names = [f"t {i}" for i in range(9)]
    statements: list[str] = []
    with backend.trace(statements.append):
        shapes = backend.table_shapes(names)
    assert list(shapes) == names
    assert (shapes["t 4"].rows, dict(shapes["t 4"].columns)) == (3, {"id": 3, 'odd "name': 2})
    assert all(shapes[n].rows == 0 and shapes[n].exact for n in names if n != "t 4")
    # Only the five tables with pages are scanned, three per statement; the empty ones are not.
    assert sum("ARRAY[count(*)" in s for s in statements) == 2


def test_a_partitioned_table_is_counted_through_its_partitions(
    backend: pgb.PostgresBackend,
) -> None:
    backend.execute("CREATE TABLE parted (id int) PARTITION BY RANGE (id)")
    backend.execute("CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (10)")
    backend.execute("INSERT INTO parted VALUES (1), (2)")
    assert backend.table_shapes(["parted"])["parted"].rows == 2


def test_large_tables_are_estimated_from_the_statistics(
    backend: pgb.PostgresBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.execute("INSERT INTO parent SELECT g, 'n' FROM generate_series(1, 5000) AS g")
    backend.execute("ANALYZE parent")
    monkeypatch.setattr(pgb, "EXACT_COUNT_MAX_BYTES", 0)
    shape = backend.table_shapes(["parent"])["parent"]
    assert shape.exact is False
    assert 4000 <= shape.rows <= 6000
