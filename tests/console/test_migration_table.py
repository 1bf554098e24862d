"""The migrations table draws whole names in every frame, even one drawn before it is idle."""

from __future__ import annotations

from textual.app import App, ComposeResult

from console.widgets import MigrationTable
from engine import MigrationManager
from tests.console.conftest import DB, MIGRATIONS, migrate, settle


class TableOnly(App[None]):
    CSS = "MigrationTable { height: auto; min-height: 3; }"

    def compose(self) -> ComposeResult:
        yield MigrationTable()


async def test_a_frame_drawn_before_the_table_is_idle_shows_whole_names() -> None:
    """DataTable measures auto-width columns when idle and keeps the lines it drew before: on a
    busy machine a frame fell in between and the header and first rows stayed cut to 'Name'."""
    migrate(2)
    statuses = MigrationManager(DB, MIGRATIONS).status()
    app = TableOnly()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(MigrationTable)
        table.show_description = False
        await settle(pilot)
        table.show(statuses)
        early = [table.render_line(y).text for y in range(3)]  # before the table is idle
        await settle(pilot)
        assert "add_user_preferences" in early[2]
        assert [table.render_line(y).text for y in range(3)] == early


async def test_the_name_column_widens_when_a_longer_name_appears() -> None:
    migrate(1)
    manager = MigrationManager(DB, MIGRATIONS)
    app = TableOnly()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(MigrationTable)
        table.show_description = False
        table.show(manager.status()[:1])
        await settle(pilot)
        assert table.fitted_widths()["name"] == len("initial")
        table.show(manager.status())
        await settle(pilot)
        assert table.fitted_widths()["name"] == len("move_table_properties")
        assert "move_table_properties" in table.render_line(4).text
