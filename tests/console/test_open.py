"""Opening the console: the first look at a database, the header, help and the palette."""

from __future__ import annotations

from pathlib import Path

import pytest

from console import MigrationConsole
from console.screens import HelpScreen
from console.widgets import MigrationTable, ReadinessPanel
from engine import DeploymentManager, DeploymentStatus
from tests.console.conftest import app_tables, make_console, migrate, settle, user_version


async def test_first_open_of_a_missing_database_shows_all_pending_and_creates_nothing(
    db: Path,
) -> None:
    assert not db.exists()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        assert table.versions == [1, 2, 3, 4]
        assert {table.state_of(v) for v in table.versions} == {"pending"}
        assert app.query_one(ReadinessPanel).status == "missing"
        assert app.sub_title == "metadata.db · no database yet · 0 of 4"
        assert "Opened metadata.db." in app.log_widget.lines_plain[0]
    assert not db.exists()


async def test_first_open_of_an_empty_database_file_is_at_version_0_with_all_pending(
    db: Path,
) -> None:
    db.touch()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.query_one(ReadinessPanel).status == "pending"
        assert app.sub_title == "metadata.db · version 0 of 4"
    assert user_version(db) == 0
    assert app_tables(db) == set()


async def test_the_cursor_starts_in_the_migration_table() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.focused, MigrationTable)
        assert app.query_one(MigrationTable).cursor_version == 1


async def test_question_mark_opens_help_and_escape_closes_it() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_the_command_palette_offers_every_action() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
    for title in ("Migrate to latest", "Roll back to…", "Verify", "Refresh", "Help"):
        assert title in titles


async def test_footer_shows_the_action_keys() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        bindings = app.active_bindings.values()
        shown = {b.binding.key for b in bindings if b.binding.show and b.enabled}
    assert {"m", "r", "v", "f5", "question_mark", "q"} <= shown


async def test_q_quits() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


def test_the_app_is_built_with_the_documented_signature() -> None:
    app = MigrationConsole("x.db", migrations=None, read_only=True, clock=None)
    assert app.read_only
    assert app.db_label == "x.db"


async def test_without_migrations_the_console_uses_the_built_in_store_migrations() -> None:
    from engine import Registry

    latest = Registry.from_spec(None).latest_version
    app = MigrationConsole("metadata.db", clock=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.latest_version == latest
        assert app.query_one(MigrationTable).versions == list(range(1, latest + 1))


async def test_verify_logs_every_check_and_the_verdict() -> None:
    migrate(1)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        lines = app.log_widget.lines_plain
        assert any("✓ Integrity (PRAGMA quick_check)" in line for line in lines)
        assert any("✓ Live schema matches the recorded one" in line for line in lines)
        assert "Verify: all checks pass; PENDING." in lines[-1]


async def test_refresh_rereads_the_database_and_says_so() -> None:
    migrate(1)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        assert "Refreshed: version 1 of 4, PENDING." in app.log_widget.lines_plain[-1]


async def test_opening_and_following_trust_the_checksum_cache_and_verify_reads_every_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bool] = []
    original = DeploymentManager.status

    def recording(self: DeploymentManager, *, full_checksums: bool = True) -> DeploymentStatus:
        calls.append(full_checksums)
        return original(self, full_checksums=full_checksums)

    monkeypatch.setattr(DeploymentManager, "status", recording)
    migrate(2)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert calls == [False]  # the first paint: the quick form
        await pilot.press("f5")
        await settle(pilot)
        assert calls == [False, False]
        await pilot.press("v")
        await settle(pilot)
        assert calls == [False, False, True]  # Verify re-reads every migration file


async def test_help_shows_its_last_line_at_80x24_and_scrolls() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        dialog = screen.query_one("#dialog")
        assert dialog.region.bottom <= 24  # nothing of the dialog is off the screen
        text = screen.query_one("#help-text")
        assert app.focused is text  # ↑ ↓ scroll at once
        assert text.max_scroll_y > 0
        await pilot.press("end")
        await pilot.pause()
        assert text.scroll_y == text.max_scroll_y
        last = text.children[-1]
        assert last.region.bottom <= text.region.bottom  # the last line is in view
