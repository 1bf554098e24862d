"""A failing migration: the modal closes, the row is marked, the log and a toast say why."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from console.screens import ConfirmMigrateScreen
from console.widgets import MigrationTable
from tests.conftest import MigrationFiles
from tests.console.conftest import (
    app_tables,
    make_console,
    migrate,
    run_to_end,
    settle,
    table_migration,
    user_version,
)


async def test_a_failing_migration_marks_its_row_failed_and_leaves_the_database_unchanged(
    db: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b", fail=True),
        }
    )
    migrate(1, migrations=str(folder))
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("tab", "enter")
        await run_to_end(pilot)
        assert not isinstance(app.screen, ConfirmMigrateScreen)
        table = app.query_one(MigrationTable)
        assert table.state_of(1) == "applied"
        assert table.state_of(2) == "failed"
        errors = [line for line in app.log_widget.lines_plain if "Could not apply" in line]
        sentence = errors[-1].split(" ", 1)[1]  # the engine's sentence, after the timestamp
        assert sentence.startswith("Could not apply migration 0002_create_b")
        assert "no_such_table_b" in sentence
        assert "unchanged at version 1" in sentence
        toasts = [n for n in app._notifications if n.severity == "error"]
        assert toasts and toasts[0].message == sentence
        assert app.sub_title == "metadata.db · version 1 of 2"
    assert user_version(db) == 1
    assert app_tables(db) == {"a"}


async def test_the_failed_mark_clears_when_the_next_run_starts(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b", fail=True),
        }
    )
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for _ in range(2):
            await pilot.press("m")
            await settle(pilot)
            await pilot.press("tab", "enter")
            await run_to_end(pilot)
        table = app.query_one(MigrationTable)
        assert [table.state_of(1), table.state_of(2)] == ["applied", "failed"]


async def test_a_database_ahead_of_the_code_shows_unknown_rows_and_refuses_to_plan(
    write_migrations: MigrationFiles,
) -> None:
    three = write_migrations({f"000{i}_t{i}.py": table_migration(f"t{i}") for i in (1, 2, 3)})
    two = write_migrations({f"000{i}_t{i}.py": table_migration(f"t{i}") for i in (1, 2)})
    migrate(migrations=str(three))
    app = make_console(migrations=str(two))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        assert table.state_of(3) == "unknown"
        assert app.panel.status == "error"
        await pilot.press("r")
        await settle(pilot)
        assert "ahead of the code" in app.log_widget.lines_plain[-1]


async def test_a_locked_database_fails_the_run_with_the_engines_sentence(
    db: Path,
) -> None:
    migrate(1)
    app = make_console(busy_timeout=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            await pilot.press("m")
            await settle(pilot)
            await pilot.press("tab", "enter")
            await run_to_end(pilot)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert any("locked" in line for line in app.log_widget.lines_plain)
        assert [n.severity for n in app._notifications][-1] == "error"
        assert not app.running
        assert app.query_one(MigrationTable).state_of(2) in ("pending", "failed")
    assert user_version(db) == 1
