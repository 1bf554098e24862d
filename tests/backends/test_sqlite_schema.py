"""SQLite's schema description: its tables and columns come from the same query as its facts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.backends.base import ConnectOptions
from engine.backends.sqlite import SQLiteBackend, application_tables, schema_entries


def test_the_described_tables_are_the_application_tables(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    conn.execute("CREATE TABLE b (x INTEGER, y INTEGER GENERATED ALWAYS AS (x * 2) VIRTUAL, z)")
    conn.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT DEFAULT 'it''s')")
    conn.execute("CREATE VIRTUAL TABLE notes USING fts5(title, body)")
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)")
    described = SQLiteBackend(conn, ConnectOptions(), owned=False).describe_schema()
    assert dict(described.tables) == application_tables(conn)
    assert list(described.tables)[:2] == ["a", "b"] and described.tables["b"] == ("x", "z")
    assert list(described.facts) == schema_entries(conn)
    assert "column a.name ['TEXT', 0, \"'it''s'\", 0]" in described.facts
    assert "column b.y ['INTEGER', 0, None, 0]" in described.facts
    conn.close()
