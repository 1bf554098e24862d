"""The Backups screen: the verified backups, newest first, and a restore behind a typed version."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, DataTable, Input

from console.screens import BackupsScreen
from console.widgets import MigrationTable
from tests.console.conftest import (
    make_console,
    migrate,
    run_to_end,
    settle,
    user_version,
    wait_until,
)


async def open_backups(pilot) -> BackupsScreen:  # type: ignore[no-untyped-def]
    await pilot.press("b")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, BackupsScreen)
    assert await wait_until(pilot, lambda: screen.loaded)
    await pilot.pause()
    return screen


def backed_up_at_1() -> None:
    """Version 1, then latest: the migrate backs version 1 up first."""
    migrate(1)
    migrate()


async def test_backups_screen_lists_the_backups_a_migrate_took_newest_first() -> None:
    migrate(1)
    migrate(2)
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_backups(pilot)
        assert [b.version for b in screen.backups] == [2, 1]
        assert [b.reason for b in screen.backups] == ["before migrate to 4", "before migrate to 2"]
        assert screen.query_one("#backups", DataTable).row_count == 2
        assert screen.folder == "backups"
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, BackupsScreen)


async def test_restore_with_a_wrong_typed_version_keeps_the_button_disabled(db: Path) -> None:
    backed_up_at_1()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = db.read_bytes()
        screen = await open_backups(pilot)
        await pilot.press("enter")  # on the table: moves to the typed input, never restores
        await pilot.pause()
        assert isinstance(app.focused, Input)
        await pilot.press("4")
        await pilot.pause()
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert not app.running
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, BackupsScreen)
    assert db.read_bytes() == before
    assert user_version(db) == 4


async def test_restore_confirmed_puts_the_old_version_back_and_the_watcher_keeps_working(
    db: Path,
) -> None:
    backed_up_at_1()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_backups(pilot)
        [backup] = screen.backups
        await pilot.press("enter", "1")
        await pilot.pause()
        assert not screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")  # from the input: focus moves to the red button
        await pilot.pause()
        assert app.screen is screen
        assert isinstance(app.focused, Button) and app.focused.id == "confirm"
        await pilot.press("enter")
        await run_to_end(pilot)
        assert not isinstance(app.screen, BackupsScreen)
        assert user_version(db) == 1
        assert app.sub_title == "metadata.db · version 1 of 4"
        table = app.query_one(MigrationTable)
        assert [table.state_of(v) for v in table.versions] == [
            "applied",
            "pending",
            "pending",
            "pending",
        ]
        lines = app.log_widget.lines_plain
        assert any(f"Restored {backup.name}: the database is at version 1." in x for x in lines)
        assert any("The replaced file (version 4) was kept: backups/" in x for x in lines)
        assert app.watcher.alive
        # Another connection changes the restored file: the console follows it without input.
        migrate(2)
        assert await wait_until(pilot, lambda: app.sub_title == "metadata.db · version 2 of 4")
        assert table.state_of(2) == "applied"


async def test_a_stray_enter_on_the_backups_screen_never_restores(db: Path) -> None:
    backed_up_at_1()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = db.read_bytes()
        screen = await open_backups(pilot)
        await pilot.press("enter", "enter", "enter")
        await settle(pilot)
        assert app.screen is screen
        assert not app.running
    assert db.read_bytes() == before


async def test_read_only_lists_backups_without_any_restore(db: Path) -> None:
    backed_up_at_1()
    before = db.read_bytes()
    app = make_console(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_backups(pilot)
        assert [b.version for b in screen.backups] == [1]
        assert not screen.query("#confirm")
        assert not screen.query("#typed")
        await pilot.press("enter", "1", "enter", "enter")
        await settle(pilot)
        assert not app.running
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Backups" in titles
        app.start_restore(screen.backups[0])
        await settle(pilot)
        assert not app.running
    assert db.read_bytes() == before
    assert user_version(db) == 4


async def test_a_backup_that_fails_its_check_is_not_restored(db: Path) -> None:
    backed_up_at_1()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_backups(pilot)
        [backup] = screen.backups
        backup.path.write_bytes(b"not a database at all" * 100)
        await pilot.press("enter", "1", "enter", "enter")
        await run_to_end(pilot)
        assert any("Cannot restore" in x for x in app.log_widget.lines_plain)
    assert user_version(db) == 4


async def test_digits_typed_on_the_backups_list_go_to_the_typed_confirmation(db: Path) -> None:
    backed_up_at_1()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_backups(pilot)
        assert app.focused is screen.query_one("#backups", DataTable)
        await pilot.press("1")
        await pilot.pause()
        typed = screen.query_one("#typed", Input)
        assert app.focused is typed and typed.value == "1"
        assert not screen.query_one("#confirm", Button).disabled
        assert app.screen is screen and not app.running  # typing never restores by itself
