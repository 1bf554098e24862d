"""MetadataManager: databases and Iceberg tables created, listed, loaded and dropped in both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.errors import MigrationError
from engine.metadata import MetadataManager
from engine.store import AlreadyExistsError, NotFoundError, StoreError
from tests.conftest import MigrationFiles
from tests.metadata.conftest import Snapshot, orders_rows, orders_schema


def test_open_creates_the_store_catalog_file_and_warehouse_under_the_base_path(
    tmp_path: Path,
) -> None:
    base = tmp_path / "fresh"
    with MetadataManager.open(base / "metadata.db", base) as meta:
        assert (base / "iceberg_catalog.db").is_file()
        assert (base / "warehouse").is_dir()
        assert meta.base_path == base
        assert meta.store.migrations.current_version == meta.store.migrations.latest_version


def test_open_fails_fast_on_a_failing_migration_before_opening_the_catalog(
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    broken = write_migrations(
        {"0001_broken.py": '"""Broken."""\n\ndef up(tx):\n    raise RuntimeError("boom")\n'}
    )
    base = tmp_path / "broken"
    with pytest.raises(MigrationError, match="boom"):
        MetadataManager.open(base / "metadata.db", base, migrations=broken)
    assert not (base / "iceberg_catalog.db").exists()


def test_a_database_and_table_survive_a_reopen_and_can_be_listed_and_loaded(
    store_db: Path, base: Path
) -> None:
    with MetadataManager.open(store_db, base) as meta:
        database = meta.create_database("sales", description="Sales data")
        table = meta.create_table("sales", "orders", orders_schema(), properties={"owner": "ops"})
    assert database.location == f"file://{base.absolute()}/warehouse/sales"
    assert table.metadata_location.startswith(f"file://{base.absolute()}/warehouse/sales/orders/")

    with MetadataManager.open(store_db, base) as meta:
        assert [d.name for d in meta.list_databases()] == ["sales"]
        assert [(t.name, t.table_format) for t in meta.list_tables("sales")] == [
            ("orders", "ICEBERG")
        ]
        loaded = meta.load_table("sales", "orders")
        assert loaded.metadata_location == table.metadata_location
        assert [f.name for f in loaded.schema().fields] == ["id", "region"]
        assert loaded.properties["owner"] == "ops"
        assert meta.get_table("sales", "orders").properties == {"owner": "ops"}
        assert meta.check().passed


def test_a_pyarrow_schema_works_too(meta: MetadataManager) -> None:
    import pyarrow as pa

    meta.create_database("sales")
    meta.create_table("sales", "events", pa.schema([("id", pa.int64()), ("kind", pa.string())]))
    assert [f.name for f in meta.load_table("sales", "events").schema().fields] == ["id", "kind"]


def test_drop_table_and_database_remove_both_halves(
    meta: MetadataManager, state: Callable[[], Snapshot]
) -> None:
    empty = state()
    meta.create_database("sales")
    meta.create_table("sales", "orders", orders_schema())
    meta.drop_table("sales", "orders")
    after_drop = state()
    assert after_drop.store_tables == [] and after_drop.catalog_tables == []
    assert any(f.endswith(".metadata.json") for f in after_drop.files)  # no purge: files stay
    meta.drop_database("sales")
    assert state().store_databases == [] and state().namespaces == []
    assert empty.store_databases == []
    with pytest.raises(NotFoundError):
        meta.load_table("sales", "orders")


def test_drop_table_with_purge_deletes_data_and_metadata_files(
    meta: MetadataManager, state: Callable[[], Snapshot]
) -> None:
    before = state()
    meta.create_database("sales")
    meta.create_table("sales", "orders", orders_schema())
    meta.load_table("sales", "orders").append(orders_rows())
    assert any(f.endswith(".parquet") for f in state().files)
    meta.drop_table("sales", "orders", purge=True)
    meta.drop_database("sales")
    assert state() == before


def test_drop_database_refuses_while_it_has_tables(
    meta: MetadataManager, state: Callable[[], Snapshot]
) -> None:
    meta.create_database("sales")
    meta.create_table("sales", "orders", orders_schema())
    before = state()
    with pytest.raises(StoreError, match="still has 1 table"):
        meta.drop_database("sales")
    assert state() == before


def test_names_that_cannot_be_iceberg_identifiers_are_refused(meta: MetadataManager) -> None:
    with pytest.raises(StoreError, match="not allowed"):
        meta.create_database("a.b")
    meta.create_database("sales")
    with pytest.raises(StoreError, match="not allowed"):
        meta.create_table("sales", "../escape", orders_schema())


def test_a_duplicate_database_is_refused_in_either_half(meta: MetadataManager) -> None:
    meta.create_database("sales")
    with pytest.raises(AlreadyExistsError):
        meta.create_database("sales")


def test_operations_refuse_to_run_inside_an_open_store_transaction(
    meta: MetadataManager, state: Callable[[], Snapshot]
) -> None:
    before = state()
    with (
        pytest.raises(StoreError, match="inside an open store transaction"),
        meta.store.transaction(),
    ):
        meta.create_database("sales")
    assert state() == before


def test_commits_to_a_loaded_table_move_the_store_location_with_the_catalog(
    meta: MetadataManager,
) -> None:
    meta.create_database("sales")
    created = meta.create_table("sales", "orders", orders_schema()).metadata_location
    table = meta.load_table("sales", "orders")
    table.append(orders_rows())
    appended = meta.get_table("sales", "orders").metadata_location
    assert appended != created
    assert appended == meta.load_table("sales", "orders").metadata_location
    assert meta.load_table("sales", "orders").scan().to_arrow().num_rows == 2
    assert meta.check().passed
