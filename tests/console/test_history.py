"""The History screen (h): who rolled back, and what failed, newest first, with a filter."""

from __future__ import annotations

import getpass
import socket

from textual.widgets import DataTable, Input, Static

from console.screens import HistoryScreen
from console.service import EngineService
from tests.conftest import MigrationFiles
from tests.console.conftest import make_console, settle, table_migration, wait_until


async def open_history(pilot) -> HistoryScreen:  # type: ignore[no-untyped-def]
    await pilot.press("h")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    assert await wait_until(pilot, lambda: screen.loaded)
    await pilot.pause()
    return screen


def ledger(folder) -> None:  # type: ignore[no-untyped-def]
    """Apply 1 and 2, roll back to 1, then migrate: 2 again, then 3 fails (a broken up)."""
    from engine import MigrationManager

    manager = MigrationManager("metadata.db", str(folder), backup=False)
    manager.migrate_to(2)
    manager.rollback(1)
    service = EngineService("metadata.db", str(folder))
    service.attempt(lambda: manager.migrate_to(3))


async def test_history_lists_every_attempt_newest_first_with_who_and_the_error(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b"),
            "0003_create_c.py": table_migration("c", fail=True),
        }
    )
    ledger(folder)
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_history(pilot)
        assert [(e.version, e.direction, e.success) for e in screen.shown] == [
            (3, "up", False),
            (2, "up", True),  # migrate_to(3) from 1: 2 applied, then 3 failed
            (2, "down", True),
            (2, "up", True),
            (1, "up", True),
        ]
        table = screen.query_one("#history", DataTable)
        who = str(table.get_row_at(0)[1])
        assert who == f"{getpass.getuser()}@{socket.gethostname()}"
        assert table.virtual_size.width <= table.scrollable_content_region.width  # no clipping
        detail = " ".join(str(screen.query_one("#detail", Static).render()).split())
        assert "tried to apply 0003_create_c" in detail and "no_such_table_c" in detail


async def test_the_history_filter_answers_who_rolled_back_and_what_failed(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b"),
            "0003_create_c.py": table_migration("c", fail=True),
        }
    )
    ledger(folder)
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_history(pilot)
        await pilot.press(*"rollback")  # typed on the table: it goes to the filter
        await pilot.pause()
        assert app.focused is screen.query_one("#filter", Input)
        assert [(e.version, e.direction) for e in screen.shown] == [(2, "down")]
        screen.query_one("#filter", Input).value = "failed"
        await pilot.pause()
        assert [(e.version, e.success) for e in screen.shown] == [(3, False)]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HistoryScreen)
