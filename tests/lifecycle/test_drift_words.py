"""Drift in words: structural descriptions compared object by object."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
