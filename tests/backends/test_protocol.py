"""The Backend protocol's contracts, as every backend must keep them."""

from __future__ import annotations

import pytest

from engine.backends.base import BOOKKEEPING_TABLES, Backend


def _create_items(backend: Backend) -> None:
    backend.begin_write()
    backend.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, note TEXT)")
    backend.execute(backend.sql("INSERT INTO items (id, label) VALUES (?, ?)"), (1, "a"))
    backend.execute(backend.sql("INSERT INTO items (id, label) VALUES (?, ?)"), (2, "b"))
    backend.commit()


def test_a_committed_write_transaction_is_kept(backend: Backend) -> None:
    _create_items(backend)
    assert backend.table_exists("items")
    assert not backend.in_transaction


def test_a_rolled_back_write_transaction_leaves_no_trace(backend: Backend) -> None:
    backend.begin_write()
    backend.execute("CREATE TABLE gone (id INTEGER)")
    backend.rollback()
    assert not backend.table_exists("gone")


def test_rollback_without_a_transaction_does_nothing(backend: Backend) -> None:
    backend.rollback()
    assert not backend.in_transaction


def test_migration_code_cannot_commit_the_engines_transaction(backend: Backend) -> None:
    backend.begin_write()
    backend.execute("CREATE TABLE kept_out (id INTEGER)")
    with (
        backend.transaction_control_forbidden(),
        pytest.raises(backend.driver_errors) as info,
    ):
        backend.execute("COMMIT")
    assert "must not control" in backend.describe_step_error(info.value)
    backend.rollback()
    assert not backend.table_exists("kept_out")


def test_the_trace_sees_each_statement_and_rows_changed_counts_rows(backend: Backend) -> None:
    _create_items(backend)
    seen: list[str] = []
    backend.begin_write()
    before = backend.rows_changed()
    with backend.trace(seen.append):
        backend.execute("UPDATE items SET note = 'x'")
    changed = backend.rows_changed() - before
    backend.rollback()
    assert any("UPDATE items" in sql for sql in seen)
    assert changed == 2


def test_a_savepoint_undoes_one_step_and_keeps_the_transaction(backend: Backend) -> None:
    backend.begin_write()
    backend.execute("CREATE TABLE first (id INTEGER)")
    backend.savepoint("step_2")
    backend.execute("CREATE TABLE second (id INTEGER)")
    backend.rollback_to_savepoint("step_2")
    backend.release_savepoint("step_2")
    assert backend.in_transaction
    backend.commit()
    assert backend.table_exists("first")
    assert not backend.table_exists("second")


def test_the_schema_description_lists_tables_and_columns_without_bookkeeping(
    backend: Backend,
) -> None:
    _create_items(backend)
    backend.begin_write()
    for statement in backend.bookkeeping_ddl():
        backend.execute(statement)
    backend.commit()
    description = backend.describe_schema()
    assert dict(description.tables) == {"items": ("id", "label", "note")}
    assert backend.tables() == ["items"]
    assert not set(BOOKKEEPING_TABLES) & set(description.tables)
    assert description.fingerprint == backend.schema_fingerprint()


def test_the_fingerprint_changes_with_the_schema(backend: Backend) -> None:
    _create_items(backend)
    before = backend.schema_fingerprint()
    backend.begin_write()
    backend.execute("ALTER TABLE items ADD COLUMN extra TEXT")
    backend.commit()
    assert backend.schema_fingerprint() != before


def test_table_shapes_count_rows_and_values_per_column(backend: Backend) -> None:
    _create_items(backend)
    shape = backend.table_shapes(["items"])["items"]
    assert (shape.rows, dict(shape.columns)) == (2, {"id": 2, "label": 2, "note": 0})


def test_table_shapes_count_every_table_of_a_large_schema(backend: Backend) -> None:
    # More tables than one counting statement takes, of different widths and sizes.
    backend.begin_write()
    for n in range(1, 131):
        columns = ", ".join(f"c{i} TEXT" for i in range(n % 4))
        backend.execute(
            f"CREATE TABLE t{n:03d} (id INTEGER PRIMARY KEY{', ' if columns else ''}{columns})"
        )
        for row in range(n % 3):
            backend.execute(f"INSERT INTO t{n:03d} (id) VALUES ({row + 1})")
    backend.commit()
    shapes = backend.table_shapes()
    assert sorted(shapes) == [f"t{n:03d}" for n in range(1, 131)]
    for n in range(1, 131):
        shape = shapes[f"t{n:03d}"]
        expected = {"id": n % 3, **{f"c{i}": 0 for i in range(n % 4)}}
        assert (shape.rows, dict(shape.columns)) == (n % 3, expected), n


def test_a_table_that_cannot_be_counted_does_not_hide_the_others(backend: Backend) -> None:
    _create_items(backend)
    shapes = backend.table_shapes(["items", "nowhere"])
    assert (shapes["items"].rows, shapes["nowhere"].rows) == (2, 0)


def test_columns_of_a_missing_table_are_empty(backend: Backend) -> None:
    assert backend.columns("nowhere") == []


def test_a_new_database_is_empty(backend: Backend) -> None:
    assert backend.is_empty()


def test_the_version_marker_commits_with_the_transaction(backend: Backend) -> None:
    if not backend.capabilities.version_marker:
        assert backend.read_version_marker() is None
        return
    backend.begin_write()
    backend.write_version_marker(7)
    backend.rollback()
    assert backend.read_version_marker() == 0
    backend.begin_write()
    backend.write_version_marker(7)
    backend.commit()
    assert backend.read_version_marker() == 7


def test_a_sound_database_has_no_integrity_or_foreign_key_problems(backend: Backend) -> None:
    _create_items(backend)
    assert backend.integrity_problems() == []
    assert backend.foreign_key_problems() == []
