"""The typed confirmations read as sentences and their key line fits, at 80x24 (the Tab order it
names is checked in test_keyboard_reach)."""

from __future__ import annotations

from textual.widgets import Input, Label

from console.screens import RollbackScreen
from tests.console.conftest import make_console, migrate, settle


def _plain(label: Label) -> str:
    return str(label.render())


async def test_the_rollback_prompt_names_the_target_version_and_the_tab_order_fits() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RollbackScreen)
        target = screen.target
        prompt = _plain(screen.query_one("#typed-label", Label))
        assert prompt == f"Type the target version ({target}) to confirm:"
        assert not screen.query_one("#typed", Input).placeholder  # "... to confirm version"
        keys = screen.query_one(".keys", Label)
        assert "tab: input → Rehearse → Cancel → Roll back → lists → target" in _plain(keys)
        dialog = screen.query_one("#dialog")
        assert dialog.region.bottom <= 24
        assert keys.region.width >= len(_plain(keys))  # the whole line is shown
