"""PostgreSQL backups: pg_dump archives, verified, listed, pruned, restored in one transaction."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.backends.pg_backup import OtherSessionsError, PgBackupManager
from engine.errors import BackupError

psycopg = pytest.importorskip("psycopg")


def sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def dump_text(url: str, schema: str) -> str:
    """The schema and its data as pg_dump prints them, minus the per-run lines."""
    out = subprocess.run(
        ["pg_dump", f"--schema={schema}", f"--dbname={url}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "\n".join(
        line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def service_schema(url: str, schema: str, versions: int = 3) -> None:
    s = q(schema)
    sql(
        url,
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE TABLE {s}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL)",
        f"INSERT INTO {s}.schema_migrations SELECT g, 'step ' || g FROM generate_series(1, "
        f"{versions}) g",
        f"CREATE TABLE {s}.databases (id serial PRIMARY KEY, name text UNIQUE NOT NULL, "
        "properties jsonb)",
        f"INSERT INTO {s}.databases (name, properties) VALUES ('sales', '{{\"owner\": \"ops\"}}'),"
        " ('hr', NULL)",
        f"CREATE VIEW {s}.database_names AS SELECT name FROM {s}.databases",
        f"CREATE TYPE {s}.format AS ENUM ('iceberg', 'parquet')",
        f"COMMENT ON TABLE {s}.databases IS 'every database of the service'",
    )


@pytest.fixture
def schema(pg_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "s_" + re.sub(r"\W", "_", request.node.name)[:50]
    yield name
    sql(pg_url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def backups(pg_url: str, schema: str, tmp_path: Path) -> PgBackupManager:
    service_schema(pg_url, schema)
    return PgBackupManager(pg_url, tmp_path / "backups", schema=schema)


def test_a_backup_is_a_custom_archive_pg_restore_reads_with_size_and_version_recorded(
    backups: PgBackupManager,
) -> None:
    info = backups.take(reason="before migrate to 4")
    assert info.version == 3 and info.reason == "before migrate to 4"
    assert info.name.endswith("-v0003.dump") and info.size == info.path.stat().st_size > 0
    listing = subprocess.run(
        ["pg_restore", "--list", str(info.path)], capture_output=True, text=True, check=True
    ).stdout
    assert "Format: CUSTOM" in listing and "TABLE DATA" in listing
    sidecar = json.loads(Path(str(info.path) + ".json").read_text())
    assert sidecar["version"] == 3 and sidecar["size"] == info.size
    assert sidecar["source"].endswith(f"schema {backups.schema}")
    assert backups.list_backups() == [info]


def test_restore_puts_the_schema_back_exactly_and_drops_objects_created_since(
    pg_url: str, backups: PgBackupManager, schema: str
) -> None:
    before = dump_text(pg_url, schema)
    info = backups.take()
    s = f'"{schema}"'
    sql(
        pg_url,
        f"INSERT INTO {s}.schema_migrations VALUES (4, 'step 4')",
        f"INSERT INTO {s}.databases (name) VALUES ('new')",
        f"UPDATE {s}.databases SET properties = NULL",
        f"DROP VIEW {s}.database_names",
        f"CREATE TABLE {s}.tables (id bigint PRIMARY KEY)",
        f"CREATE FUNCTION {s}.answer() RETURNS int LANGUAGE sql AS 'SELECT 42'",
        f"CREATE DOMAIN {s}.positive AS int CHECK (VALUE > 0)",
        f"CREATE SEQUENCE {s}.ticket",
        f"CREATE MATERIALIZED VIEW {s}.counts AS SELECT count(*) FROM {s}.databases",
    )
    result = backups.restore(info)
    assert result.version == 3
    assert dump_text(pg_url, schema) == before
    assert result.replaced is not None and result.replaced.version == 4
    assert result.replaced.reason == "before restore"


def test_restore_continues_the_sequences_where_the_backup_left_them(
    pg_url: str, backups: PgBackupManager, schema: str
) -> None:
    info = backups.take()
    sql(pg_url, *[f"INSERT INTO {q(schema)}.databases (name) VALUES ('x{i}')" for i in "ab"])
    backups.restore(info)
    sql(pg_url, f"INSERT INTO \"{schema}\".databases (name) VALUES ('after')")
    assert rows(pg_url, f"SELECT id FROM \"{schema}\".databases WHERE name = 'after'") == [(3,)]


def test_restore_of_a_schema_that_was_dropped_creates_it_again(
    pg_url: str, backups: PgBackupManager, schema: str
) -> None:
    before = dump_text(pg_url, schema)
    info = backups.take()
    sql(pg_url, f'DROP SCHEMA "{schema}" CASCADE')
    result = backups.restore(info)
    assert result.replaced is None
    assert dump_text(pg_url, schema) == before


def test_a_restore_that_fails_part_way_changes_nothing(
    pg_url: str, backups: PgBackupManager, schema: str
) -> None:
    s = f'"{schema}"'
    sql(
        pg_url,
        f'CREATE SCHEMA "{schema}_ext"',
        f'CREATE DOMAIN "{schema}_ext".positive AS int CHECK (VALUE > 0)',
        f'CREATE TABLE {s}.quotas (n "{schema}_ext".positive)',
    )
    info = backups.take()
    # The archive's last table now refers to a type that is gone: its CREATE fails after the
    # schema was cleared and other objects were created again, in the same transaction.
    sql(
        pg_url,
        f'DROP SCHEMA "{schema}_ext" CASCADE',
        f"CREATE TABLE {s}.created_since (id int)",
        f"INSERT INTO {s}.databases (name) VALUES ('kept')",
    )
    current = dump_text(pg_url, schema)
    with pytest.raises(BackupError, match="nothing was changed") as caught:
        backups.restore(info)
    assert f"{schema}_ext" in caught.value.message and "\n" not in caught.value.message
    assert dump_text(pg_url, schema) == current


def test_restore_is_refused_while_other_sessions_are_connected_and_names_them(
    pg_url: str, backups: PgBackupManager, schema: str
) -> None:
    info = backups.take()
    sql(pg_url, f'CREATE TABLE "{schema}".created_since (id int)')
    with psycopg.connect(pg_url, application_name="orders-api") as other:
        pid = other.info.backend_pid
        with pytest.raises(OtherSessionsError) as caught:
            backups.restore(info)
        message = caught.value.message
        assert f"pid {pid}" in message and "orders-api" in message and "--force" in message
        assert [s.pid for s in caught.value.sessions] == [pid]
        assert rows(pg_url, f"SELECT to_regclass('\"{schema}\".created_since')::text") == [
            (f"{schema}.created_since",)
        ]


def test_a_forced_restore_runs_with_other_sessions_connected(
    pg_url: str, backups: PgBackupManager, schema: str
) -> None:
    before = dump_text(pg_url, schema)
    info = backups.take()
    sql(pg_url, f'CREATE TABLE "{schema}".created_since (id int)')
    with psycopg.connect(pg_url, application_name="orders-api", autocommit=True):
        backups.restore(info, force=True)
    assert dump_text(pg_url, schema) == before


def test_a_forced_restore_waits_only_lock_timeout_for_a_session_holding_a_lock(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    service_schema(pg_url, schema)
    backups = PgBackupManager(pg_url, tmp_path, schema=schema, lock_timeout=0.5)
    info = backups.take()
    with psycopg.connect(pg_url) as reader:
        reader.execute(f'SELECT count(*) FROM "{schema}".databases').fetchone()  # holds the lock
        with pytest.raises(BackupError, match="lock timeout") as caught:
            backups.restore(info, force=True)
        assert "nothing was changed" in caught.value.message


def test_restore_refuses_when_objects_of_another_schema_depend_on_it(
    pg_url: str, backups: PgBackupManager, schema: str
) -> None:
    info = backups.take()
    sql(
        pg_url,
        f'CREATE SCHEMA "{schema}_reports"',
        f'CREATE VIEW "{schema}_reports".names AS SELECT name FROM "{schema}".databases',
    )
    try:
        with pytest.raises(BackupError, match="depend on it") as caught:
            backups.restore(info)
        assert f"{schema}_reports.names" in caught.value.message
        assert rows(pg_url, f'SELECT count(*) FROM "{schema}_reports".names') == [(2,)]
    finally:
        sql(pg_url, f'DROP SCHEMA "{schema}_reports" CASCADE')


def test_restore_refuses_a_backup_of_another_schema(
    pg_url: str, backups: PgBackupManager, schema: str, tmp_path: Path
) -> None:
    info = backups.take()
    other = PgBackupManager(pg_url, tmp_path / "backups", schema=f"{schema}_other")
    with pytest.raises(BackupError, match=f"not of schema {schema}_other"):
        other.restore(info.path)


def test_restore_refuses_a_file_that_is_not_an_archive(backups: PgBackupManager) -> None:
    junk = backups.folder / "junk.dump"
    backups.folder.mkdir(parents=True, exist_ok=True)
    junk.write_text("not a dump")
    with pytest.raises(BackupError, match="cannot read it as a pg_dump custom-format archive"):
        backups.restore(junk)


def test_public_keeps_its_owner_and_comment_and_extension_members(
    pg_url: str, tmp_path: Path
) -> None:
    sql(pg_url, "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    try:
        service_schema(pg_url, "public")
        sql(
            pg_url,
            "CREATE INDEX databases_trgm ON public.databases USING gin (name gin_trgm_ops)",
        )
        backups = PgBackupManager(pg_url, tmp_path)
        before = dump_text(pg_url, "public")
        info = backups.take()
        sql(pg_url, "CREATE TABLE public.created_since (id int)")
        backups.restore(info)
        assert dump_text(pg_url, "public") == before
        assert rows(pg_url, "SELECT similarity('sales', 'sale') > 0") == [(True,)]
        assert rows(
            pg_url, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"
        ) == [("pg_database_owner",)]
    finally:
        sql(
            pg_url,
            "DROP EXTENSION IF EXISTS pg_trgm CASCADE",
            "DROP TABLE IF EXISTS public.databases, public.schema_migrations, "
            "public.created_since CASCADE",
            "DROP VIEW IF EXISTS public.database_names",
            "DROP TYPE IF EXISTS public.format",
        )


def test_a_schema_name_with_quotes_spaces_and_wildcards(pg_url: str, tmp_path: Path) -> None:
    name = 'Sales "Ops" *?.x'
    service_schema(pg_url, name)
    try:
        backups = PgBackupManager(pg_url, tmp_path, schema=name)
        before = dump_text(pg_url, q(name))
        info = backups.take()
        assert backups.list_backups() == [info]
        sql(pg_url, f"CREATE TABLE {q(name)}.t (id int)")
        backups.restore(info)
        assert dump_text(pg_url, q(name)) == before
    finally:
        sql(pg_url, f"DROP SCHEMA {q(name)} CASCADE")


def test_retention_keeps_the_newest_n(pg_url: str, schema: str, tmp_path: Path) -> None:
    service_schema(pg_url, schema)
    backups = PgBackupManager(pg_url, tmp_path, schema=schema, keep=2)
    taken = [backups.take() for _ in range(3)]
    assert backups.list_backups() == [taken[2], taken[1]]
    assert not taken[0].path.exists() and not Path(str(taken[0].path) + ".json").exists()


def test_backups_of_other_schemas_in_the_folder_are_not_listed(
    pg_url: str, backups: PgBackupManager, schema: str, tmp_path: Path
) -> None:
    mine = backups.take()
    service_schema(pg_url, f"{schema}_b")
    try:
        PgBackupManager(pg_url, backups.folder, schema=f"{schema}_b").take()
    finally:
        sql(pg_url, f'DROP SCHEMA "{schema}_b" CASCADE')
    assert backups.list_backups() == [mine]


def test_a_missing_pg_dump_is_one_sentence_and_nothing_is_written(
    backups: PgBackupManager, tmp_path: Path
) -> None:
    empty = tmp_path / "no-tools"
    empty.mkdir()
    backups.bin_dir = empty
    with pytest.raises(BackupError) as caught:
        backups.take()
    message = caught.value.message
    assert "pg_dump was not found" in message and "--no-backup" in message
    assert "\n" not in message
    assert not backups.folder.exists()


def test_a_too_old_pg_dump_is_refused_before_anything_runs(
    backups: PgBackupManager, tmp_path: Path
) -> None:
    old = tmp_path / "old-tools"
    old.mkdir()
    for tool in ("pg_dump", "pg_restore", "psql"):
        script = old / tool
        script.write_text(f"#!/bin/sh\necho '{tool} (PostgreSQL) 9.6.24'\n")
        script.chmod(0o755)
    backups.bin_dir = old
    with pytest.raises(BackupError, match=r"pg_dump is version 9 .* the server is PostgreSQL 1\d"):
        backups.take()
    assert not backups.folder.exists()


def test_the_password_is_never_written_anywhere(pg_url: str, schema: str, tmp_path: Path) -> None:
    service_schema(pg_url, schema)
    url = pg_url.replace("postgresql://root@", "postgresql://root:s3cret-pw@")
    backups = PgBackupManager(url, tmp_path, schema=schema)
    info = backups.take()
    texts = [repr(backups), backups.display, json.dumps(info.to_dict())]
    texts.append(Path(str(info.path) + ".json").read_text())
    with pytest.raises(BackupError) as caught:
        PgBackupManager(url, tmp_path, schema=f"{schema}_missing").take()
    texts.append(caught.value.message)
    assert not any("s3cret-pw" in text for text in texts)


def test_a_schema_that_does_not_exist_is_one_sentence(pg_url: str, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="the schema does not exist"):
        PgBackupManager(pg_url, tmp_path, schema="no_such_schema").take()


# -- the functions the PostgreSQL backend's backup capability calls --------------------------------


def test_dump_and_restore_on_the_callers_connection_which_is_not_an_other_session(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    from engine.backends.pg_backup import dump_schema, read_archive, restore_schema

    service_schema(pg_url, schema)
    before = dump_text(pg_url, schema)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        facts = dump_schema(conn, schema, tmp_path / "copy.dump")
        assert facts.version == 3
        assert read_archive(tmp_path / "copy.dump", schema).version == 3
        conn.execute(f"CREATE TABLE {q(schema)}.created_since (id int)")
        kept: list[str] = []
        restored = restore_schema(
            conn, schema, tmp_path / "copy.dump", lambda: kept.append("current kept")
        )
        assert restored.version == 3 and kept == ["current kept"]
        # The caller's connection still works and sees the restored schema.
        assert conn.execute(f"SELECT count(*) FROM {q(schema)}.databases").fetchone() == (2,)
    assert dump_text(pg_url, schema) == before


def test_restore_changes_nothing_when_keeping_the_current_schema_fails(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    from engine.backends.pg_backup import dump_schema, restore_schema

    service_schema(pg_url, schema)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        dump_schema(conn, schema, tmp_path / "copy.dump")
        conn.execute(f"CREATE TABLE {q(schema)}.created_since (id int)")
        current = dump_text(pg_url, schema)

        def keep_current() -> None:
            raise BackupError("the disk is full")

        with pytest.raises(BackupError, match="the disk is full"):
            restore_schema(conn, schema, tmp_path / "copy.dump", keep_current)
    assert dump_text(pg_url, schema) == current
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_backup_inside_an_open_transaction_is_refused(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    from engine.backends.pg_backup import dump_schema

    service_schema(pg_url, schema)
    with psycopg.connect(pg_url) as conn:
        conn.execute("SELECT 1")
        conn.execute(f"CREATE TABLE {q(schema)}.uncommitted (id int)")
        with pytest.raises(BackupError, match="from inside a transaction"):
            dump_schema(conn, schema, tmp_path / "copy.dump")
        # The caller's transaction is untouched: still open, its work still there.
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        conn.commit()
    assert rows(pg_url, f"SELECT to_regclass('{q(schema)}.uncommitted') IS NOT NULL") == [(True,)]
    assert not (tmp_path / "copy.dump").exists()
