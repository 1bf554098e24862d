"""Migrate to latest: a confirm-guarded plan, then live progress."""

from __future__ import annotations

import time
from pathlib import Path

from textual.widgets import Button

from console.screens import ConfirmMigrateScreen
from console.widgets import MigrationTable, ReadinessPanel
from tests.conftest import MigrationFiles
from tests.console.conftest import (
    make_console,
    run_to_end,
    settle,
    table_migration,
    user_version,
    wait_until,
)


async def test_migrate_confirm_lists_exactly_the_plan_and_the_target_database() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConfirmMigrateScreen)
        assert [(s.direction, s.version, s.name) for s in screen.steps] == [
            ("up", 1, "initial"),
            ("up", 2, "add_user_preferences"),
            ("up", 3, "add_table_format"),
            ("up", 4, "move_table_properties"),
        ]
        assert screen.database == "metadata.db"
        assert (screen.current_version, screen.target_version) == (0, 4)


async def test_migrate_confirm_starts_with_focus_on_cancel() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.focused, Button)
        assert app.focused.id == "cancel"


async def test_migrate_cancelled_with_a_stray_enter_changes_nothing(db: Path) -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not db.exists()
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmMigrateScreen)
        assert not app.running
        table = app.query_one(MigrationTable)
        assert {table.state_of(v) for v in table.versions} == {"pending"}
        assert "Migrate cancelled; nothing was changed." in app.log_widget.lines_plain[-1]
    assert not db.exists()  # not even created


async def test_migrate_cancelled_with_escape_changes_nothing(db: Path) -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not db.exists()
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmMigrateScreen)
    assert not db.exists()


async def test_migrate_confirmed_applies_everything_and_the_panel_reads_ready(db: Path) -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("tab")
        assert isinstance(app.focused, Button) and app.focused.id == "confirm"
        await pilot.press("enter")
        await run_to_end(pilot)
        table = app.query_one(MigrationTable)
        assert {table.state_of(v) for v in table.versions} == {"applied"}
        assert app.query_one(ReadinessPanel).status == "ready"
        assert app.sub_title == "metadata.db · version 4 of 4"
        assert any(
            "Migrate done: the database is at version 4." in line
            for line in app.log_widget.lines_plain
        )
        assert any("Applied 0001_initial" in line for line in app.log_widget.lines_plain)
    assert user_version(db) == 4


async def test_migrate_when_nothing_is_pending_says_so_without_a_dialog() -> None:
    from tests.console.conftest import migrate

    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmMigrateScreen)
        assert "Nothing to migrate" in app.log_widget.lines_plain[-1]


async def test_rows_show_running_and_the_actions_are_disabled_during_a_run(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_slow.py": table_migration("slow", sleep=1.0),
        }
    )
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("tab", "enter")
        assert await wait_until(pilot, lambda: table.state_of(2) == "running")
        assert app.running
        assert table.state_of(1) == "applied"
        assert all(button.disabled for button in app.query("ActionBar Button").results(Button))
        assert app.check_action("migrate", ()) is None
        assert app.check_action("rollback", ()) is None
        await pilot.press("m")  # ignored while running
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmMigrateScreen)
        await run_to_end(pilot)
        assert table.state_of(2) == "applied"
        assert not any(button.disabled for button in app.query("ActionBar Button").results(Button))


async def test_quitting_during_a_run_stops_it_after_the_current_migration(
    db: Path, write_migrations: MigrationFiles
) -> None:
    # The first step is long enough for both keypresses to land inside it even on a loaded
    # machine (with a short first step, the stop could arrive while step 2 runs).
    sleeps = {1: 3.0, 2: 0.6, 3: 0.6}
    folder = write_migrations(
        {f"000{i}_slow_{i}.py": table_migration(f"slow_{i}", sleep=s) for i, s in sleeps.items()}
    )
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("tab", "enter")
        assert await wait_until(pilot, lambda: table.state_of(1) == "running")
        await pilot.press("q")  # the first q only warns
        await pilot.pause()
        assert app.is_running
        await pilot.press("q")
        await pilot.pause()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and user_version(db) < 1:
        time.sleep(0.05)
    time.sleep(2.0)  # long enough for steps 2 and 3 had the run gone on
    assert user_version(db) == 1
