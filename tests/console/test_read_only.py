"""Read-only mode: SQLite mode=ro, no write actions, and the file is byte-identical afterwards."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Static

from console.screens import ConfirmMigrateScreen, RollbackScreen
from console.service import RunRequest
from console.widgets import MigrationTable
from tests.console.conftest import make_console, migrate, settle


async def test_read_only_mode_cannot_write_and_the_file_is_byte_identical(
    db: Path, tmp_path: Path
) -> None:
    migrate(2)
    before = db.read_bytes()
    files_before = sorted(p.name for p in tmp_path.iterdir())
    app = make_console(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        buttons = {b.id for b in app.query("ActionBar Button").results(Button)}
        assert buttons == {"verify-button", "refresh-button"}
        assert "READ-ONLY" in str(app.query_one("#mode", Static).render())
        assert "READ-ONLY" in app.sub_title
        for key in ("m", "r"):
            await pilot.press(key)
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmMigrateScreen | RollbackScreen)
        app.action_migrate()
        app.start_run(RunRequest("down", 0, 2))
        await pilot.press("v", "f5")
        await settle(pilot)
        table = app.query_one(MigrationTable)
        assert [table.state_of(v) for v in table.versions] == [
            "applied",
            "applied",
            "pending",
            "pending",
        ]
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before


async def test_read_only_hides_the_write_actions_from_keys_and_palette() -> None:
    migrate(1)
    app = make_console(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.check_action("migrate", ()) is False
        assert app.check_action("rollback", ()) is False
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Migrate to latest" not in titles
        assert "Verify" in titles


async def test_read_only_says_why_migrate_and_rollback_keys_do_nothing(db: Path) -> None:
    migrate(2)
    before = db.read_bytes()
    app = make_console(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await pilot.pause()
        assert (
            "Read-only: the console was opened with --read-only, so it cannot migrate"
            in (app.log_widget.lines_plain[-1])
        )
        await pilot.press("r")
        await pilot.pause()
        assert "so it cannot roll back" in app.log_widget.lines_plain[-1]
        assert not app.running
    assert db.read_bytes() == before


async def test_read_only_readiness_names_no_key_that_does_nothing_there() -> None:
    # The panel's "what to do" line: "m migrates" only where m migrates.
    migrate(2)
    for read_only, shown, hidden in (
        (True, "open without --read-only to migrate", "m migrates"),
        (False, "m migrates", "--read-only"),
    ):
        app = make_console(read_only=read_only)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            details = " ".join(str(app.query_one("#readiness #details", Static).render()).split())
            assert "2 migrations pending" in details, details
            assert shown in details and hidden not in details, details
