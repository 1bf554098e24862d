"""Fixtures for the metadata service: a real store file and a real PyIceberg catalog in tmp_path.

``snapshot`` reads both halves straight from their SQLite files and the warehouse folder, not
through the code under test, so "both halves unchanged" means exactly that.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.metadata import CATALOG_FILE, WAREHOUSE_DIR, MetadataManager


@dataclass(frozen=True)
class Snapshot:
    store_databases: list[str]
    store_tables: list[tuple[str, str, str]]
    namespaces: list[str]
    catalog_tables: list[tuple[str, str, str]]
    files: list[str]


def read_rows(path: Path, sql: str) -> list[tuple[str, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [tuple(row) for row in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def snapshot(base: Path, db_path: Path) -> Snapshot:
    warehouse = base / WAREHOUSE_DIR
    return Snapshot(
        store_databases=[r[0] for r in read_rows(db_path, "SELECT name FROM databases ORDER BY 1")],
        store_tables=read_rows(  # type: ignore[arg-type]
            db_path,
            "SELECT d.name, t.name, t.metadata_location FROM tables t "
            "JOIN databases d ON d.id = t.database_id ORDER BY 1, 2",
        ),
        namespaces=[
            r[0]
            for r in read_rows(
                base / CATALOG_FILE,
                "SELECT DISTINCT namespace FROM iceberg_namespace_properties ORDER BY 1",
            )
        ],
        catalog_tables=read_rows(  # type: ignore[arg-type]
            base / CATALOG_FILE,
            "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables "
            "ORDER BY 1, 2",
        ),
        files=sorted(str(p.relative_to(warehouse)) for p in warehouse.rglob("*")),
    )


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service opened once (store migrated, catalog tables created): copied, it saves each test
    the ~0.1 s of migrating and initialising."""
    folder = tmp_path_factory.mktemp("template") / "service"
    MetadataManager.open(folder / "metadata.db", folder).close()
    return folder


@pytest.fixture
def base(tmp_path: Path, template: Path) -> Path:
    """The service's base path, holding a migrated store and an empty catalog."""
    folder = tmp_path / "service"
    shutil.copytree(template, folder)
    return folder


@pytest.fixture
def store_db(base: Path) -> Path:
    return base / "metadata.db"


@pytest.fixture
def meta(store_db: Path, base: Path) -> Iterator[MetadataManager]:
    manager = MetadataManager.open(store_db, base)
    try:
        yield manager
    finally:
        manager.close()


@pytest.fixture
def state(base: Path, store_db: Path) -> Callable[[], Snapshot]:
    return lambda: snapshot(base, store_db)


def orders_schema():  # type: ignore[no-untyped-def]
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField, StringType

    return Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "region", StringType(), required=False),
    )


def orders_rows():  # type: ignore[no-untyped-def]
    """Two rows that fit ``orders_schema`` (a pyarrow table)."""
    import pyarrow as pa

    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), ("region", pa.string())])
    return pa.table({"id": [1, 2], "region": ["eu", "us"]}, schema=schema)
