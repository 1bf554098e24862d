"""Snapshot tests: every main screen, pixel for pixel (pytest-textual-snapshot).

Deterministic by construction: fixed terminal sizes, the fixed clock, the relative path
``metadata.db`` (tests run in tmp_path), pinned applied-at times and durations in the database,
no animation, steady cursors, and workers waited for before each shot.
Update after a deliberate change with ``pytest tests/console --snapshot-update`` and look at
every changed SVG before committing it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from console.screens import ConfirmMigrateScreen
from console.widgets import MigrationTable
from engine import MigrationManager
from tests.console.conftest import (
    DB,
    MIGRATIONS,
    add_preferences,
    make_console,
    migrate,
    pin_backups,
    pin_timestamps,
    settle,
)

SnapCompare = Callable[..., bool]


async def _steady(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()


def _then(*keys: str, cursor: int | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        if cursor is not None:
            table = pilot.app.query_one(MigrationTable)
            table.move_cursor(row=table.versions.index(cursor), animate=False)
            await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await _steady(pilot)

    return run_before


def test_empty_database_at_80x24(snap_compare: SnapCompare) -> None:
    """First open of a missing database: "no database yet" (nothing created), all pending."""
    assert snap_compare(make_console(), terminal_size=(80, 24), run_before=_then())


def test_all_applied_at_120x36(snap_compare: SnapCompare) -> None:
    """Every migration applied: READY, with applied-at times, durations and checksums."""
    migrate()
    pin_timestamps()
    assert snap_compare(make_console(), terminal_size=(120, 36), run_before=_then())


def test_all_applied_at_200x50(snap_compare: SnapCompare) -> None:
    """A big terminal: descriptions in full, a tall log and readiness panel."""
    migrate()
    pin_timestamps()
    assert snap_compare(make_console(), terminal_size=(200, 50), run_before=_then())


def test_migrate_confirm_at_80x24(snap_compare: SnapCompare) -> None:
    """The migrate confirm: the exact plan and the database, focus on Cancel."""
    migrate(1)
    pin_timestamps()
    assert snap_compare(make_console(), terminal_size=(80, 24), run_before=_then("m"))


def test_rollback_modal_at_80x24(snap_compare: SnapCompare) -> None:
    """The rollback modal from the cursor on version 1, with the version typed: red button on,
    what the rollback destroys (1,204 preference rows), and where the backup goes first."""
    migrate()
    pin_timestamps()
    add_preferences(1204)
    run_before = _then("r", "1", cursor=1)
    assert snap_compare(make_console(), terminal_size=(80, 24), run_before=run_before)


def test_error_state_after_schema_drift_at_120x36(snap_compare: SnapCompare) -> None:
    """A table created outside the migrations: ERROR, with the drift check's sentence."""
    migrate()
    pin_timestamps()
    conn = sqlite3.connect(DB)
    conn.execute("CREATE TABLE hotfix (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    assert snap_compare(make_console(), terminal_size=(120, 36), run_before=_then())


def test_read_only_at_80x24(snap_compare: SnapCompare) -> None:
    """Read-only: no Migrate or Roll back button, a READ-ONLY badge."""
    migrate(2)
    pin_timestamps()
    app = make_console(read_only=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_then())


def test_help_at_80x24(snap_compare: SnapCompare) -> None:
    """The help screen (?)."""
    assert snap_compare(make_console(), terminal_size=(80, 24), run_before=_then("question_mark"))


def test_backups_at_80x24(snap_compare: SnapCompare) -> None:
    """The Backups screen (b): two backups taken by migrates, newest first, restore guarded."""
    migrate(1)
    migrate(2)
    migrate()
    pin_timestamps()
    pin_backups()
    assert snap_compare(make_console(), terminal_size=(80, 24), run_before=_then("b"))


def test_rehearsal_report_at_80x24(snap_compare: SnapCompare) -> None:
    """Rehearse in the migrate modal: per step its result, time, rows and SQL; nothing kept.

    The report is a real rehearsal with its times pinned (they vary from run to run).
    """
    migrate(1)
    pin_timestamps()
    report = MigrationManager(DB, MIGRATIONS).rehearse()
    pinned = dataclasses.replace(
        report,
        steps=tuple(
            dataclasses.replace(step, duration_ms=1.5 + step.version) for step in report.steps
        ),
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await _then("m")(pilot)
        modal = pilot.app.screen
        assert isinstance(modal, ConfirmMigrateScreen)
        modal.show_rehearsal(pinned)
        await _steady(pilot)

    assert snap_compare(make_console(), terminal_size=(80, 24), run_before=run_before)


def test_too_small_at_60x20(snap_compare: SnapCompare) -> None:
    """Below the minimum (80x24): one screen says so, nothing else is drawn."""
    migrate(2)
    pin_timestamps()
    assert snap_compare(make_console(), terminal_size=(60, 20), run_before=_then())


def test_error_state_after_schema_drift_at_80x24(snap_compare: SnapCompare) -> None:
    """ERROR at the minimum size: the first problem whole, right under the badge."""
    migrate()
    pin_timestamps()
    conn = sqlite3.connect(DB)
    conn.execute("CREATE TABLE hotfix (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    assert snap_compare(make_console(), terminal_size=(80, 24), run_before=_then())
