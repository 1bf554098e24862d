"""During a run the screen tells the truth at each committed step, and shows the running row."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from console.screens import RollbackScreen
from console.widgets import MigrationTable, ReadinessPanel
from tests.conftest import MigrationFiles
from tests.console.conftest import make_console, run_to_end, settle, table_migration, wait_until


def panel_text(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.query_one("#readiness #details").render())


async def test_the_readiness_panel_follows_a_run_step_by_step(
    write_migrations: MigrationFiles,
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b", sleep=0.3),
            "0003_create_c.py": table_migration("c", sleep=0.3),
        }
    )
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "Version 0 of 3" in panel_text(app)
        panel = app.query_one(ReadinessPanel)
        shown: list[str] = []
        show_run = panel.show_run

        def recording(*args: int) -> None:
            show_run(*args)
            shown.append(panel_text(app))

        panel.show_run = recording  # type: ignore[method-assign]
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("tab", "enter")
        await run_to_end(pilot)
        steps = [text.splitlines()[0] for text in shown]
        assert steps == [
            "Version 0 of 3 · 3 pending · 0 applied",  # the run starts
            "Version 1 of 3 · 2 pending · 1 applied",  # each committed step
            "Version 2 of 3 · 1 pending · 2 applied",
            "Version 3 of 3 · 0 pending · 3 applied",
        ]
        assert panel.status == "ready"
        assert "Version 3 of 3" in panel_text(app)


async def test_the_running_row_is_kept_in_view(write_migrations: MigrationFiles) -> None:
    files = {f"{v:04d}_create_t{v}.py": table_migration(f"t{v}") for v in range(1, 12)}
    files["0012_create_t12.py"] = table_migration("t12", sleep=2.5)
    folder = write_migrations(files)
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        assert table.max_scroll_y > 0  # twelve rows do not fit at 80x24
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("tab", "enter")
        assert await wait_until(pilot, lambda: table.state_of(12) == "running")
        await pilot.pause()
        row = table.get_row_index("12")
        header = table.header_height
        visible = range(int(table.scroll_y), int(table.scroll_y) + table.size.height - header)
        assert row in visible
        await run_to_end(pilot)


async def migrate_with_a_toast(pilot: Pilot[Any]) -> None:
    """Migrate from the dialog (m, then Tab to its button) until the run's toast shows."""
    from textual.widgets._toast import Toast

    app = pilot.app
    await settle(pilot)
    await pilot.press("m")
    await settle(pilot)
    await pilot.press("tab", "enter")
    await run_to_end(pilot)
    assert await wait_until(pilot, lambda: bool(app.screen.query(Toast)))  # "Migrate done"


async def test_toasts_never_cover_the_readiness_panel(write_migrations: MigrationFiles) -> None:
    from textual.widgets._toast import Toast

    folder = write_migrations({"0001_create_a.py": table_migration("a")})
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await migrate_with_a_toast(pilot)
        await pilot.pause()  # laid out
        toasts = list(app.screen.query(Toast))
        panel = app.query_one(ReadinessPanel).region
        table = app.query_one(MigrationTable).region
        for toast in toasts:
            assert not toast.region.overlaps(panel)
            assert not toast.region.overlaps(table)


async def test_a_dialog_opened_after_a_run_is_not_covered_by_its_toast(
    write_migrations: MigrationFiles,
) -> None:
    """Toasts sit bottom left, where a dialog has its first button: opening a dialog clears
    them (each repeats a line the activity log keeps)."""
    from textual.widgets._toast import Toast

    folder = write_migrations({"0001_create_a.py": table_migration("a")})
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await migrate_with_a_toast(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, RollbackScreen)
        await pilot.pause()
        assert not app.screen.query(Toast)
        assert any("Migrate done" in line for line in app.log_widget.lines_plain)
