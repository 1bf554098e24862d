"""stamp, baseline, offline SQL and lint on SQLite and on PostgreSQL (scratch schema there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import MigrationManager
from engine.lifecycle import BaselineMismatchError
from engine.lint import lint
from engine.offline_sql import offline_script
from tests.pg import Target


def _execute(backend: Target, sql: str) -> None:
    """Change the database behind the engine's back (committed)."""
    if backend.pg is not None:
        backend.pg.execute(sql)
        return
    import sqlite3

    conn = sqlite3.connect(str(backend.path))
    conn.execute(sql)
    conn.commit()
    conn.close()


def _scratch_schemas(backend: Target) -> list[tuple[object, ...]]:
    if backend.pg is None:
        return []
    return backend.pg.query(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'metamigrate_scratch%'"
    )


def test_stamp_compares_with_what_the_migrations_produce_on_the_same_product(
    backend: Target,
) -> None:
    manager = MigrationManager(backend.spec)
    manager.migrate_to(2)
    result = manager.stamp(4, reason="test")
    # Versions 3 and 4 never ran: exactly their changes are missing, nothing dialect-shaped.
    assert "table table_properties dropped" in result.differences
    assert "column tables.table_format dropped" in result.differences
    assert not any("changed" in d for d in result.differences)
    assert _scratch_schemas(backend) == []


def test_baseline_adopts_a_database_built_by_the_same_migrations(backend: Target) -> None:
    manager = MigrationManager(backend.spec)
    manager.migrate_to(3)
    _execute(backend, "DELETE FROM schema_migrations")  # the bookkeeping is lost: unmanaged
    result = manager.baseline(3, reason="test")
    assert result.differences == () and manager.current_version == 3
    assert _scratch_schemas(backend) == []


def test_baseline_refuses_an_extra_table(backend: Target) -> None:
    manager = MigrationManager(backend.spec)
    manager.migrate_to(2)
    _execute(backend, "DELETE FROM schema_migrations")
    _execute(backend, "CREATE TABLE rogue (id INTEGER)")
    with pytest.raises(BaselineMismatchError) as caught:
        manager.baseline(2, reason="test")
    assert caught.value.differences == ["table rogue added"]


def test_offline_sql_leaves_the_database_unchanged(backend: Target) -> None:
    manager = MigrationManager(backend.spec)
    manager.migrate_to(3)
    script = offline_script(manager, None, "up")
    assert script.ok and [v for v, _n in script.steps] == [4, 5]
    assert any("table_properties" in s.sql for s in script.statements if not s.bookkeeping)
    assert manager.current_version == 3 and "table_properties" not in backend.tables()
    assert _scratch_schemas(backend) == []


def test_lint_of_the_store_migrations_has_no_unaccepted_error(backend: Target) -> None:
    report = lint(MigrationManager(backend.spec))
    assert report.ok, [f.line() for f in report.errors]
    assert _scratch_schemas(backend) == []
    if backend.path is not None:
        assert not Path(backend.path).exists()
