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
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_ok.py": "def up(tx):\n    tx.execute('CREATE TABLE ok (id INTEGER)')\n",
            "0002_bad.py": "def up(tx):\n    tx.execute('CREATE TABLE ok (id INTEGER)')\n",
        }
    )
    path = tmp_path / "metadata.db"
    with pytest.raises(MigrationError) as caught:
        Store.open(path, migrations=folder)
    assert caught.value.version == 2
    assert "0002_bad" in str(caught.value) and "already exists" in str(caught.value)
    assert MigrationManager(path, folder).current_version == 1


def test_databases_and_tables(tmp_path: Path) -> None:
    with Store.open(tmp_path / "m.db") as store:
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


def test_user_preferences(tmp_path: Path) -> None:
    with Store.open(tmp_path / "m.db") as store:
        assert store.get_preference("ana", "theme", "light") == "light"
        store.set_preference("ana", "theme", "dark")
        store.set_preference("ana", "page_size", 50)
        store.set_preference("ana", "theme", "solarized")
        assert store.preferences("ana") == {"page_size": 50, "theme": "solarized"}
        store.delete_preference("ana", "page_size")
        assert store.preferences("ana") == {"theme": "solarized"}


def test_store_transaction_rolls_back_everything_on_error(tmp_path: Path) -> None:
    with Store.open(tmp_path / "m.db") as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.create_database("a")
            store.create_database("b")
            raise RuntimeError("second half failed")
        assert store.list_databases() == []


def _snapshot(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT d.name, t.name, t.metadata_location, t.table_format, t.properties "
            "FROM tables t JOIN databases d ON d.id = t.database_id ORDER BY t.id"
        ).fetchall()
    finally:
        conn.close()


def test_property_move_round_trips_data_exactly(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Store.open(path) as store:
        store.create_database("db")
        store.create_table("db", "t1", metadata_location="/a", properties={"b": "2", "a": "x y"})
        store.create_table("db", "t2", metadata_location="/b")
        store.create_table("db", "t3", metadata_location="/c", properties={"q": '"quoted"'})
        manager = store.migrations
        manager.rollback(3)  # properties back in the JSON column
        first = _snapshot(path)
        assert first[0][4] == '{"a":"x y","b":"2"}' and first[1][4] == "{}"
        manager.migrate_to_latest()
        assert store.get_table("db", "t1").properties == {"a": "x y", "b": "2"}
        assert store.get_table("db", "t3").properties == {"q": '"quoted"'}
        manager.rollback(3)
        assert _snapshot(path) == first  # up -> down -> up -> down is exact
        manager.migrate_to_latest()
        assert manager.verify().ok


def test_every_builtin_migration_round_trips_to_zero_and_back(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Store.open(path) as store:
        manager = store.migrations
        manager.rollback(0)
        assert manager.current_version == 0
        manager.migrate_to_latest()
        assert manager.verify().ok


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
    tmp_path: Path, write_migrations: MigrationFiles
) -> None:
    path = tmp_path / "m.db"
    Store.open(path).close()
    older = write_migrations({"0001_initial.py": "def up(tx):\n    pass\n"})
    with pytest.raises(SchemaMismatchError, match="ahead of the code"):
        Store.open(path, migrations=older)
