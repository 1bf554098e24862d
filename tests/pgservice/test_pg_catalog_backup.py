"""A store's backups on PostgreSQL hold its Iceberg catalog too (schema ``<schema>_iceberg``), so a
restore puts the store and its catalog back together."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.backends.pg_backup import PgBackupManager
from tests.pgservice.test_pg_backup import rows, service_schema, sql


@pytest.fixture
def schema(pg_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "c_" + re.sub(r"\W", "_", request.node.name)[:40]
    service_schema(pg_url, name)
    yield name
    sql(
        pg_url,
        f'DROP SCHEMA IF EXISTS "{name}" CASCADE',
        f'DROP SCHEMA IF EXISTS "{name}_iceberg" CASCADE',
    )


def catalog(url: str, schema: str) -> None:
    """The catalog's tables as PyIceberg's SqlCatalog makes them, with one table registered."""
    sql(
        url,
        f"CREATE SCHEMA {schema}_iceberg",
        f"CREATE TABLE {schema}_iceberg.iceberg_tables (catalog_name text, table_namespace text, "
        "table_name text, metadata_location text, previous_metadata_location text, "
        "PRIMARY KEY (catalog_name, table_namespace, table_name))",
        f"INSERT INTO {schema}_iceberg.iceberg_tables VALUES ('metamigrate', 'sales', 'orders', "
        "'file:///w/orders/metadata/00001.json', NULL)",
    )


def registered(url: str, schema: str) -> list[tuple[object, ...]]:
    return rows(
        url,
        f"SELECT table_name, metadata_location FROM {schema}_iceberg.iceberg_tables ORDER BY 1",
    )


def test_a_backup_holds_the_catalog_schema_and_a_restore_puts_both_back(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    catalog(pg_url, schema)
    backups = PgBackupManager(pg_url, tmp_path, schema=schema)
    info = backups.take()
    toc = subprocess.run(["pg_restore", "--list", str(info.path)], capture_output=True, text=True)
    assert f"SCHEMA - {schema}_iceberg " in toc.stdout and f"SCHEMA - {schema} " in toc.stdout
    before = registered(pg_url, schema)
    sql(
        pg_url,
        f"UPDATE {schema}_iceberg.iceberg_tables SET metadata_location = 'file:///w/2.json'",
        f"INSERT INTO {schema}_iceberg.iceberg_tables VALUES ('metamigrate', 'sales', 'later', "
        "'file:///w/later.json', NULL)",
        f"CREATE TABLE {schema}_iceberg.created_since (id int)",
        f"DELETE FROM {schema}.databases",
    )
    assert backups.describe(info.path).version == 3
    backups.restore(info)
    assert registered(pg_url, schema) == before
    assert rows(pg_url, f"SELECT to_regclass('{schema}_iceberg.created_since')") == [(None,)]
    assert rows(pg_url, f"SELECT count(*) FROM {schema}.databases") == [(2,)]


def test_a_catalog_schema_that_was_dropped_is_created_again(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    catalog(pg_url, schema)
    backups = PgBackupManager(pg_url, tmp_path, schema=schema)
    info = backups.take()
    before = registered(pg_url, schema)
    sql(pg_url, f"DROP SCHEMA {schema}_iceberg CASCADE")
    backups.restore(info)
    assert registered(pg_url, schema) == before


def test_an_archive_without_a_catalog_leaves_the_catalog_schema_as_it_is(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    """A backup taken before the store had a catalog: the catalog made since is not touched."""
    backups = PgBackupManager(pg_url, tmp_path, schema=schema)
    info = backups.take()
    catalog(pg_url, schema)
    before = registered(pg_url, schema)
    sql(pg_url, f"CREATE TABLE {schema}.created_since (id int)")
    backups.restore(info)
    assert registered(pg_url, schema) == before
    assert rows(pg_url, f"SELECT to_regclass('{schema}.created_since')") == [(None,)]
