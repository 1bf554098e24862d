"""The consistency check: every disagreement between the store and the catalog, inside verify()."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from engine import DeploymentManager, MigrationManager
from engine.metadata import MetadataManager, attach_catalog_check
from engine.store import BUILTIN_MIGRATIONS
from tests.metadata.conftest import orders_schema


def with_orders(meta: MetadataManager) -> str:
    meta.create_database("sales")
    return meta.create_table("sales", "orders", orders_schema()).metadata_location


def test_a_consistent_service_is_ready_with_the_check_passing(meta: MetadataManager) -> None:
    with_orders(meta)
    status = DeploymentManager(meta.store).status()
    assert status.status == "ready", status.problems
    assert status.verification is not None
    check = status.verification.check("iceberg_catalog")
    assert check.passed
    assert check.detail == "1 table(s) and 1 database(s) compared"


def test_a_metadata_file_deleted_behind_the_back_fails_verify_and_the_deployment(
    meta: MetadataManager,
) -> None:
    location = with_orders(meta)
    Path(urlparse(location).path).unlink()

    report = meta.store.migrations.verify()
    assert not report.ok
    [problem] = report.check("iceberg_catalog").problems
    assert problem.startswith("Table sales.orders: its Iceberg metadata file")
    assert "is missing" in problem

    status = DeploymentManager(meta.store).status()
    assert status.status == "error"
    assert not status.schema_valid
    assert problem in status.problems


def test_an_iceberg_table_gone_from_the_catalog_is_reported(meta: MetadataManager) -> None:
    with_orders(meta)
    meta.catalog.drop_table("sales", "orders")
    assert meta.check().problems == [
        "Table sales.orders is in the store but its Iceberg table is gone from the catalog."
    ]


def test_a_metadata_location_that_differs_from_the_catalogs_is_reported(
    meta: MetadataManager,
) -> None:
    location = with_orders(meta)
    meta.store.update_table_location("sales", "orders", "file:///old/v1.metadata.json")
    assert meta.check().problems == [
        "Table sales.orders: the store records metadata location file:///old/v1.metadata.json "
        f"but the Iceberg catalog has {location}."
    ]


def test_catalog_tables_and_namespaces_the_store_does_not_know_are_reported(
    meta: MetadataManager,
) -> None:
    meta.catalog.create_namespace("stray")
    meta.catalog.create_table("stray", "events", orders_schema())
    assert meta.check().problems == [
        "Iceberg namespace 'stray' is not a database the store knows.",
        "Iceberg table stray.events is in the catalog but the store does not know it.",
    ]


def test_a_store_database_without_a_namespace_is_reported(meta: MetadataManager) -> None:
    meta.store.create_database("sales")
    assert meta.check().problems == [
        "Database 'sales' is in the store but the Iceberg catalog has no such namespace."
    ]


def test_tables_of_other_formats_are_not_expected_in_the_iceberg_catalog(
    meta: MetadataManager,
) -> None:
    with_orders(meta)
    meta.store.create_table(
        "sales", "legacy", metadata_location="s3://bucket/legacy", table_format="HIVE"
    )
    assert meta.check().passed


def test_a_catalog_file_that_cannot_be_read_is_a_failed_check_not_a_crash(
    meta: MetadataManager, base: Path
) -> None:
    with_orders(meta)
    meta.catalog.close()
    (base / "iceberg_catalog.db").write_bytes(b"this is not a SQLite file" * 100)
    status = DeploymentManager(meta.store).status()
    assert status.status == "error"
    [problem] = status.problems
    assert problem.startswith("Store and Iceberg catalog agree could not run: Could not list")


def test_without_a_catalog_verify_has_no_catalog_check(store_db: Path, base: Path) -> None:
    with MetadataManager.open(store_db, base, catalog=False) as meta:
        names = [c.name for c in meta.store.migrations.verify().checks]
        assert "iceberg_catalog" not in names
        assert not meta.has_catalog


def test_any_migration_manager_can_carry_the_check_for_a_base_path(
    meta: MetadataManager, store_db: Path, base: Path
) -> None:
    """How the CLI and the console get the check: a plain manager plus the service's base path."""
    location = with_orders(meta)
    manager = MigrationManager(store_db, BUILTIN_MIGRATIONS, read_only=True)
    attach_catalog_check(manager, base)
    assert DeploymentManager(manager).status().status == "ready"
    Path(urlparse(location).path).unlink()
    status = DeploymentManager(manager).status()
    assert status.status == "error"
    assert any("sales.orders" in p for p in status.problems)
