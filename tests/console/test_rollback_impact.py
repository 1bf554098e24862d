"""The rollback modal says what the rollback would destroy, and where the backup goes first."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Select, Static

from console.screens import RollbackScreen
from console.widgets import MigrationTable
from tests.console.conftest import add_preferences, make_console, migrate, settle, wait_until


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
    await pilot.pause()
    return screen


def impact_text(screen: RollbackScreen) -> str:
    return str(screen.query_one("#impact", Static).render())


async def test_rollback_modal_shows_the_tables_the_rollback_drops_with_their_rows(
    db: Path,
) -> None:
    migrate()
    add_preferences(3)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = db.read_bytes()
        screen = await open_rollback(pilot, 1)
        assert screen.impact is not None and screen.impact.loses_data
        text = impact_text(screen)
        assert "drops table user_preferences, 3 rows" in text
        assert "drops table table_properties (empty)" in text
        assert screen.query_one("#impact").has_class("-loses-data")
        # Measuring the impact rehearses the downs and keeps nothing.
        assert db.read_bytes() == before


async def test_rollback_modal_says_where_the_verified_backup_goes_first() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback(pilot, 1)
        line = str(screen.query_one("#backup-line", Static).render())
        assert line == "A verified backup of version 4 will be written to backups first."


async def test_changing_the_target_measures_the_impact_again() -> None:
    migrate()
    add_preferences(2)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback(pilot, 3)
        assert "user_preferences" not in impact_text(screen)
        assert "drops table table_properties" in impact_text(screen)
        screen.query_one("#target", Select).value = 1
        assert await wait_until(pilot, lambda: screen.impact_target == 1)
        await pilot.pause()
        assert "drops table user_preferences, 2 rows" in impact_text(screen)
