"""The emergency rollback: picker, plan newest first, typed confirmation, refusals."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Input, Select

from console.screens import RollbackScreen
from console.widgets import MigrationTable, ReadinessPanel
from engine import MigrationManager
from tests.conftest import MigrationFiles
from tests.console.conftest import (
    MIGRATIONS,
    make_console,
    migrate,
    run_to_end,
    settle,
    table_migration,
    user_version,
)


async def open_rollback(pilot, cursor_version: int) -> RollbackScreen:  # type: ignore[no-untyped-def]
    app = pilot.app
    table = app.query_one(MigrationTable)
    table.move_cursor(row=table.versions.index(cursor_version))
    await pilot.pause()
    await pilot.press("r")
    await settle(pilot)
    assert isinstance(app.screen, RollbackScreen)
    return app.screen


async def test_rollback_modal_preselects_the_cursor_row_and_lists_undone_steps_newest_first() -> (
    None
):
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback(pilot, 2)
        assert screen.target == 2
        assert screen.query_one("#target", Select).value == 2
        assert screen.targets == [3, 2, 1, 0]
        assert [(s.direction, s.version) for s in screen.steps] == [("down", 4), ("down", 3)]
        assert isinstance(app.focused, Input)
        assert screen.query_one("#confirm", Button).disabled


async def test_rollback_picker_offers_applied_versions_and_0() -> None:
    migrate(2)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback(pilot, 4)  # a pending row: the nearest target below it
        assert screen.targets == [1, 0]
        assert screen.target == 1


async def test_rollback_with_a_wrong_typed_version_keeps_the_button_disabled(db: Path) -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = db.read_bytes()
        screen = await open_rollback(pilot, 1)
        await pilot.press("2")
        await pilot.pause()
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RollbackScreen)
    assert db.read_bytes() == before


async def test_a_single_stray_enter_never_rolls_back(db: Path) -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = db.read_bytes()
        screen = await open_rollback(pilot, 1)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert not app.running
    assert db.read_bytes() == before
    assert user_version(db) == 4


async def test_rollback_confirmed_changes_the_version_and_rows_are_pending_again(db: Path) -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback(pilot, 1)
        await pilot.press("1")
        await pilot.pause()
        assert not screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")  # from the input: moves to the red button, does not confirm
        await pilot.pause()
        assert app.screen is screen
        assert isinstance(app.focused, Button) and app.focused.id == "confirm"
        await pilot.press("enter")
        await run_to_end(pilot)
        assert not isinstance(app.screen, RollbackScreen)
        table = app.query_one(MigrationTable)
        assert [table.state_of(v) for v in table.versions] == [
            "applied",
            "pending",
            "pending",
            "pending",
        ]
        assert app.sub_title == "metadata.db · version 1 of 4"
        assert app.query_one(ReadinessPanel).status == "pending"
        assert any(
            "Undid 0004_move_table_properties" in line for line in app.log_widget.lines_plain
        )
        # The engine backs the database up before a rollback; the log says where.
        assert any(
            "Backup of version 4 saved: backups/" in line for line in app.log_widget.lines_plain
        )
    assert user_version(db) == 1


async def test_changing_the_target_requires_typing_the_new_version() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback(pilot, 2)
        await pilot.press("2")
        await pilot.pause()
        assert not screen.query_one("#confirm", Button).disabled
        screen.query_one("#target", Select).value = 1
        await pilot.pause()
        assert screen.target == 1
        assert [s.version for s in screen.steps] == [4, 3, 2]
        assert screen.query_one("#confirm", Button).disabled


async def test_rollback_is_refused_across_an_irreversible_migration(
    db: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b", down=False),
            "0003_create_c.py": table_migration("c"),
        }
    )
    migrate(migrations=str(folder))
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = db.read_bytes()
        screen = await open_rollback(pilot, 1)
        assert [(s.version, s.reversible) for s in screen.steps] == [(3, True), (2, False)]
        refusal = str(screen.query_one("#refusal").render())
        assert "0002_create_b cannot be undone" in refusal
        assert "lowest reachable version is 2" in refusal
        assert screen.query_one("#typed", Input).disabled
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("1", "enter", "enter")
        await settle(pilot)
        assert app.screen is screen
        # Version 2 is reachable: choosing it lifts the refusal.
        screen.query_one("#target", Select).value = 2
        await pilot.pause()
        assert not screen.query_one("#typed", Input).disabled
        assert not screen.blocked
    assert db.read_bytes() == before


async def test_rollback_with_nothing_applied_says_so_without_a_dialog(db: Path) -> None:
    migrate(1)
    MigrationManager(db, MIGRATIONS).rollback(0)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert not isinstance(app.screen, RollbackScreen)
        assert app.log_widget.lines_plain[-1].endswith(
            "Nothing to roll back: no migration is applied."
        )
