"""Every control of every dialog is reached by Tab and Shift+Tab, in the order its key line says;
the rollback target is chosen by keyboard alone; the tables' Home / End / page keys move the cursor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select

from console.screens import BackupsScreen, ConfirmMigrateScreen, HistoryScreen, RollbackScreen
from console.widgets import MigrationTable
from tests.conftest import MigrationFiles
from tests.console.conftest import (
    app_tables,
    make_console,
    migrate,
    open_dialog,
    run_to_end,
    settle,
    table_migration,
    user_version,
)


def tab_stops(keys: str) -> list[str]:
    """The stops a key line names after "tab:", in order ("plan (↑ ↓ scroll)" is "plan")."""
    order = keys.split("tab: ", 1)[1].split(" · ", 1)[0]
    return [stop.split(" (", 1)[0] for stop in order.split(" → ")]


async def tab_round(pilot: Pilot[Any]) -> list[str]:
    """Press Tab until focus is back where it started: the ids visited, the start last."""
    app = pilot.app
    start = app.focused
    assert start is not None
    visited: list[str] = []
    for _ in range(20):
        await pilot.press("tab")
        focused = app.focused
        assert focused is not None and focused.id is not None
        visited.append(focused.id)
        if focused is start:
            return visited
    raise AssertionError(f"Tab never came back to {start.id}: {visited}")


def key_line(pilot: Pilot[Any]) -> str:
    return str(pilot.app.screen.query_one(".keys", Label).render())


async def choose_target(pilot: Pilot[Any], screen: RollbackScreen, version: int) -> None:
    """From the typed version, by keys only: Shift+Tab to the target, pick ``version``."""
    app = pilot.app
    assert app.focused is screen.query_one("#typed", Input)
    await pilot.press("shift+tab")
    assert app.focused is screen.query_one("#target", Select)
    await pilot.press("enter", "home", *["down"] * screen.targets.index(version), "enter")
    await settle(pilot)
    assert screen.target == version
    assert app.focused is screen.query_one("#target", Select)


async def open_rollback_and_choose(pilot: Pilot[Any], version: int) -> RollbackScreen:
    """From the main screen, by keys only: r, then the target ``version``."""
    screen = await open_dialog(pilot, "r", RollbackScreen)
    await choose_target(pilot, screen, version)
    return screen


async def test_the_rollback_key_line_names_every_tab_stop_in_order() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "r", RollbackScreen)
        await pilot.press(*str(screen.target))  # the red button joins the round once enabled
        names = {
            "input": ["typed"],
            "Rehearse": ["rehearse"],
            "Cancel": ["cancel"],
            "Roll back": ["confirm"],
            "lists": ["undo", "impact-box"],
            "target": ["target"],
        }
        stops = tab_stops(key_line(pilot))
        assert stops[0] == "input"  # where focus starts
        expected = [i for stop in [*stops[1:], stops[0]] for i in names[stop]]
        assert await tab_round(pilot) == expected
        # The target is one Shift+Tab back from the input: nothing in between.
        await pilot.press("shift+tab")
        assert app.focused is screen.query_one("#target", Select)


async def test_the_migrate_key_line_names_every_tab_stop_in_order() -> None:
    migrate(1)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "m", ConfirmMigrateScreen)
        assert app.focused is screen.query_one("#cancel", Button)
        names = {"Migrate": "confirm", "plan": "plan", "Rehearse": "rehearse", "Cancel": "cancel"}
        assert await tab_round(pilot) == [names[stop] for stop in tab_stops(key_line(pilot))]


async def test_the_backups_key_line_names_every_tab_stop_in_order() -> None:
    migrate(1)
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "b", BackupsScreen)
        assert screen.selected is not None
        await pilot.press(*str(screen.selected.version))  # typed on the list: to the input
        assert app.focused is screen.query_one("#typed", Input)
        names = {"input": "typed", "Close": "cancel", "Restore": "confirm", "list": "backups"}
        stops = tab_stops(key_line(pilot))
        assert stops[0] == "input"
        assert await tab_round(pilot) == [names[stop] for stop in [*stops[1:], stops[0]]]


async def test_tab_goes_between_the_history_filter_and_its_list() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "h", HistoryScreen)
        assert "tab: filter ↔ list" in str(screen.query_one(".hint", Label).render())
        assert app.focused is not None and app.focused.id == "history"
        assert await tab_round(pilot) == ["filter", "history"]


async def test_a_target_reached_by_keys_alone_is_the_version_the_database_ends_at(
    db: Path,
) -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback_and_choose(pilot, 2)
        assert [s.version for s in screen.steps] == [4, 3]
        await pilot.press("tab")  # from the target, the next stop is the typed version
        assert app.focused is screen.query_one("#typed", Input)
        await pilot.press("2", "enter")  # Enter moves to the red button
        assert app.focused is screen.query_one("#confirm", Button)
        await pilot.press("enter")
        await run_to_end(pilot)
        assert not isinstance(app.screen, RollbackScreen)
    assert user_version(db) == 2
    assert app_tables(db) == {"databases", "tables", "user_preferences"}


async def test_changing_the_target_after_typing_clears_the_typed_confirmation() -> None:
    """What was typed confirmed the target shown then, even when it names the new one."""
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_dialog(pilot, "r", RollbackScreen)
        assert screen.target == 1
        await pilot.press("2")  # the version about to be chosen, typed before choosing it
        assert screen.query_one("#confirm", Button).disabled
        await choose_target(pilot, screen, 2)
        assert screen.query_one("#typed", Input).value == ""
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("tab", "2")
        assert not screen.query_one("#confirm", Button).disabled


async def test_the_rollback_lists_scroll_with_the_arrow_keys_once_tabbed_to(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations({f"{v:04d}_t{v}.py": table_migration(f"t{v}") for v in range(1, 13)})
    migrate(migrations=folder)
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback_and_choose(pilot, 0)
        undo = screen.query_one("#undo")
        assert undo.max_scroll_y > 0  # 12 steps in a box of 6 lines
        while app.focused is not undo:
            await pilot.press("shift+tab")
        await pilot.press("down", "down")
        assert undo.scroll_y == 2


async def test_home_end_and_page_keys_move_the_migration_table_cursor(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations({f"{v:04d}_t{v}.py": table_migration(f"t{v}") for v in range(1, 41)})
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        assert app.focused is table and table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == 39
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("pagedown")
        page = table.cursor_row
        assert 0 < page < 39
        await pilot.press("pageup")
        assert table.cursor_row == 0
        await pilot.press("ctrl+end")
        assert table.cursor_version == 40


async def test_tab_on_the_main_screen_reaches_what_the_help_names() -> None:
    """Help: tab moves between the buttons, table, log and readiness panel."""
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        readiness = app.query_one("#readiness")

        def place(widget: Widget) -> str | None:
            if widget.parent is not None and widget.parent.id == "actions":
                return "actions"
            return "readiness" if readiness in widget.ancestors else widget.id

        places = [place(widget) for widget in app.screen.focus_chain]
        assert places == ["actions"] * 4 + ["migrations", "log", "readiness"]
