"""Open dialogs follow the database: what the operator confirms is exactly what runs.

Another connection ("another terminal") changes the database while a dialog is open: the dialog
reads its plan and impact again, clears the typed confirmation and says why in the log. A change
the console has not seen yet when the operator confirms is refused by the engine.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.widgets import Button, Input, Static

from console.screens import ConfirmMigrateScreen, RollbackScreen
from console.widgets import MigrationTable
from tests.console.conftest import (
    DB,
    add_preferences,
    app_tables,
    make_console,
    migrate,
    run_to_end,
    settle,
    user_version,
    wait_until,
)


async def open_rollback(pilot, cursor_version: int) -> RollbackScreen:  # type: ignore[no-untyped-def]
    app = pilot.app
    table = app.query_one(MigrationTable)
    table.move_cursor(row=table.versions.index(cursor_version))
    await pilot.pause()
    await pilot.press("r")
    await settle(pilot)
    assert isinstance(app.screen, RollbackScreen)
    screen = app.screen
    assert await wait_until(pilot, lambda: screen.impact_target == screen.target)
    return screen


async def type_target(pilot, screen: RollbackScreen) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*str(screen.target))
    await pilot.pause()
    assert not screen.query_one("#confirm", Button).disabled


def logged(app, text: str) -> bool:  # type: ignore[no-untyped-def]
    return any(text in line for line in app.log_widget.lines_plain)


async def wait_logged(pilot, text: str) -> bool:  # type: ignore[no-untyped-def]
    return await wait_until(pilot, lambda: logged(pilot.app, text))


def add_database_row() -> None:
    """A commit that changes nothing a rollback to 1 would destroy."""
    conn = sqlite3.connect(DB)
    try:
        conn.execute("INSERT INTO databases (name) VALUES ('sales')")
        conn.commit()
    finally:
        conn.close()


async def test_the_rollback_dialog_follows_a_migrate_made_elsewhere() -> None:
    migrate(3)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback(pilot, 1)
        await type_target(pilot, screen)
        migrate(4)  # another terminal migrates, then writes preferences
        add_preferences(3)
        assert await wait_until(pilot, lambda: screen.current_version == 4)
        assert await wait_until(pilot, lambda: "3 rows" in str(screen.impact_text()))
        assert screen.query_one("#typed", Input).value == ""
        assert screen.query_one("#confirm", Button).disabled
        undo = str(screen.query_one("#undo-steps", Static).render())
        assert "0004_move_table_properties" in undo
        assert "version 4 → 1" in str(screen.query_one("#undo-title", Static).render())
        backup = str(screen.query_one("#backup-line", Static).render())
        assert "backup of version 4" in backup
        assert await wait_until(
            pilot, lambda: logged(app, "changed while the rollback dialog was open (version 3 → 4)")
        )
        assert app.screen is screen


async def test_the_rollback_dialog_clears_the_typed_version_when_its_impact_changes() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback(pilot, 1)
        assert "user_preferences (empty)" in screen.impact_text()
        await type_target(pilot, screen)
        add_preferences(5)  # the same plan, but now it destroys rows
        assert await wait_until(pilot, lambda: "5 rows" in screen.impact_text())
        assert screen.query_one("#typed", Input).value == ""
        assert screen.query_one("#confirm", Button).disabled
        assert await wait_until(
            pilot,
            lambda: logged(
                app, "What the rollback to 1 destroys changed while the dialog was open"
            ),
        )


async def test_the_rollback_dialog_keeps_the_typed_version_when_nothing_it_shows_changed() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback(pilot, 1)
        await type_target(pilot, screen)
        changes = app.external_changes
        add_database_row()
        assert await wait_until(pilot, lambda: app.external_changes > changes)
        assert await wait_until(pilot, lambda: not screen.checking)
        await settle(pilot)
        assert screen.query_one("#typed", Input).value == "1"
        assert not screen.query_one("#confirm", Button).disabled


async def test_a_rollback_confirmed_after_an_unseen_change_is_refused_by_the_engine() -> None:
    migrate(3)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback(pilot, 1)
        await type_target(pilot, screen)
        await pilot.press("enter")  # from the input to the red button
        await pilot.pause()
        assert app.focused is screen.query_one("#confirm", Button)
        app.watcher.pause()  # the console has not looked yet when the operator confirms
        migrate(4)
        add_preferences(3)
        await pilot.press("enter")
        app.watcher.resume()
        await run_to_end(pilot)
        assert await wait_logged(pilot, "now at version 4, not 3")
        assert not logged(app, "Rollback done")
    assert user_version() == 4
    assert "user_preferences" in app_tables()


async def test_the_migrate_dialog_follows_a_migrate_made_elsewhere() -> None:
    migrate(1)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConfirmMigrateScreen)
        await pilot.press("tab")  # focus on the Migrate button
        assert app.focused is screen.query_one("#confirm", Button)
        migrate(3)
        assert await wait_until(pilot, lambda: screen.current_version == 3)
        await pilot.pause()
        plan = str(screen.query_one("#plan-steps", Static).render())
        assert "0004_move_table_properties" in plan and "0002" not in plan
        assert "3 → 4" in str(screen.query_one("#summary", Static).render())
        assert app.focused is screen.query_one("#cancel", Button)  # a stray Enter cancels
        assert await wait_until(
            pilot, lambda: logged(app, "changed while the migrate dialog was open (version 1 → 3)")
        )


async def test_the_migrate_dialog_says_when_nothing_is_left_to_migrate() -> None:
    migrate(1)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConfirmMigrateScreen)
        migrate()
        assert await wait_until(pilot, lambda: screen.current_version == 4)
        await pilot.pause()
        assert screen.query_one("#confirm", Button).disabled
        assert "Nothing to migrate now" in str(screen.query_one("#summary", Static).render())


async def test_a_migrate_confirmed_after_an_unseen_change_is_refused_by_the_engine(
    db: Path,
) -> None:
    migrate(1)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConfirmMigrateScreen)
        await pilot.press("tab")
        app.watcher.pause()
        migrate(2)
        await pilot.press("enter")
        app.watcher.resume()
        await run_to_end(pilot)
        assert await wait_logged(pilot, "now at version 2, not 1")
    assert user_version() == 2
