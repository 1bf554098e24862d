"""The metadata store: auto-migration on open, its API, and its built-in migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine import (
    DatabaseLockedError,
    DeploymentManager,
    MigrationError,
    MigrationManager,
    SchemaMismatchError,
    Store,
)
from engine.store import AlreadyExistsError, NotFoundError, StoreError
from tests.conftest import MigrationFiles
from tests.pg import Target


def test_open_creates_folders_and_migrates_to_latest(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "metadata.db"
    with Store.open(path) as store:
        assert store.migrations.current_version == store.migrations.latest_version >= 4
        assert DeploymentManager(store).status().status == "ready"
    assert path.exists()


def test_open_is_idempotent_and_does_not_write_when_nothing_is_pending(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    Store.open(path).close()
    before = path.read_bytes()
    Store.open(path).close()
    assert path.read_bytes() == before


def test_open_fails_fast_naming_the_version_and_keeps_the_last_good_one(
    backend: Target, tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_ok.py": "def up(tx):\n    tx.execute('CREATE TABLE ok (id INTEGER)')\n",
            "0002_bad.py": "def up(tx):\n    tx.execute('CREATE TABLE ok (id INTEGER)')\n",
        }
    )
    with pytest.raises(MigrationError) as caught:
        Store.open(backend.spec, tmp_path, migrations=folder)
    assert caught.value.version == 2
    assert "0002_bad" in str(caught.value) and "already exists" in str(caught.value)
    assert MigrationManager(backend.spec, folder).current_version == 1


def test_open_migrates_to_latest_on_both_backends(backend: Target, tmp_path: Path) -> None:
    with Store.open(backend.spec, tmp_path) as store:
        assert store.migrations.current_version == store.migrations.latest_version == 5
        assert DeploymentManager(store).status().status == "ready"
    assert backend.tables() == {
        "databases",
        "tables",
        "user_preferences",
        "table_properties",
    }


def test_databases_and_tables(backend: Target, tmp_path: Path) -> None:
    with Store.open(backend.spec, tmp_path) as store:
        store.create_database("sales", description="Sales data")
        with pytest.raises(AlreadyExistsError):
            store.create_database("sales")
        table = store.create_table(
            "sales", "orders", metadata_location="/w/orders/v1.json", properties={"k": "v"}
        )
        assert table.properties == {"k": "v"} and table.table_format == "ICEBERG"
        assert [t.name for t in store.list_tables("sales")] == ["orders"]
        moved = store.update_table_location("sales", "orders", "/w/orders/v2.json")
        assert moved.metadata_location == "/w/orders/v2.json"
        with pytest.raises(StoreError, match="still has 1 table"):
            store.drop_database("sales")
        store.drop_table("sales", "orders")
        with pytest.raises(NotFoundError):
            store.get_table("sales", "orders")
        store.drop_database("sales")
        assert store.list_databases() == []


def test_user_preferences(backend: Target, tmp_path: Path) -> None:
    with Store.open(backend.spec, tmp_path) as store:
        assert store.get_preference("ana", "theme", "light") == "light"
        store.set_preference("ana", "theme", "dark")
        store.set_preference("ana", "page_size", 50)
        store.set_preference("ana", "theme", "solarized")
        assert store.preferences("ana") == {"page_size": 50, "theme": "solarized"}
        store.delete_preference("ana", "page_size")
        assert store.preferences("ana") == {"theme": "solarized"}


def test_store_transaction_rolls_back_everything_on_error(backend: Target, tmp_path: Path) -> None:
    with Store.open(backend.spec, tmp_path) as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.create_database("a")
            store.create_database("b")
            raise RuntimeError("second half failed")
        assert store.list_databases() == []


def _snapshot(backend: Target) -> list[tuple[object, ...]]:
    return backend.query(
        "SELECT d.name, t.name, t.metadata_location, t.table_format, t.properties "
        "FROM tables t JOIN databases d ON d.id = t.database_id ORDER BY t.id"
    )


def test_property_move_round_trips_data_exactly(backend: Target, tmp_path: Path) -> None:
    with Store.open(backend.spec, tmp_path) as store:
        store.create_database("db")
        store.create_table("db", "t1", metadata_location="/a", properties={"b": "2", "a": "x y"})
        store.create_table("db", "t2", metadata_location="/b")
        store.create_table("db", "t3", metadata_location="/c", properties={"q": '"quoted"'})
        store.create_table(
            "db", "t4", metadata_location="/d", properties={"é": "ü\\n", "B": "1", "a": "2"}
        )
        manager = store.migrations
        manager.rollback(3)  # properties back in the JSON column
        first = _snapshot(backend)
        assert first[0][4] == '{"a":"x y","b":"2"}' and first[1][4] == "{}"
        assert first[2][4] == '{"q":"\\"quoted\\""}'
        assert first[3][4] == '{"B":"1","a":"2","é":"ü\\\\n"}'
        manager.migrate_to_latest()
        assert store.get_table("db", "t1").properties == {"a": "x y", "b": "2"}
        assert store.get_table("db", "t3").properties == {"q": '"quoted"'}
        assert store.get_table("db", "t4").properties == {"é": "ü\\n", "B": "1", "a": "2"}
        manager.rollback(3)
        assert _snapshot(backend) == first  # up -> down -> up -> down is exact
        manager.migrate_to_latest()
        assert manager.verify().ok


def test_every_builtin_migration_round_trips_to_zero_and_back(
    backend: Target, tmp_path: Path
) -> None:
    with Store.open(backend.spec, tmp_path) as store:
        store.create_database("db")
        store.create_table("db", "t1", metadata_location="/a", properties={"k": "v"})
        manager = store.migrations
        manager.rollback(0)
        assert manager.current_version == 0 and backend.tables() == set()
        manager.migrate_to_latest()
        assert manager.verify().ok
        assert store.list_databases() == []


def test_the_check_constraints_refuse_blank_names_on_both_backends(
    backend: Target, tmp_path: Path
) -> None:
    with Store.open(backend.spec, tmp_path) as store:
        store.create_database("db")
        db_id = store.get_database("db").id
        for name, location in ((" ", "/a"), ("t", "")):
            with pytest.raises(Exception) as caught, store.transaction():
                store.backend.execute(
                    store.backend.sql(
                        "INSERT INTO tables (database_id, name, metadata_location, created_at, "
                        "updated_at) VALUES (?, ?, ?, 'now', 'now')"
                    ),
                    (db_id, name, location),
                )
            assert store.backend.error_kind(caught.value) == "constraint"  # type: ignore[attr-defined]


def test_ids_come_back_from_the_insert_and_duplicates_are_already_exists(
    backend: Target, tmp_path: Path
) -> None:
    with Store.open(backend.spec, tmp_path) as store:
        store.create_database("db")
        first = store.create_table("db", "t1", metadata_location="/a", properties={"k": "v"})
        second = store.create_table("db", "t2", metadata_location="/b", properties={"k": "w"})
        assert second.id > first.id and store.get_table("db", "t2").properties == {"k": "w"}
        with pytest.raises(AlreadyExistsError, match=r"db\.t1 already exists"):
            store.create_table("db", "t1", metadata_location="/c")
        assert [t.name for t in store.list_tables("db")] == ["t1", "t2"]


def test_a_store_migrated_by_an_earlier_release_still_verifies(
    backend: Target, tmp_path: Path
) -> None:
    """Migrations 0001, 0002, 0004 and 0005 learnt PostgreSQL; databases that recorded their
    earlier checksums (PREVIOUS_CHECKSUMS) are not reported as edited, others still are."""
    with Store.open(backend.spec, tmp_path) as store:
        earlier = {1: "c1a1005e16fd92e3", 2: "c8a0efd23797240d", 4: "7de9315d1271b587"}
        with store.transaction():
            for version, checksum in earlier.items():
                store.backend.execute(
                    store.backend.sql(
                        "UPDATE schema_migrations SET checksum = ?, source_key = NULL "
                        "WHERE version = ?"
                    ),
                    (checksum, version),
                )
        assert store.migrations.verify().ok
        with store.transaction():
            store.backend.execute(
                store.backend.sql("UPDATE schema_migrations SET checksum = ? WHERE version = 5"),
                ("0000000000000000",),
            )
        report = store.migrations.verify()
        assert not report.ok and "0005_tables_check_constraints was edited" in str(report.to_dict())


def test_a_failed_commit_leaves_the_store_usable(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Store.open(path, busy_timeout=0.2) as store:
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM databases").fetchone()  # a shared lock: COMMIT waits
        try:
            with pytest.raises(DatabaseLockedError):
                store.create_database("blocked")
        finally:
            reader.execute("ROLLBACK")
            reader.close()
        store.create_database("after")  # no transaction was left open
        assert [d.name for d in store.list_databases()] == ["after"]


def test_open_refuses_a_database_ahead_of_the_code(
    backend: Target, tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    Store.open(backend.spec, tmp_path).close()
    older = write_migrations({"0001_initial.py": "def up(tx):\n    pass\n"})
    with pytest.raises(SchemaMismatchError, match="ahead of the code"):
        Store.open(backend.spec, tmp_path, migrations=older)
