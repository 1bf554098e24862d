"""Reading never creates: the console on a missing SQLite file shows "no database yet" and
creates the file (and its folders) only when the operator confirms a migrate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console import MigrationConsole
from console.__main__ import run_console
from console.screens import ConfirmMigrateScreen
from console.watcher import DatabaseWatcher
from console.widgets import MigrationTable, ReadinessPanel
from tests.console.conftest import (
    MIGRATIONS,
    fixed_clock,
    make_console,
    migrate,
    run_to_end,
    settle,
    table_migration,
    user_version,
    wait_until,
    watched,
)
from tests.lifecycle.helpers import run_cli

NESTED = "new/folder/metadata.db"
SENTENCE = f"No database at {NESTED} yet; press m to create it and apply 4 migrations."


def nested_console(*, read_only: bool = False) -> MigrationConsole:
    """The app on ``new/folder/metadata.db``, a file in folders that do not exist."""
    app = MigrationConsole(NESTED, migrations=MIGRATIONS, read_only=read_only, clock=fixed_clock)
    app.animation_level = "none"
    return app


async def confirm_migrate(pilot: Pilot[Any]) -> None:
    """Open the migrate dialog, confirm it (Cancel, Tab, Migrate) and wait for the run."""
    await pilot.press("m")
    await settle(pilot)
    await pilot.press("tab", "enter")
    await run_to_end(pilot)


async def test_opening_a_missing_database_creates_neither_the_file_nor_its_folders(
    tmp_path: Path,
) -> None:
    app = nested_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await watched(pilot)  # the watcher polls meanwhile: it must not create it either
        await pilot.press("f5")
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        for key in ("b", "h", "r"):  # backups, history, rollback: each only reads
            await pilot.press(key)
            await settle(pilot)
            await pilot.press("escape")
            await settle(pilot)
    assert not (tmp_path / NESTED).exists()
    assert not (tmp_path / "new").exists()


async def test_a_missing_database_shows_the_no_database_state_with_every_migration_pending() -> (
    None
):
    app = nested_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        assert table.versions == [1, 2, 3, 4]
        assert {table.state_of(v) for v in table.versions} == {"pending"}
        panel = app.query_one(ReadinessPanel)
        assert panel.status == "missing"
        assert SENTENCE in " ".join(str(panel.query_one("#details").render()).split())
        assert app.log_widget.lines_plain[-1].endswith(SENTENCE)
        assert "no database yet" in app.sub_title


async def test_verify_on_a_missing_database_says_there_is_none_instead_of_failing() -> None:
    app = nested_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        assert app.log_widget.lines_plain[-1].endswith(SENTENCE)
        assert not any("✗" in line for line in app.log_widget.lines_plain)


async def test_the_migrate_dialog_says_it_creates_the_database_and_cancel_creates_nothing(
    tmp_path: Path,
) -> None:
    app = nested_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConfirmMigrateScreen)
        summary = str(screen.query_one("#summary").render())
        assert "there is no database yet: this migrate creates it" in summary
        await pilot.press("escape")
        await settle(pilot)
    assert not (tmp_path / "new").exists()


async def test_a_confirmed_migrate_creates_the_database_and_leaves_the_no_database_state(
    tmp_path: Path,
) -> None:
    app = nested_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not (tmp_path / NESTED).exists()
        await confirm_migrate(pilot)
        assert app.query_one(ReadinessPanel).status == "ready"
        assert "no database yet" not in app.sub_title
    assert user_version(tmp_path / NESTED) == 4


async def test_during_the_first_migrate_the_header_no_longer_says_no_database(
    tmp_path: Path,
) -> None:
    (tmp_path / "migrations" / "0005_create_slow.py").write_text(table_migration("slow", sleep=1.0))
    app = nested_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no database yet" in app.sub_title
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("tab", "enter")
        table = app.query_one(MigrationTable)
        assert await wait_until(pilot, lambda: table.state_of(5) == "running")
        assert "no database yet" not in app.sub_title
        await run_to_end(pilot)


async def test_a_confirmed_migrate_whose_migration_fails_at_import_creates_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "migrations" / "0005_broken.py").write_text(
        '"""Exits."""\n\nimport sys\n\nsys.exit(3)\n\n\ndef up(tx):\n    pass\n'
    )
    app = nested_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await confirm_migrate(pilot)
        assert any("failed to import" in line for line in app.log_widget.lines_plain)
        assert app.query_one(ReadinessPanel).status == "missing"
    assert not (tmp_path / "new").exists()


async def test_a_database_created_from_another_terminal_replaces_the_no_database_state() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = app.query_one(ReadinessPanel)
        assert panel.status == "missing"
        migrate(2)
        assert await wait_until(pilot, lambda: panel.status == "pending")
        assert app.current_version == 2


async def test_read_only_on_a_missing_database_says_there_is_nothing_to_read(
    tmp_path: Path,
) -> None:
    app = nested_console(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        details = " ".join(
            str(app.query_one(ReadinessPanel).query_one("#details").render()).split()
        )
        assert "there is nothing to read" in details
        assert "migrate is not available read-only" in details
        await pilot.press("m")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmMigrateScreen)
    assert not (tmp_path / "new").exists()


def test_run_console_read_only_on_a_missing_database_refuses_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_console(tmp_path / NESTED, read_only=True) == 2
    err = capsys.readouterr().err
    assert "there is nothing to read, and migrate is not available read-only" in err
    assert not (tmp_path / "new").exists()


def test_metamigrate_console_read_only_on_a_missing_database_exits_2_and_creates_nothing(
    tmp_path: Path,
) -> None:
    result = run_cli("console", "--read-only", "--db", str(tmp_path / NESTED))
    assert result.returncode == 2
    assert "there is nothing to read, and migrate is not available read-only" in result.stderr
    assert not (tmp_path / "new").exists()


def test_the_watcher_on_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / NESTED
    changes: list[str] = []
    watcher = DatabaseWatcher(path, changes.append, interval=0.05)
    watcher.prime()
    watcher.start()
    deadline = time.monotonic() + 10
    try:
        while watcher.looks < 6 and time.monotonic() < deadline:  # five polls after the baseline
            time.sleep(0.01)
    finally:
        watcher.stop()
    assert watcher.looks >= 6
    assert changes == []
    assert not (tmp_path / "new").exists()


async def test_roll_back_on_a_missing_database_says_there_is_none_yet_and_what_to_do() -> None:
    app = nested_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        text = (
            f"Nothing to roll back: no database at {NESTED} yet; "
            "press m to create it and apply 4 migrations."
        )
        assert app.log_widget.lines_plain[-1].endswith(text)
        assert not any("no migration is applied" in line for line in app.log_widget.lines_plain)
