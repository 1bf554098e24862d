"""The console follows the database: changes by other connections appear without a keypress."""

from __future__ import annotations

from pathlib import Path

from console.watcher import DatabaseWatcher
from console.widgets import MigrationTable, ReadinessPanel
from engine import MigrationManager
from tests.console.conftest import (
    DB,
    MIGRATIONS,
    make_console,
    migrate,
    run_to_end,
    settle,
    wait_until,
    watched,
)


async def test_a_change_made_by_another_connection_appears_without_input() -> None:
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        assert table.state_of(1) == "pending"
        MigrationManager(DB, MIGRATIONS).migrate_to(2)  # another "process": its own connections
        assert await wait_until(pilot, lambda: table.state_of(2) == "applied", timeout=5)
        await settle(pilot)
        assert table.state_of(3) == "pending"
        assert app.sub_title == "metadata.db · version 2 of 4"
        assert app.query_one(ReadinessPanel).deployment.current_version == 2  # type: ignore[union-attr]
        assert any(
            "changed outside the console: version 0 → 2" in line
            for line in app.log_widget.lines_plain
        )


async def test_nothing_is_reloaded_while_the_database_is_unchanged() -> None:
    migrate()
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        started = app.loads.started
        await watched(pilot, looks=3)
        assert app.loads.started == started


async def test_the_consoles_own_migrate_is_not_reported_as_a_change_made_elsewhere() -> None:
    migrate(1)
    app = make_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("tab", "enter")
        await run_to_end(pilot)
        assert app.current_version == 4
        await watched(pilot, looks=2)  # a look after the run's last commit would have told
        assert app.external_changes == 0
        assert not any("outside the console" in line for line in app.log_widget.lines_plain)


def test_the_watcher_reports_only_real_changes(db: Path) -> None:
    migrate(1)
    reasons: list[str] = []
    watcher = DatabaseWatcher(db, reasons.append)
    assert watcher.poll() is None  # the baseline
    assert watcher.poll() is None
    MigrationManager(db, MIGRATIONS).status()  # a read changes nothing
    assert watcher.poll() is None
    MigrationManager(db, MIGRATIONS).migrate_to(2)
    assert watcher.poll() == "another connection committed"
    assert watcher.poll() is None


def test_the_watcher_notices_a_replaced_file(db: Path, tmp_path: Path) -> None:
    migrate(1)
    watcher = DatabaseWatcher(db, lambda reason: None)
    watcher.poll()
    other = tmp_path / "other.db"
    MigrationManager(other, MIGRATIONS).migrate_to(3)
    other.replace(db)
    assert watcher.poll() == "the database file was replaced"


def test_the_watcher_thread_is_a_daemon_and_stops(db: Path) -> None:
    migrate(1)
    watcher = DatabaseWatcher(db, lambda reason: None, interval=0.05)
    watcher.start()
    assert watcher._thread.daemon
    watcher.stop()
    watcher._thread.join(timeout=2)
    assert not watcher.alive


def test_the_watcher_reports_a_database_file_that_appears(db: Path) -> None:
    watcher = DatabaseWatcher(db, lambda reason: None)
    assert watcher.poll() is None
    migrate(1)
    assert watcher.poll() == "the database file appeared"
    assert watcher.poll() is None


def test_a_paused_watcher_holds_no_connection_and_reports_a_change_made_just_after_it_resumes(
    db: Path,
) -> None:
    migrate(1)
    watcher = DatabaseWatcher(db, lambda reason: None, interval=60)
    watcher.prime()
    assert watcher.connected
    watcher.pause()  # before a restore renames a new file over the database
    assert not watcher.connected
    assert watcher.poll() is None
    assert not watcher.connected
    watcher.resume()  # the baseline is taken now, not at the next poll
    migrate(2)
    assert watcher.poll() == "another connection committed"
    watcher.stop()
