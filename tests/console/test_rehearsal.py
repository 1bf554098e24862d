"""Rehearse in the migrate and rollback modals: a report, the file untouched, never a confirm."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from textual.widgets import Button, Static

from console.screens import ConfirmMigrateScreen, RehearsalScreen, RollbackScreen
from console.screens.rehearsal import render_report
from console.widgets import MigrationTable
from tests.conftest import MigrationFiles
from tests.console.conftest import (
    make_console,
    migrate,
    settle,
    table_migration,
    user_version,
    wait_until,
)


def report_text(screen: RehearsalScreen) -> str:
    """The report as the screen draws it, as plain text."""
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(render_report(screen.report))
    return console.export_text()


async def rehearse(pilot, screen) -> RehearsalScreen:  # type: ignore[no-untyped-def]
    screen.query_one("#rehearse", Button).press()
    assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, RehearsalScreen))
    await settle(pilot)
    report_screen = pilot.app.screen
    assert isinstance(report_screen, RehearsalScreen)
    return report_screen


async def test_rehearse_in_the_migrate_modal_shows_a_report_and_keeps_nothing(
    db: Path, tmp_path: Path
) -> None:
    migrate(1)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = db.read_bytes()
        await pilot.press("m")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmMigrateScreen)
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        report_screen = await rehearse(pilot, modal)
        report = report_screen.report
        assert (report.direction, report.from_version, report.target_version) == ("up", 1, 4)
        assert [(s.version, s.status) for s in report.steps] == [(2, "ok"), (3, "ok"), (4, "ok")]
        assert all(step.sql for step in report.steps)
        steps = report_text(report_screen)
        assert "0002_add_user_preferences" in steps and "✓ ok" in steps
        assert "CREATE TABLE user_preferences" in steps
        verdict = str(report_screen.query_one("#verdict", Static).render())
        assert "the database file was not changed" in verdict
        assert any("Rehearsal of migrate to 4" in line for line in app.log_widget.lines_plain)
        # Closing the report goes back to the modal, focus on Cancel: Enter now cancels.
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is modal
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmMigrateScreen)
        assert not app.running
        table = app.query_one(MigrationTable)
        assert [table.state_of(v) for v in table.versions] == [
            "applied",
            "pending",
            "pending",
            "pending",
        ]
    assert db.read_bytes() == before
    assert user_version(db) == 1
    assert not (tmp_path / "backups").exists()  # a rehearsal takes no backup


async def test_a_failing_step_is_reported_by_the_rehearsal_and_nothing_changes(
    db: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b", fail=True),
            "0003_create_c.py": table_migration("c"),
        }
    )
    migrate(0, migrations=str(folder))
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = db.read_bytes()
        await pilot.press("m")
        await settle(pilot)
        report_screen = await rehearse(pilot, app.screen)
        report = report_screen.report
        assert [s.status for s in report.steps] == ["ok", "failed", "not_run"]
        steps = report_text(report_screen)
        assert "✗ failed" in steps and "no_such_table_b" in steps
        assert "· not run" in steps
    assert db.read_bytes() == before


async def test_rehearse_in_the_rollback_modal_never_rolls_back(db: Path) -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = db.read_bytes()
        await pilot.press("r")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, RollbackScreen)
        await pilot.press(*str(modal.target))  # typed: the red button is enabled
        await pilot.pause()
        report_screen = await rehearse(pilot, modal)
        report = report_screen.report
        assert report.direction == "down" and report.ok
        assert [s.version for s in report.steps] == list(range(4, modal.target, -1))
        await pilot.press("enter")  # closes the report
        await pilot.pause()
        assert app.screen is modal
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        await pilot.press("escape")
        await settle(pilot)
        assert not app.running
    assert db.read_bytes() == before
    assert user_version(db) == 4


async def test_a_rehearsal_whose_modal_was_closed_only_goes_to_the_log(
    db: Path, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations({"0001_create_a.py": table_migration("a", sleep=0.5)})
    app = make_console(migrations=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not db.exists()
        await pilot.press("m")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmMigrateScreen)
        modal.query_one("#rehearse", Button).press()
        await pilot.pause()
        assert modal.rehearsing
        await pilot.press("escape")  # closes the modal while the rehearsal runs
        await settle(pilot)
        assert await wait_until(
            pilot, lambda: any("Rehearsal of migrate to 1" in x for x in app.log_widget.lines_plain)
        )
        await settle(pilot)
        assert not isinstance(app.screen, RehearsalScreen | ConfirmMigrateScreen)
        assert not app.running
    assert not db.exists()  # a rehearsal of a missing database runs on a scratch copy


async def test_a_rollback_rehearsal_counts_the_rows_a_drop_destroys_like_the_impact(
    db: Path,
) -> None:
    from tests.console.conftest import add_preferences, wait_until

    migrate()
    add_preferences(3)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        table.move_cursor(row=table.versions.index(1))
        await pilot.pause()
        await pilot.press("r")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, RollbackScreen)
        assert await wait_until(pilot, lambda: modal.impact_target == 1)
        assert modal.impact is not None and modal.impact.rows_lost == 3
        report_screen = await rehearse(pilot, modal)
        report = report_screen.report
        lost = {step.version: step.rows_lost for step in report.steps}
        assert lost[2] == 3  # DROP TABLE user_preferences changes no rows, yet loses three
        assert sum(lost.values()) == modal.impact.rows_lost
        assert "Lost" in report_text(report_screen)
