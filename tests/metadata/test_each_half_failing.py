"""Each half of every operation fails for real, and both halves are left exactly as they were.

Failures come from real conditions: a row or namespace that already exists, a namespace or table
removed behind the service's back, a warehouse folder that cannot be created, a SQLite trigger that
aborts the store's write, a reader whose lock makes the store's COMMIT time out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.errors import DatabaseError, DatabaseLockedError
from engine.metadata import CatalogError, MetadataManager
from engine.store import AlreadyExistsError, NotFoundError, StoreError
from tests.metadata.conftest import Snapshot, orders_schema

State = Callable[[], Snapshot]


def abort_store_writes(meta: MetadataManager, when: str) -> None:
    """A TEMP trigger on the store's own connection: the store's next INSERT/DELETE on tables fails.

    TEMP triggers live outside the store file, so the schema fingerprint is untouched.
    """
    meta.store.connection.execute(
        f"CREATE TEMP TRIGGER refuse BEFORE {when} ON main.tables "
        "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
    )


@pytest.fixture
def slow_meta(store_db: Path, base: Path) -> Iterator[MetadataManager]:
    """A manager that gives up on a lock after 0.1 s."""
    manager = MetadataManager.open(store_db, base, busy_timeout=0.1)
    yield manager
    manager.close()


@pytest.fixture
def reader(store_db: Path) -> Iterator[Callable[[], None]]:
    """Call it to hold a read transaction on the store: the store's next COMMIT cannot finish."""
    conn = sqlite3.connect(store_db, isolation_level=None)

    def hold() -> None:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM databases").fetchone()

    yield hold
    conn.close()


@pytest.fixture
def catalog_writer(base: Path) -> Iterator[Callable[[], None]]:
    """Call it to hold the catalog file's write lock from another connection."""
    conn = sqlite3.connect(base / "iceberg_catalog.db", isolation_level=None)

    def hold() -> None:
        conn.execute("BEGIN IMMEDIATE")

    yield hold
    conn.close()


# -- create database --------------------------------------------------------------------------


def test_create_database_store_half_fails_on_an_existing_row_and_the_catalog_is_untouched(
    meta: MetadataManager, state: State
) -> None:
    meta.store.create_database("sales")  # store row only
    before = state()
    with pytest.raises(AlreadyExistsError, match="already exists"):
        meta.create_database("sales")
    assert state() == before
    assert before.namespaces == []


def test_create_database_catalog_half_fails_on_an_existing_namespace_and_the_row_is_rolled_back(
    meta: MetadataManager, state: State
) -> None:
    meta.catalog.create_namespace("sales")  # behind the service's back
    before = state()
    with pytest.raises(CatalogError, match="already has a namespace 'sales'"):
        meta.create_database("sales")
    assert state() == before
    assert before.store_databases == []


def test_create_database_catalog_half_fails_on_a_locked_catalog_and_the_row_is_rolled_back(
    slow_meta: MetadataManager, state: State, catalog_writer: Callable[[], None]
) -> None:
    before = state()
    catalog_writer()
    with pytest.raises(CatalogError, match="database is locked"):
        slow_meta.create_database("sales")
    assert state() == before


def test_create_database_removes_the_new_namespace_when_the_store_cannot_commit(
    slow_meta: MetadataManager, state: State, reader: Callable[[], None]
) -> None:
    before = state()
    reader()
    with pytest.raises(DatabaseLockedError):
        slow_meta.create_database("sales")
    assert state() == before
    assert not slow_meta.store.connection.in_transaction


# -- create table -----------------------------------------------------------------------------


def test_create_table_store_half_fails_on_an_existing_row_and_no_iceberg_table_is_made(
    meta: MetadataManager, state: State
) -> None:
    meta.create_database("sales")
    meta.store.create_table("sales", "orders", metadata_location="file:///elsewhere.json")
    before = state()
    with pytest.raises(AlreadyExistsError):
        meta.create_table("sales", "orders", orders_schema())
    assert state() == before


def test_create_table_store_half_fails_on_a_missing_database_and_no_iceberg_table_is_made(
    meta: MetadataManager, state: State
) -> None:
    before = state()
    with pytest.raises(NotFoundError, match="Database 'sales' does not exist"):
        meta.create_table("sales", "orders", orders_schema())
    assert state() == before


def test_create_table_drops_the_new_iceberg_table_when_the_store_insert_fails(
    meta: MetadataManager, state: State
) -> None:
    meta.create_database("sales")
    before = state()
    abort_store_writes(meta, "INSERT")
    with pytest.raises(StoreError):
        meta.create_table("sales", "orders", orders_schema())
    assert state() == before  # catalog row gone, metadata file and its folders deleted


def test_create_table_drops_the_new_iceberg_table_when_the_store_cannot_commit(
    slow_meta: MetadataManager, state: State, reader: Callable[[], None]
) -> None:
    slow_meta.create_database("sales")
    before = state()
    reader()
    with pytest.raises(DatabaseLockedError):
        slow_meta.create_table("sales", "orders", orders_schema())
    assert state() == before


def test_create_table_catalog_half_fails_without_a_namespace_and_the_store_is_unchanged(
    meta: MetadataManager, state: State
) -> None:
    meta.create_database("sales")
    meta.catalog.drop_namespace("sales")  # behind the service's back
    before = state()
    with pytest.raises(CatalogError, match="no namespace 'sales'"):
        meta.create_table("sales", "orders", orders_schema())
    assert state() == before


def test_create_table_catalog_half_fails_on_an_existing_iceberg_table_and_nothing_changes(
    meta: MetadataManager, state: State
) -> None:
    meta.create_database("sales")
    meta.catalog.create_table("sales", "orders", orders_schema())  # behind the service's back
    before = state()
    with pytest.raises(AlreadyExistsError, match=r"already has a table sales\.orders"):
        meta.create_table("sales", "orders", orders_schema())
    assert state() == before  # not even an orphan metadata file


def test_create_table_catalog_half_fails_on_a_locked_catalog_and_leaves_no_orphan_file(
    slow_meta: MetadataManager, state: State, catalog_writer: Callable[[], None]
) -> None:
    slow_meta.create_database("sales")
    before = state()
    catalog_writer()
    with pytest.raises(CatalogError, match="database is locked"):
        slow_meta.create_table("sales", "orders", orders_schema())
    assert state() == before  # PyIceberg wrote a metadata file before failing: it is gone


def test_create_table_catalog_half_fails_when_the_warehouse_cannot_be_written(
    meta: MetadataManager, state: State, base: Path
) -> None:
    meta.create_database("sales")
    (base / "warehouse" / "sales").write_text("a file where the namespace folder should be")
    before = state()
    with pytest.raises(CatalogError, match=r"Could not create the Iceberg table sales\.orders"):
        meta.create_table("sales", "orders", orders_schema())
    assert state() == before


# -- drop table -------------------------------------------------------------------------------


def test_drop_table_store_half_fails_and_the_iceberg_table_stays(
    meta: MetadataManager, state: State
) -> None:
    meta.create_database("sales")
    meta.create_table("sales", "orders", orders_schema())
    before = state()
    abort_store_writes(meta, "DELETE")
    with pytest.raises(DatabaseError, match="refused by test trigger"):
        meta.drop_table("sales", "orders", purge=True)
    assert state() == before


def test_drop_table_catalog_half_fails_and_the_store_row_is_rolled_back(
    meta: MetadataManager, state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta.create_database("sales")
    meta.create_table("sales", "orders", orders_schema())
    before = state()

    def catalog_refuses(namespace: str, name: str) -> None:  # injected at the seam
        raise CatalogError(f"Could not drop the Iceberg table {namespace}.{name}: refused.")

    monkeypatch.setattr(meta.catalog, "drop_table", catalog_refuses)
    with pytest.raises(CatalogError, match="refused"):
        meta.drop_table("sales", "orders")
    assert state() == before


def test_drop_table_registers_the_iceberg_table_again_when_the_store_cannot_commit(
    slow_meta: MetadataManager, state: State, reader: Callable[[], None]
) -> None:
    slow_meta.create_database("sales")
    slow_meta.create_table("sales", "orders", orders_schema())
    before = state()
    reader()
    with pytest.raises(DatabaseLockedError):
        slow_meta.drop_table("sales", "orders", purge=True)
    assert state() == before
    assert slow_meta.load_table("sales", "orders").metadata_location == before.store_tables[0][2]


def test_drop_table_refuses_a_table_missing_from_the_catalog_unless_forced(
    meta: MetadataManager, state: State
) -> None:
    meta.create_database("sales")
    meta.create_table("sales", "orders", orders_schema())
    meta.catalog.drop_table("sales", "orders")  # behind the service's back
    before = state()
    with pytest.raises(CatalogError, match=r"no table sales\.orders"):
        meta.drop_table("sales", "orders")
    assert state() == before
    meta.drop_table("sales", "orders", force=True)
    assert state().store_tables == []
    assert meta.check().passed


# -- drop database ----------------------------------------------------------------------------


def test_drop_database_catalog_half_fails_on_a_non_empty_namespace_and_the_row_stays(
    meta: MetadataManager, state: State
) -> None:
    meta.create_database("sales")
    meta.catalog.create_table("sales", "stray", orders_schema())  # behind the service's back
    before = state()
    with pytest.raises(CatalogError, match="still has tables"):
        meta.drop_database("sales")
    assert state() == before


def test_drop_database_puts_the_namespace_back_when_the_store_cannot_commit(
    slow_meta: MetadataManager, state: State, reader: Callable[[], None]
) -> None:
    slow_meta.create_database("sales")
    before = state()
    reader()
    with pytest.raises(DatabaseLockedError):
        slow_meta.drop_database("sales")
    assert state() == before


# -- commits to a loaded table ----------------------------------------------------------------


def test_a_table_commit_is_undone_in_the_catalog_when_the_store_update_fails(
    meta: MetadataManager, state: State
) -> None:
    from pyiceberg.types import StringType

    meta.create_database("sales")
    meta.create_table("sales", "orders", orders_schema())
    table = meta.load_table("sales", "orders")
    before = state()
    abort_store_writes(meta, "UPDATE")
    with (
        pytest.raises(DatabaseError, match="refused by test trigger"),
        table.update_schema() as change,
    ):
        change.add_column("note", StringType())
    assert state() == before  # catalog points at the old metadata; the new file is deleted
    assert meta.check().passed


# -- two services at once ---------------------------------------------------------------------


def test_two_services_creating_the_same_table_at_once_leave_exactly_one(
    meta: MetadataManager, store_db: Path, base: Path, state: State
) -> None:
    import threading

    meta.create_database("sales")
    others = [MetadataManager.open(store_db, base) for _ in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(others))

    def create(manager: MetadataManager) -> None:
        start.wait()
        try:
            manager.create_table("sales", "orders", orders_schema())
        except AlreadyExistsError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(m,)) for m in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for manager in others:
        manager.close()
    assert len(errors) == 1
    after = state()
    assert [t[:2] for t in after.store_tables] == [("sales", "orders")]
    assert after.store_tables == after.catalog_tables
    assert sum(f.endswith(".metadata.json") for f in after.files) == 1
    assert meta.check().passed
