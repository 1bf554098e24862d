"""A PostgreSQL restore puts privileges and ownership back as the backup holds them: those of the
schema's objects (they are created again from the archive) and those of the schema itself (it is
kept, so its owner and privileges are reset, then the archive's are applied)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.backends.pg_backup import PgBackupManager
from tests.pgservice.test_pg_backup import rows, service_schema, sql


@pytest.fixture
def roles(pg_url: str) -> Iterator[tuple[str, str]]:
    """Two new roles (the server's roles are shared: unique names, dropped afterwards)."""
    names = (f"mm_reader_{secrets.token_hex(3)}", f"mm_owner_{secrets.token_hex(3)}")
    for name in names:
        sql(pg_url, f"CREATE ROLE {name}")
    yield names
    for name in names:
        sql(pg_url, f"DROP OWNED BY {name}", f"DROP ROLE {name}")


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    name = f"s_privileges_{secrets.token_hex(3)}"
    service_schema(pg_url, name)
    yield name
    sql(pg_url, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _table_privileges(url: str, schema: str) -> list[tuple[object, ...]]:
    return rows(
        url,
        "SELECT relname, relowner::regrole::text, coalesce(relacl::text, 'default') "
        f"FROM pg_class WHERE relnamespace = '{schema}'::regnamespace AND relkind IN ('r', 'v') "
        "ORDER BY relname",
    )


def _schema_privileges(url: str, schema: str) -> list[tuple[object, ...]]:
    return rows(
        url,
        "SELECT nspowner::regrole::text, coalesce(array(SELECT a::text FROM "
        "unnest(nspacl) a ORDER BY 1), '{}') FROM pg_namespace "
        f"WHERE nspname = '{schema}'",
    )


def test_grants_and_owners_of_the_schemas_objects_come_back_as_backed_up(
    pg_url: str, schema: str, roles: tuple[str, str], tmp_path: Path
) -> None:
    reader, owner = roles
    sql(pg_url, f"GRANT SELECT ON {schema}.databases TO {reader}")
    before = _table_privileges(pg_url, schema)
    backups = PgBackupManager(pg_url, tmp_path, schema=schema)
    info = backups.take()
    sql(
        pg_url,
        f"REVOKE SELECT ON {schema}.databases FROM {reader}",
        f"GRANT SELECT, INSERT ON {schema}.history TO {reader}",
        f"ALTER TABLE {schema}.history OWNER TO {owner}",
        f"ALTER VIEW {schema}.database_names OWNER TO {owner}",
    )
    assert _table_privileges(pg_url, schema) != before
    backups.restore(info)
    assert _table_privileges(pg_url, schema) == before


def test_the_schemas_own_owner_and_privileges_come_back_as_backed_up(
    pg_url: str, schema: str, roles: tuple[str, str], tmp_path: Path
) -> None:
    reader, owner = roles
    sql(pg_url, f"GRANT USAGE ON SCHEMA {schema} TO {reader}")
    before = _schema_privileges(pg_url, schema)
    backups = PgBackupManager(pg_url, tmp_path, schema=schema)
    info = backups.take()
    sql(
        pg_url,
        f"ALTER SCHEMA {schema} OWNER TO {owner}",
        f"REVOKE USAGE ON SCHEMA {schema} FROM {reader}",
        f"GRANT CREATE ON SCHEMA {schema} TO PUBLIC",
    )
    assert _schema_privileges(pg_url, schema) != before
    backups.restore(info)
    assert _schema_privileges(pg_url, schema) == before


def test_public_gets_back_the_privileges_it_starts_with(
    pg_url: str, roles: tuple[str, str], tmp_path: Path
) -> None:
    """public starts with USAGE for everyone (pg_init_privs): a REVOKE since is undone."""
    reader, _owner = roles
    service_schema(pg_url, "public")
    try:
        before = _schema_privileges(pg_url, "public")
        backups = PgBackupManager(pg_url, tmp_path)
        info = backups.take()
        sql(
            pg_url,
            "REVOKE USAGE ON SCHEMA public FROM PUBLIC",
            f"GRANT CREATE ON SCHEMA public TO {reader}",
        )
        backups.restore(info)
        assert _schema_privileges(pg_url, "public") == before
    finally:
        sql(
            pg_url,
            "GRANT USAGE ON SCHEMA public TO PUBLIC",
            "DROP TABLE IF EXISTS public.databases, public.schema_migrations, "
            "public.history CASCADE",
            "DROP VIEW IF EXISTS public.database_names",
            "DROP TYPE IF EXISTS public.format",
        )
