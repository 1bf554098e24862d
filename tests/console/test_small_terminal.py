"""Below 80x24 one clear screen says so; at 80x24 every dialog's focused control is visible."""

from __future__ import annotations

from textual.geometry import Region
from textual.widgets import Static

from console.screens import BackupsScreen, RollbackScreen, TooSmallScreen
from tests.console.conftest import make_console, migrate, settle, user_version


def focused_is_visible(app) -> bool:  # type: ignore[no-untyped-def]
    focused = app.focused
    screen_region = Region(0, 0, *app.size)
    return (
        focused is not None
        and focused.region.area > 0
        and (screen_region.contains_region(focused.region))
    )


async def test_below_the_minimum_one_screen_says_the_terminal_is_too_small() -> None:
    app = make_console()
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TooSmallScreen)
        text = str(app.screen.query_one("#too-small", Static).render())
        assert "Terminal too small (60x20)" in text and "needs 80x24" in text
        await pilot.press("m")  # keys do nothing behind it
        await settle(pilot)
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert not isinstance(app.screen, TooSmallScreen)


async def test_a_dialog_hides_behind_the_too_small_screen_and_comes_back_unchanged(db) -> None:  # type: ignore[no-untyped-def]
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RollbackScreen)
        await pilot.resize_terminal(60, 20)
        await settle(pilot)
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.press("tab", "tab", "tab", "enter", "enter")  # nothing reaches the dialog
        await settle(pilot)
        assert not app.running
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert app.screen is dialog
    assert user_version(db) == 4


async def test_every_dialog_keeps_its_focused_control_visible_at_80x24() -> None:
    migrate(2)
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key, kind in (("r", RollbackScreen), ("b", BackupsScreen)):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, kind)
            for _ in range(8):  # every control, in focus order
                assert focused_is_visible(app), (kind, app.focused)
                await pilot.press("tab")
                await pilot.pause()
            await pilot.press("escape")
            await settle(pilot)
