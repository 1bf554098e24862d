"""Drift in words: structural descriptions compared object by object."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.backends import open_backend
from engine.drift import compare, decode, encode, sentences


def describe(path: Path) -> list[str]:
    backend = open_backend(path)
    try:
        return list(backend.describe_schema().facts)
    finally:
        backend.close()


def build(path: Path, script: str) -> list[str]:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()
    return describe(path)


BASE = """
CREATE TABLE databases (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE tables (id INTEGER PRIMARY KEY, database_id INTEGER REFERENCES databases(id),
                     name TEXT);
CREATE INDEX ix_tables_name ON tables (name);
"""


def test_an_added_table_is_one_sentence_without_its_columns(tmp_path: Path) -> None:
    before = build(tmp_path / "a.db", BASE)
    after = build(tmp_path / "b.db", BASE + "CREATE TABLE rogue (id INTEGER, x TEXT);")
    assert sentences(before, after) == ["table rogue added"]


def test_an_added_column_is_named_with_its_table(tmp_path: Path) -> None:
    before = build(tmp_path / "a.db", BASE)
    after = build(tmp_path / "b.db", BASE + "ALTER TABLE databases ADD COLUMN owner TEXT;")
    assert sentences(before, after) == ["column databases.owner added"]


def test_a_dropped_index_is_named(tmp_path: Path) -> None:
    before = build(tmp_path / "a.db", BASE)
    after = build(tmp_path / "b.db", BASE + "DROP INDEX ix_tables_name;")
    assert sentences(before, after) == ["index ix_tables_name dropped"]


def test_a_dropped_table_hides_its_columns_and_indexes(tmp_path: Path) -> None:
    before = build(tmp_path / "a.db", BASE)
    after = build(tmp_path / "b.db", BASE + "DROP TABLE tables;")
    assert sentences(before, after) == ["table tables dropped"]


def test_a_changed_column_type_says_was_and_now(tmp_path: Path) -> None:
    before = build(tmp_path / "a.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);")
    after = build(tmp_path / "b.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER);")
    [change] = compare(before, after)
    assert (change.kind, change.name, change.change) == ("column", "t.v", "changed")
    assert "TEXT" in change.sentence() and "INTEGER" in change.sentence()


def test_identical_schemas_have_no_changes(tmp_path: Path) -> None:
    assert compare(build(tmp_path / "a.db", BASE), build(tmp_path / "b.db", BASE)) == []


def test_the_recorded_form_round_trips_and_rejects_garbage() -> None:
    facts = ["table a without_rowid=False", "column a.id INTEGER 0 None 1"]
    assert decode(encode(facts)) == facts
    assert decode("not json") is None and decode(None) is None and decode("[1, 2]") is None


# -- verify, on a migrated store --------------------------------------------------------------


def _migrated(tmp_path: Path) -> Path:
    from engine.cli import main

    db = tmp_path / "store.db"
    assert main(["migrate", "--db", str(db), "--json"]) == 0
    return db


def _change(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(sql)
    conn.close()


def test_verify_names_the_table_added_outside_the_migrations(tmp_path: Path) -> None:
    from tests.lifecycle.helpers import run_cli

    db = _migrated(tmp_path)
    _change(db, "CREATE TABLE rogue (id INTEGER);")
    result = run_cli("verify", "--db", str(db))
    assert result.returncode == 1
    assert "table rogue added" in result.stdout


def test_verify_json_lists_added_column_and_dropped_index(tmp_path: Path) -> None:
    import json

    from tests.lifecycle.helpers import run_cli

    db = _migrated(tmp_path)
    _change(db, "ALTER TABLE databases ADD COLUMN owner TEXT; DROP INDEX idx_tables_format;")
    result = run_cli("verify", "--json", "--db", str(db))
    assert result.returncode == 1
    drift = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "schema_drift")
    text = " ".join(drift["problems"])
    assert "column databases.owner added" in text
    assert "index idx_tables_format dropped" in text
    assert drift["status"] == "FAIL"


def test_drift_that_cannot_be_checked_is_not_checked_never_a_pass(tmp_path: Path) -> None:
    import json

    from tests.lifecycle.helpers import run_cli

    db = _migrated(tmp_path)
    _change(db, "UPDATE schema_migrations SET fingerprint = NULL, schema_facts = NULL;")
    result = run_cli("verify", "--json", "--db", str(db))
    drift = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "schema_drift")
    assert drift["status"] == "not checked" and drift["passed"] is False
    human = run_cli("verify", "--db", str(db))
    line = next(x for x in human.stdout.splitlines() if "Live schema" in x)
    assert "not checked" in line and "pass" not in line


def test_an_interrupted_run_records_the_schema_of_the_version_it_stopped_at(
    tmp_path: Path, write_migrations
) -> None:  # type: ignore[no-untyped-def]
    from engine import MigrationError, MigrationManager, Registry

    folder = write_migrations(
        {
            "0001_a.py": "def up(tx):\n    tx.execute('CREATE TABLE a (id INTEGER)')\n",
            "0002_b.py": "def up(tx):\n    tx.execute('CREATE TABLE b (id INTEGER)')\n",
            "0003_bad.py": "def up(tx):\n    tx.execute('CREATE TABLE a (id INTEGER)')\n",
        }
    )
    db = tmp_path / "i.db"
    manager = MigrationManager(db, Registry.from_directory(folder))
    with pytest.raises(MigrationError):
        manager.migrate_to_latest()
    assert manager.current_version == 2
    drift = manager.verify().check("schema_drift")
    assert drift.checked and drift.passed
    _change(db, "CREATE TABLE rogue (id INTEGER);")
    assert "table rogue added" in " ".join(manager.verify().check("schema_drift").problems)


def test_an_old_bookkeeping_table_is_upgraded_on_the_next_migrate(tmp_path: Path) -> None:
    from engine import MigrationManager

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
          description TEXT NOT NULL DEFAULT '', checksum TEXT NOT NULL, source_key TEXT,
          reversible INTEGER NOT NULL DEFAULT 1, fingerprint TEXT, applied_at TEXT NOT NULL,
          duration_ms REAL NOT NULL, applied_by TEXT NOT NULL);
        CREATE TABLE schema_migration_history (id INTEGER PRIMARY KEY, version INTEGER NOT NULL,
          name TEXT NOT NULL DEFAULT '',
          direction TEXT NOT NULL CHECK (direction IN ('up', 'down')),
          started_at TEXT NOT NULL, finished_at TEXT NOT NULL, duration_ms REAL NOT NULL,
          success INTEGER NOT NULL, error TEXT, user TEXT NOT NULL, host TEXT NOT NULL,
          pid INTEGER NOT NULL);
        INSERT INTO schema_migration_history VALUES (1, 9, 'old', 'up', 'a', 'b', 1, 0, 'x', 'u',
          'h', 1);
        """
    )
    conn.close()
    manager = MigrationManager(db)
    manager.migrate_to(1)
    history = manager.history()
    assert [(e.version, e.direction) for e in history][-1] == (9, "up")  # old rows kept
    assert manager.verify().check("schema_drift").passed
