"""PostgreSQL-only behaviour of the backend, against the real server."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.backends.base import ConnectOptions
from engine.errors import (
    DatabaseError,
    DatabaseLockedError,
    DatabaseNotFoundError,
    DatabasePathError,
    ReadOnlyDatabaseError,
)
from tests.pg import PgDatabase, server_url

psycopg = pytest.importorskip("psycopg")

from engine.backends import postgres as pgb  # noqa: E402


@pytest.fixture
def opened(pg_database: PgDatabase) -> Iterator[pgb.PostgresBackend]:
    backend = pgb.connect_backend(pg_database.url, ConnectOptions(application_name="mm test"))
    try:
        yield backend
    finally:
        backend.rollback()
        backend.close()


def _open(url: str, **options: object) -> pgb.PostgresBackend:
    return pgb.connect_backend(url, ConnectOptions(**options))  # type: ignore[arg-type]


# -- URLs and identity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("postgresql://alice:s3cret@db:5432/meta", "postgresql://alice:***@db:5432/meta"),
        (
            "postgres://alice:s3cret@db/meta?sslmode=require",
            "postgres://alice:***@db/meta?sslmode=require",
        ),
        ("postgresql://alice@db/meta?password=s3cret", "postgresql://alice@db/meta?password=***"),
        (
            "host=db user=alice password=s3cret dbname=meta",
            "host=db user=alice password=*** dbname=meta",
        ),
        ("postgresql://alice@db/meta", "postgresql://alice@db/meta"),
    ],
)
def test_a_password_is_never_shown(given: str, shown: str) -> None:
    assert pgb.mask_password(given) == shown
    assert "s3cret" not in pgb.mask_password(given)


def test_postgres_and_sqlalchemy_schemes_reach_libpq_as_postgresql() -> None:
    assert pgb.libpq_url("postgres://u@h/d") == "postgresql://u@h/d"
    assert pgb.libpq_url("postgresql+psycopg://u@h/d") == "postgresql://u@h/d"
    assert pgb.libpq_url("host=h dbname=d") == "host=h dbname=d"


def test_other_sessions_see_command_user_host_and_pid(
    opened: pgb.PostgresBackend, pg_database: PgDatabase
) -> None:
    (name,) = pg_database.query(
        "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (opened.backend_pid,)
    )[0]
    assert name.startswith("mm test ")
    assert name.endswith(f" {os.getpid()}")
    assert "@" in name


def test_the_location_is_shown_with_the_password_masked(pg_database: PgDatabase) -> None:
    url = pg_database.url.replace("root@", "root:topsecret@")
    backend = _open(url)
    try:
        assert "topsecret" not in backend.location
        assert ":***@" in backend.location
    finally:
        backend.close()


def test_libpq_options_in_the_url_are_applied(pg_database: PgDatabase) -> None:
    backend = _open(pg_database.url + "?options=-c%20statement_timeout%3D1234")
    try:
        (value,) = backend.execute("SHOW statement_timeout").fetchone()
        assert value == "1234ms"
    finally:
        backend.close()


# -- connection failures, each one sentence ----------------------------------------------------


def test_connection_refused_is_one_sentence() -> None:
    with pytest.raises(DatabaseError, match="connection refused; check that the server"):
        _open("postgresql://root@127.0.0.1:1/postgres")


def test_an_unknown_host_is_bad_input() -> None:
    with pytest.raises(DatabasePathError, match="unknown host"):
        _open("postgresql://root@no-such-host.invalid/postgres")


def test_an_unknown_role_is_an_authentication_failure(pg_database: PgDatabase) -> None:
    url = pg_database.url.replace("root@", "no_such_role_mm@")
    with pytest.raises(DatabasePathError, match="authentication failed"):
        _open(url)


def test_a_missing_database_says_create_it() -> None:
    url = server_url().rsplit("/", 1)[0] + "/mm_no_such_database"
    with pytest.raises(DatabaseNotFoundError, match="does not exist; create it first"):
        _open(url)


def test_the_connect_timeout_bounds_a_server_that_does_not_answer() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the TCP connection, never speaks PostgreSQL
    port = listener.getsockname()[1]
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseError, match="did not answer within 1 s"):
            _open(f"postgresql://root@127.0.0.1:{port}/postgres", connect_timeout=1.0)
    finally:
        listener.close()
    assert time.monotonic() - started < 5


# -- the migration lock --------------------------------------------------------------------------


def test_a_second_writer_waits_at_most_the_lock_wait_and_names_the_holder(
    pg_database: PgDatabase,
) -> None:
    holder = _open(pg_database.url, application_name="metamigrate migrate")
    waiter = _open(pg_database.url, lock_wait=0.5)
    try:
        holder.begin_write()
        started = time.monotonic()
        with pytest.raises(DatabaseLockedError) as info:
            waiter.begin_write()
        waited = time.monotonic() - started
        assert 0.4 < waited < 3
        message = str(info.value)
        assert f"pid {holder.backend_pid}" in message
        assert "metamigrate migrate" in message
        assert "Waited 0.5 s for the migration lock of schema public" in message
        assert not waiter.in_transaction
    finally:
        holder.rollback()
        holder.close()
        waiter.close()


def test_the_lock_is_taken_as_soon_as_the_holder_commits(pg_database: PgDatabase) -> None:
    holder = _open(pg_database.url)
    waiter = _open(pg_database.url, lock_wait=10)
    try:
        holder.begin_write()
        timer = threading.Timer(0.3, holder.commit)
        timer.start()
        waiter.begin_write()
        assert waiter.in_transaction
        waiter.rollback()
        timer.join()
    finally:
        holder.close()
        waiter.close()


def test_a_closed_connection_leaves_no_advisory_lock(pg_database: PgDatabase) -> None:
    holder = _open(pg_database.url)
    holder.begin_write()
    holder.close()
    rows = pg_database.query(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    assert rows == [(0,)]


def test_schemas_have_separate_locks(pg_database: PgDatabase) -> None:
    first = _open(pg_database.url, schema="tenant_a")
    second = _open(pg_database.url, schema="tenant_b", lock_wait=0.2)
    try:
        first.begin_write()
        second.begin_write()
        assert first.in_transaction and second.in_transaction
    finally:
        first.rollback()
        second.rollback()
        first.close()
        second.close()


def test_migration_code_cannot_commit_through_the_raw_connection(
    opened: pgb.PostgresBackend,
) -> None:
    opened.begin_write()
    opened.execute("CREATE TABLE kept_out (id int)")
    with opened.transaction_control_forbidden(), pytest.raises(pgb.TransactionControlDenied):
        opened.connection.execute("SELECT 1; COMMIT")
    opened.rollback()
    assert not opened.table_exists("kept_out")


def test_savepoints_and_rollback_to_are_allowed_inside_a_migration(
    opened: pgb.PostgresBackend,
) -> None:
    opened.begin_write()
    with opened.transaction_control_forbidden():
        opened.execute("SAVEPOINT mine")
        opened.execute("CREATE TABLE inner_t (id int)")
        opened.execute("ROLLBACK TO SAVEPOINT mine")
        opened.execute("RELEASE mine")
    assert opened.in_transaction
    opened.rollback()


# -- read-only --------------------------------------------------------------------------------


def test_read_only_refuses_to_write_and_sets_default_transaction_read_only(
    pg_database: PgDatabase,
) -> None:
    backend = _open(pg_database.url, read_only=True)
    try:
        assert backend.is_read_only()
        (value,) = backend.execute("SHOW default_transaction_read_only").fetchone()
        assert value == "on"
        with pytest.raises(ReadOnlyDatabaseError, match="read-only"):
            backend.begin_write()
    finally:
        backend.close()


def test_a_read_only_server_refuses_migrations_with_a_sentence(pg_database: PgDatabase) -> None:
    # A standby cannot be made here; default_transaction_read_only is what a standby looks like
    # to a session (transaction_read_only is on).
    backend = _open(pg_database.url + "?options=-c%20default_transaction_read_only%3Don")
    try:
        assert backend.is_read_only()
        with pytest.raises(ReadOnlyDatabaseError, match="Run migrations against the primary"):
            backend.begin_write()
        assert not backend.in_transaction
    finally:
        backend.close()


def test_no_permission_on_the_schema_is_one_sentence(pg_database: PgDatabase) -> None:
    role = f"mm_reader_{os.getpid()}"
    pg_database.execute(f"DROP ROLE IF EXISTS {role}")
    pg_database.execute(f"CREATE ROLE {role} LOGIN")
    pg_database.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}, PUBLIC")
    try:
        backend = _open(pg_database.url.replace("root@", f"{role}@"))
        try:
            backend.begin_write()
            with pytest.raises(psycopg.Error) as info:
                backend.execute("CREATE TABLE t (id int)")
            backend.rollback()
            error = backend.translate_error(info.value, action="migrate")
            assert isinstance(error, ReadOnlyDatabaseError)
            assert "No permission to migrate schema public" in str(error)
        finally:
            backend.close()
    finally:
        pg_database.execute(f"DROP OWNED BY {role}")
        pg_database.execute(f"DROP ROLE {role}")


def test_a_terminated_connection_is_reported_as_lost_and_rolled_back(
    opened: pgb.PostgresBackend, pg_database: PgDatabase
) -> None:
    opened.begin_write()
    opened.execute("CREATE TABLE doomed (id int)")
    pg_database.execute("SELECT pg_terminate_backend(%s)", (opened.backend_pid,))
    with pytest.raises(psycopg.Error) as info:
        opened.execute("SELECT 1")
    error = opened.translate_error(info.value)
    assert "connection to PostgreSQL" in str(error) and "rolled back" in str(error)
    assert "rolled the step back" in opened.describe_step_error(info.value)
    opened.rollback()  # never raises on a dead connection
    assert pg_database.tables() == set()


# -- DDL lock_timeout ----------------------------------------------------------------------


def test_ddl_behind_a_reader_fails_within_lock_timeout_naming_table_and_reader(
    pg_database: PgDatabase,
) -> None:
    pg_database.execute("CREATE TABLE busy (id int)")
    reader = pg_database.connect(application_name="a long report")
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM busy")
    backend = _open(pg_database.url, lock_timeout="300ms")
    try:
        backend.begin_write()
        started = time.monotonic()
        with backend.transaction_control_forbidden(), pytest.raises(psycopg.Error) as info:
            backend.execute("ALTER TABLE busy ADD COLUMN extra int")
        assert time.monotonic() - started < 3
        backend.rollback()
        cause = backend.describe_step_error(info.value)
        assert "lock_timeout 300ms" in cause
        assert "public.busy" in cause
        assert f"pid {reader.info.backend_pid}" in cause
        assert "a long report" in cause
        # The reader was never disturbed.
        assert reader.execute("SELECT count(*) FROM busy").fetchone() == (0,)
    finally:
        backend.close()
        reader.close()


# -- rows changed and the trace ------------------------------------------------------------


def test_rows_changed_counts_multi_statement_and_executemany(opened: pgb.PostgresBackend) -> None:
    opened.begin_write()
    opened.execute("CREATE TABLE n (id int)")
    before = opened.rows_changed()
    opened.executemany("INSERT INTO n VALUES (%s)", [(1,), (2,), (3,)])
    opened.execute("UPDATE n SET id = id + 1; DELETE FROM n WHERE id > 3")
    assert opened.rows_changed() - before == 3 + 3 + 1  # ids 2, 3, 4 after the update
    opened.rollback()


# -- statements ------------------------------------------------------------------------------


def test_a_script_is_split_outside_strings_comments_and_dollar_quotes() -> None:
    script = """
        CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
        -- a comment; with a semicolon
        INSERT INTO t VALUES ('a;b', E'it\\'s; ok', "odd;name");
        /* block; /* nested; */ still */ SELECT 2
    """
    statements = pgb.split_statements(script)
    assert len(statements) == 3
    assert statements[0].endswith("LANGUAGE sql")
    assert "'a;b'" in statements[1]
    assert statements[2].endswith("SELECT 2")


def test_an_unterminated_string_is_refused() -> None:
    with pytest.raises(ValueError, match="Unterminated"):
        pgb.split_statements("INSERT INTO t VALUES ('oops)")


@pytest.mark.parametrize(
    "sql",
    [
        "COMMIT",
        "  begin",
        "END",
        "ROLLBACK",
        "start transaction",
        "/* x */ COMMIT",
        "SELECT 1; ABORT",
    ],
)
def test_transaction_control_is_recognised(sql: str) -> None:
    assert pgb.is_transaction_control(sql)


@pytest.mark.parametrize(
    "sql",
    ["SAVEPOINT a", "ROLLBACK TO SAVEPOINT a", "ROLLBACK TO a", "RELEASE a", "SELECT 'COMMIT'"],
)
def test_savepoints_and_strings_are_not_transaction_control(sql: str) -> None:
    assert not pgb.is_transaction_control(sql)


# -- backups through the backend (pg_dump archives of the schema) ------------------------------


def test_a_backup_of_the_schema_holds_its_version_and_fingerprint(
    opened: pgb.PostgresBackend, tmp_path: Path
) -> None:
    import shutil

    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    opened.begin_write()
    for statement in opened.bookkeeping_ddl():
        opened.execute(statement)
    opened.execute("CREATE TABLE kept (id int)")
    opened.execute(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at, duration_ms, "
        "applied_by) VALUES (1, 'kept', 'c', '', 0, 'me')"
    )
    opened.commit()
    target = tmp_path / "backup.dump"
    facts = opened.backup_to(target)
    assert (facts.version, facts.fingerprint) == (1, opened.schema_fingerprint())
    assert opened.describe_backup(target).version == 1
