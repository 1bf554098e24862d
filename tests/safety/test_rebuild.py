"""Tx.rebuild_table (SQLite's 12-step procedure) and the store migration 0005 that uses it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine import MigrationError, MigrationManager, Registry, Store
from engine import sqlite as sq
from engine.tx import Tx
from tests.safety.helpers import files_digest, query, write_files

PARENT_CHILD = '''
    """Parents and children, with an index, a trigger and a view."""


    def up(tx):
        tx.script("""
            CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT, size TEXT);
            CREATE TABLE child (
                id INTEGER PRIMARY KEY,
                parent_id INTEGER NOT NULL REFERENCES parent (id) ON DELETE CASCADE
            );
            CREATE INDEX idx_parent_name ON parent (name);
            CREATE TABLE audit (what TEXT);
            CREATE TRIGGER parent_audit AFTER INSERT ON parent
                BEGIN INSERT INTO audit VALUES ('parent ' || new.name); END;
            CREATE VIEW parent_names AS SELECT name FROM parent;
            CREATE TRIGGER child_audit AFTER INSERT ON child BEGIN
                INSERT INTO audit SELECT 'child of ' || name FROM parent WHERE id = new.parent_id;
            END;
            INSERT INTO parent (id, name, size) VALUES (1, 'a', '10'), (2, NULL, '20');
            INSERT INTO child (parent_id) VALUES (1), (1), (2);
        """)


    def down(tx):
        tx.script("DROP VIEW parent_names; DROP TABLE child; DROP TABLE audit; DROP TABLE parent;")
    '''

REBUILD_PARENT = '''
    """name becomes NOT NULL with a default, size becomes an INTEGER."""

    DISABLE_FOREIGN_KEYS = True


    def up(tx):
        tx.rebuild_table(
            "parent",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', "
            "size INTEGER NOT NULL)",
            {"name": "coalesce(name, '')", "size": "CAST(size AS INTEGER)"},
        )


    def down(tx):
        tx.rebuild_table(
            "parent",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT, size TEXT)",
            {"name": "nullif(name, '')", "size": "CAST(size AS TEXT)"},
        )
    '''


def parent_child(tmp_path: Path, second: str) -> MigrationManager:
    folder = write_files(
        tmp_path / "migrations", {"0001_parent_child.py": PARENT_CHILD, "0002_rebuild.py": second}
    )
    return MigrationManager(tmp_path / "pc.db", Registry.from_directory(folder), backup=False)


def with_foreign_keys_on(manager: MigrationManager) -> tuple[MigrationManager, sqlite3.Connection]:
    conn = sq.connect(manager.db_path)
    conn.execute("PRAGMA foreign_keys = ON")
    return MigrationManager(conn, manager.registry, backup=False), conn


def test_rebuild_changes_the_table_and_keeps_rows_children_indexes_triggers_and_views(
    tmp_path: Path,
) -> None:
    manager, conn = with_foreign_keys_on(parent_child(tmp_path, REBUILD_PARENT))
    try:
        manager.migrate_to_latest()
        assert query(manager.db_path, "SELECT id, name, size FROM parent ORDER BY id") == [
            (1, "a", 10),
            (2, "", 20),
        ]
        assert query(manager.db_path, "SELECT count(*) FROM child") == [(3,)]  # not cascaded
        names = {r[0] for r in query(manager.db_path, "SELECT name FROM sqlite_master")}
        assert {"idx_parent_name", "parent_audit", "child_audit", "parent_names"} <= names
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # back on
        conn.execute("INSERT INTO parent (name, size) VALUES ('c', 3)")
        conn.execute("INSERT INTO child (parent_id) VALUES (3)")
        assert ("child of c",) in conn.execute("SELECT what FROM audit").fetchall()
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO parent (name, size) VALUES (NULL, 1)")
        assert manager.verify().ok
        manager.rollback(1)
        assert query(manager.db_path, "SELECT id, name, size FROM parent WHERE id < 3") == [
            (1, "a", "10"),
            (2, None, "20"),
        ]
        assert manager.verify().ok
    finally:
        conn.close()


def test_rebuild_without_declaring_foreign_keys_off_fails_and_changes_nothing(
    tmp_path: Path,
) -> None:
    undeclared = REBUILD_PARENT.replace("DISABLE_FOREIGN_KEYS = True", "")
    manager, conn = with_foreign_keys_on(parent_child(tmp_path, undeclared))
    try:
        manager.migrate_to(1)
        before = files_digest(manager.db_path)
        with pytest.raises(MigrationError, match="DISABLE_FOREIGN_KEYS"):
            manager.migrate_to_latest()
        assert manager.current_version == 1
        history = manager.history(1)[0]
        assert not history.success
        assert query(manager.db_path, "SELECT count(*) FROM child") == [(3,)]
        del before
    finally:
        conn.close()


def test_a_rebuild_that_breaks_foreign_keys_is_rolled_back(tmp_path: Path) -> None:
    renumber = REBUILD_PARENT.replace(
        '{"name": "coalesce(name, \'\')", "size": "CAST(size AS INTEGER)"}',
        '{"id": "id + 100", "name": "coalesce(name, \'\')", "size": "CAST(size AS INTEGER)"}',
    )
    manager, conn = with_foreign_keys_on(parent_child(tmp_path, renumber))
    try:
        manager.migrate_to(1)
        with pytest.raises(MigrationError, match="foreign key"):
            manager.migrate_to_latest()
        assert manager.current_version == 1
        assert query(manager.db_path, "SELECT id FROM parent ORDER BY id") == [(1,), (2,)]
        assert manager.verify().ok
    finally:
        conn.close()


def test_the_decorator_form_declares_foreign_keys_off(tmp_path: Path) -> None:
    registry = Registry()

    @registry.migration(1, "create")
    def create(tx: Tx) -> None:
        tx.script(
            "CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT);"
            "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p ON DELETE CASCADE);"
            "INSERT INTO p VALUES (1, 'x'); INSERT INTO c VALUES (1, 1);"
        )

    @registry.migration(2, "rebuild", disable_foreign_keys=True)
    def rebuild(tx: Tx) -> None:
        tx.rebuild_table("p", "CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")

    conn = sq.connect(tmp_path / "d.db")
    conn.execute("PRAGMA foreign_keys = ON")
    try:
        MigrationManager(conn, registry, backup=False).migrate_to_latest()
        assert conn.execute("SELECT count(*) FROM c").fetchone()[0] == 1
    finally:
        conn.close()


def test_rebuild_refuses_a_create_statement_for_another_table(tmp_path: Path) -> None:
    conn = sq.connect(tmp_path / "x.db")
    try:
        conn.execute("CREATE TABLE t (a)")
        conn.execute("BEGIN")
        with pytest.raises(MigrationError, match="same table name"):
            Tx(conn).rebuild_table("t", "CREATE TABLE other (a)")
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def _dump(conn: sqlite3.Connection) -> tuple[object, ...]:
    return (
        conn.execute("SELECT * FROM tables ORDER BY id").fetchall(),
        conn.execute("SELECT * FROM table_properties ORDER BY 1, 2").fetchall(),
        conn.execute("SELECT * FROM databases ORDER BY id").fetchall(),
        sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")),
    )


def test_store_migration_0005_round_trips_data_up_down_up(tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.db") as store:
        store.create_database("sales")
        for n in range(20):
            store.create_table(
                "sales", f"t{n}", metadata_location=f"s3://b/t{n}", properties={"n": str(n)}
            )
        manager = store.migrations
        at_5 = _dump(store.connection)
        manager.rollback(4)
        at_4 = _dump(store.connection)
        assert at_4 == at_5  # same rows, children and indexes; only the constraints differ
        store.connection.execute(
            "INSERT INTO tables (database_id, name, metadata_location, created_at, updated_at) "
            "VALUES (1, 'blank', '', 'now', 'now')"
        )
        store.connection.execute("DELETE FROM tables WHERE name = 'blank'")
        manager.migrate_to_latest()
        assert _dump(store.connection) == at_5
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            store.connection.execute(
                "INSERT INTO tables (database_id, name, metadata_location, created_at, "
                "updated_at) VALUES (1, ' ', 's3://x', 'now', 'now')"
            )
        assert manager.verify().ok


def test_store_migration_0005_fails_cleanly_on_rows_that_break_its_rules(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    MigrationManager(db).migrate_to(4)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO databases (id, name, created_at) VALUES (1, 'd', 'now')")
    conn.execute(
        "INSERT INTO tables (database_id, name, metadata_location, created_at, updated_at) "
        "VALUES (1, 'empty location', '', 'now', 'now')"
    )
    conn.commit()
    conn.close()
    manager = MigrationManager(db)
    with pytest.raises(MigrationError, match="0005_tables_check_constraints") as caught:
        manager.migrate_to_latest()
    assert "CHECK constraint failed" in caught.value.message
    assert manager.current_version == 4
    assert query(db, "SELECT count(*) FROM tables") == [(1,)]
