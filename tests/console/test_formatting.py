"""Times in UTC everywhere, sizes written one way in the console and the CLI."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from console.widgets import MigrationTable
from engine.cli import main
from engine.formatting import format_size, format_timestamp
from tests.conftest import MigrationFiles
from tests.console.conftest import (
    DB,
    make_console,
    run_to_end,
    settle,
    table_migration,
    wait_until,
)
from tests.console.test_backups import backed_up_at_1, open_backups


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's zone is UTC+5:30, so a local time cannot pass for UTC."""
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_sizes_read_the_same_everywhere() -> None:
    assert format_size(812) == "812 B"
    assert format_size(56 * 1024) == "56 KiB"
    assert format_size(1_258_291) == "1.2 MiB"
    assert format_timestamp("2026-11-26T03:35:10.123Z") == "2026-11-26 03:35"
    assert format_timestamp("2026-11-26T03:35:10.123Z", seconds=True) == "2026-11-26 03:35:10"


async def test_a_row_updated_live_shows_its_time_in_utc(
    far_from_utc: None, write_migrations: MigrationFiles
) -> None:
    folder = write_migrations(
        {
            "0001_create_a.py": table_migration("a"),
            "0002_create_b.py": table_migration("b", sleep=2.5),
        }
    )
    app = make_console(migrations=str(folder))  # the fixed clock: 2026-11-26 03:30 UTC
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("tab", "enter")
        table = app.query_one(MigrationTable)
        assert await wait_until(pilot, lambda: table.state_of(1) == "applied")
        assert app.running  # step 2 still runs: row 1 was updated live, not reloaded
        assert str(table.get_row("1")[3]) == "2026-11-26 03:30"
        await run_to_end(pilot)


async def test_the_activity_log_stamps_its_lines_in_utc(far_from_utc: None) -> None:
    app = make_console(clock=None)  # the real clock
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        stamp = app.log_widget.lines_plain[0][:8]
        now = datetime.now(UTC)
        logged = datetime.strptime(stamp, "%H:%M:%S").replace(
            year=now.year, month=now.month, day=now.day, tzinfo=UTC
        )
        assert abs((now - logged).total_seconds()) < 120


async def test_console_and_cli_write_a_backup_size_the_same_way(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    backed_up_at_1()
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    assert main(["backups", "--db", DB, "--migrations", "migrations"]) == 0
    cli_sizes = re.findall(r"\d[\d,.]* (?:B|KiB|MiB|GiB)\b", capsys.readouterr().out)
    app = make_console()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = await open_backups(pilot)
        [backup] = screen.backups
        table = screen.query_one("#backups")
        console_size = str(table.get_row(str(backup.path))[2])  # type: ignore[attr-defined]
    assert cli_sizes == [console_size] == [format_size(backup.size)]
