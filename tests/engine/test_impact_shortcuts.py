"""The rollback impact rehearses only what the row counts and recorded schemas cannot answer."""

from __future__ import annotations

from pathlib import Path

from engine import MigrationManager, Registry
from tests.conftest import MigrationFiles

ADD_NOTE = """
def up(tx):
    tx.execute("ALTER TABLE items ADD COLUMN note TEXT")


def down(tx):
    tx.execute("ALTER TABLE items DROP COLUMN note")
"""

CREATE_ITEMS = """
def up(tx):
    tx.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")


def down(tx):
    tx.execute("DROP TABLE items")
"""

CREATE_LOGS = """
def up(tx):
    tx.execute("CREATE TABLE logs (id INTEGER PRIMARY KEY, line TEXT)")


def down(tx):
    tx.execute("DROP TABLE logs")
"""

DELETE_SEED = """
def up(tx):
    tx.execute("INSERT INTO items (label) VALUES ('seed')")


def down(tx):
    tx.execute("DELETE FROM items WHERE label = 'seed'")
"""


def _manager(db: Path, folder: Path) -> MigrationManager:
    return MigrationManager(db, Registry.from_directory(folder), backup=False)


def test_a_recorded_target_with_empty_kept_tables_is_answered_without_rehearsing(
    db_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {"0001_items.py": CREATE_ITEMS, "0002_note.py": ADD_NOTE, "0003_logs.py": CREATE_LOGS}
    )
    manager = _manager(db_path, folder)
    manager.migrate_to(1)  # a rest point: version 1's schema is recorded
    manager.migrate_to(3)
    with manager.connection() as conn:
        conn.execute("INSERT INTO logs (line) VALUES ('a'), ('b')")
    impact = manager.rollback_impact(1)
    assert impact.measured_by == "schema descriptions"
    assert [(t.name, t.rows) for t in impact.dropped_tables] == [("logs", 2)]
    assert [(c.table, c.column, c.rows) for c in impact.dropped_columns] == [("items", "note", 0)]
    assert impact.rows_lost == 2 and impact.loses_data


def test_the_answer_from_descriptions_equals_the_rehearsed_one(
    db_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {"0001_items.py": CREATE_ITEMS, "0002_note.py": ADD_NOTE, "0003_logs.py": CREATE_LOGS}
    )
    manager = _manager(db_path, folder)
    manager.migrate_to(1)
    manager.migrate_to(3)
    quick = manager.rollback_impact(1)
    from engine.rehearsal import rollback_impact

    # A target below every rest point is rehearsed: compare both on the same database.
    rehearsed_tables = {t.name for t in rollback_impact(manager, 0).dropped_tables}
    assert quick.measured_by == "schema descriptions"
    assert {t.name for t in quick.dropped_tables} == rehearsed_tables - {"items"}


def test_rows_in_a_table_that_stays_are_measured_by_rehearsing(
    db_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations({"0001_items.py": CREATE_ITEMS, "0002_seed.py": DELETE_SEED})
    manager = _manager(db_path, folder)
    manager.migrate_to(1)
    manager.migrate_to(2)
    impact = manager.rollback_impact(1)
    assert impact.measured_by == "rehearsal"
    assert [(d.table, d.rows) for d in impact.deleted_rows] == [("items", 1)]


def test_a_schema_changed_outside_the_migrations_is_rehearsed(
    db_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations({"0001_items.py": CREATE_ITEMS, "0002_logs.py": CREATE_LOGS})
    manager = _manager(db_path, folder)
    manager.migrate_to(1)
    manager.migrate_to(2)
    with manager.connection() as conn:
        conn.execute("CREATE TABLE rogue (x)")
    assert manager.rollback_impact(1).measured_by == "rehearsal"


def test_without_details_an_empty_database_is_not_rehearsed(
    db_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations({"0001_items.py": CREATE_ITEMS, "0002_logs.py": CREATE_LOGS})
    manager = _manager(db_path, folder)
    manager.migrate_to(2)
    impact = manager.rollback_impact(0, details=False)
    assert impact.measured_by == "row counts"
    assert not impact.loses_data and [s.version for s in impact.steps] == [2, 1]


def test_without_details_rows_anywhere_are_still_measured(
    db_path: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations({"0001_items.py": CREATE_ITEMS, "0002_logs.py": CREATE_LOGS})
    manager = _manager(db_path, folder)
    manager.migrate_to(2)
    with manager.connection() as conn:
        conn.execute("INSERT INTO logs (line) VALUES ('kept')")
    impact = manager.rollback_impact(0, details=False)
    assert impact.measured_by == "rehearsal"
    assert impact.loses_data and "drops table logs, 1 row" in impact.changes
