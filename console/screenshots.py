"""Write SVG screenshots of the console's main states: ``python -m console.screenshots [OUT_DIR]``.

Each state is built from scratch in a temporary folder (a real database, the built-in store
migrations), with a fixed clock and pinned applied-at times, so running the command again
changes the files only when the console (or the store's migrations) changed. OUT_DIR defaults
to ``screenshots/`` in the current directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from console.app import MigrationConsole
from console.widgets import MigrationTable
from engine import MigrationManager

DB = "metadata.db"
FIXED_NOW = datetime(2026, 11, 26, 3, 30, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED_NOW


@dataclass(frozen=True)
class Scene:
    name: str
    title: str
    size: tuple[int, int]
    target: int | None  # migrate the database to this version first (None: leave it absent)
    read_only: bool = False
    drift: bool = False
    keys: tuple[str, ...] = ()
    cursor: int | None = None
    #: Migrate in steps (1, 2, then the target), so the engine takes backups on the way.
    backups: bool = False


SCENES: list[Scene] = [
    Scene("01-first-open-80x24", "First open: no database yet", (80, 24), None),
    Scene(
        "02-migrate-confirm-80x24", "Migrate: the plan, focus on Cancel", (80, 24), 1, keys=("m",)
    ),
    Scene("03-ready-120x36", "All applied: READY, after Verify", (120, 36), -1, keys=("v",)),
    Scene(
        "04-rollback-80x24",
        "Emergency rollback to version 1, typed",
        (80, 24),
        -1,
        keys=("r", "1"),
        cursor=1,
    ),
    Scene(
        "05-error-drift-120x36", "ERROR: the schema was changed by hand", (120, 36), -1, drift=True
    ),
    Scene("06-read-only-80x24", "Read-only: no write actions", (80, 24), 2, read_only=True),
    Scene("07-wide-200x50", "A big terminal", (200, 50), -1, keys=("v",)),
    Scene(
        "08-backups-80x24",
        "Backups: restore one by typing its version",
        (80, 24),
        -1,
        keys=("b",),
        backups=True,
    ),
]


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _prepare(scene: Scene) -> None:
    if scene.target is None:
        return
    manager = MigrationManager(DB)
    if scene.backups:
        manager.migrate_to(1)
        manager.migrate_to(2)
    manager.migrate_to(manager.latest_version if scene.target < 0 else scene.target)
    _pin_backups()
    conn = sqlite3.connect(DB)
    try:
        conn.execute(
            "UPDATE schema_migrations SET applied_at = "
            "'2026-11-26T03:0' || version || ':00.000Z', duration_ms = 10.0 + version"
        )
        if scene.drift:
            conn.execute("CREATE TABLE hotfix_by_hand (id INTEGER PRIMARY KEY)")
        conn.commit()
    finally:
        conn.close()


def _pin_backups() -> None:
    """Fixed time stamps in the backups' names (the listing reads the time from the name)."""
    for minute, path in enumerate(sorted(Path("backups").glob(f"{DB}-*Z-v*.db")), start=1):
        version = path.name.rsplit("-v", 1)[1]
        pinned = path.with_name(f"{DB}-20261126T03{minute:02d}00.000000Z-v{version}")
        path.rename(pinned)
        sidecar = path.with_name(path.name + ".json")
        if sidecar.exists():
            sidecar.rename(pinned.with_name(pinned.name + ".json"))


async def _settle(pilot: Pilot[Any]) -> None:
    for _ in range(2):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _shoot(scene: Scene) -> str:
    app = MigrationConsole(DB, read_only=scene.read_only, clock=fixed_clock)
    app.animation_level = "none"
    async with app.run_test(size=scene.size) as pilot:
        await _settle(pilot)
        if scene.cursor is not None:
            table = app.query_one(MigrationTable)
            table.move_cursor(row=table.versions.index(scene.cursor), animate=False)
        for key in scene.keys:
            await pilot.press(key)
            await _settle(pilot)
        for widget in app.screen.query(Input):
            widget.cursor_blink = False
        await _settle(pilot)
        return app.export_screenshot(title=f"metamigrate console — {scene.title}")


def write_screenshots(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for scene in SCENES:
        with tempfile.TemporaryDirectory() as work, _inside(Path(work)):
            _prepare(scene)
            svg = asyncio.run(_shoot(scene))
        path = out_dir / f"{scene.name}.svg"
        path.write_text(svg, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else Path("screenshots")
    for path in write_screenshots(out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
