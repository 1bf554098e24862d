"""At 80 columns the table shows the cursor row's description whole instead of clipping it."""

from __future__ import annotations

from console.widgets import MigrationTable
from tests.console.conftest import make_console, migrate, settle


async def test_at_80_columns_the_description_is_a_detail_line_for_the_cursor_row() -> None:
    migrate(2)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        assert "description" not in [str(key.value) for key in table.columns]
        assert table.border_subtitle == (
            "1 · Initial schema: databases and their tables with metadata locations."
        )
        await pilot.press("down")
        await pilot.pause()
        assert table.border_subtitle == "2 · Add user preferences table."


async def test_wide_terminals_show_the_description_column_and_the_detail_line() -> None:
    migrate(2)
    app = make_console()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        assert "description" in [str(key.value) for key in table.columns]
        assert table.border_subtitle is not None and table.border_subtitle.startswith("1 · ")
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert "description" not in [str(key.value) for key in table.columns]
        assert table.border_subtitle is not None and table.border_subtitle.startswith("1 · ")
