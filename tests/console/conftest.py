"""Console test fixtures: real SQLite files in tmp_path, a fixed clock, no animation.

Every test runs with tmp_path as the working directory, so the app is opened on the relative
path ``metadata.db`` and the header (and so every snapshot) is the same on every run.
"""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console import MigrationConsole
from engine import MigrationManager, Registry

DB = "metadata.db"
FIXED_NOW = datetime(2026, 11, 26, 3, 30, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED_NOW


@pytest.fixture(autouse=True)
def console_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    monkeypatch.delenv("METAMIGRATE_DB", raising=False)
    return tmp_path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The database file (absent until something opens it)."""
    return tmp_path / DB


def make_console(**kwargs: object) -> MigrationConsole:
    kwargs.setdefault("clock", fixed_clock)
    return MigrationConsole(DB, **kwargs)  # type: ignore[arg-type]


def migrate(target: int | None = None, migrations: Registry | str | Path | None = None) -> None:
    """Bring the database to ``target`` (default: latest) through the engine, outside the app."""
    manager = MigrationManager(DB, migrations)
    manager.migrate_to(manager.latest_version if target is None else target)


def pin_timestamps(path: str | Path = DB) -> None:
    """Fixture data: fixed applied-at times and durations, so screenshots are identical."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            "UPDATE schema_migrations SET applied_at = "
            "'2026-11-26T03:0' || version || ':00.000Z', duration_ms = 10.0 + version"
        )
        conn.commit()
    finally:
        conn.close()


def user_version(path: str | Path = DB) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def app_tables(path: str | Path = DB) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    finally:
        conn.close()
    return {r[0] for r in rows} - {"schema_migrations", "schema_migration_history"}


async def settle(pilot: Pilot[object]) -> None:
    """Let the app finish what it started: workers, then the messages they posted."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_until(
    pilot: Pilot[object], predicate: Callable[[], bool], timeout: float = 10.0
) -> bool:
    """Poll ``predicate`` while the app runs; False if it never held within ``timeout``."""
    steps = int(timeout / 0.05)
    for _ in range(steps):
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


async def run_to_end(pilot: Pilot[object]) -> None:
    """Wait for a migrate or rollback started from the UI to finish and be shown."""
    app = pilot.app
    assert isinstance(app, MigrationConsole)
    assert await wait_until(pilot, lambda: not app.running)
    await settle(pilot)


MigrationFolder = Callable[[dict[str, str]], Path]


@pytest.fixture
def migration_folder(tmp_path: Path) -> MigrationFolder:
    """Write {"0001_name.py": source} into a fresh folder under tmp_path; return the folder."""
    counter = iter(range(1000))

    def write(files: dict[str, str]) -> Path:
        folder = tmp_path / f"migrations_{next(counter)}"
        folder.mkdir()
        for name, source in files.items():
            (folder / name).write_text(textwrap.dedent(source), encoding="utf-8")
        return folder

    return write


def table_migration(table: str, *, down: bool = True, fail: bool = False, sleep: float = 0) -> str:
    """Source of a migration file that creates (and drops) one table."""
    text = f'"""Create the {table} table."""\n\nimport time\n\n\ndef up(tx):\n'
    if sleep:
        text += f"    time.sleep({sleep})\n"
    text += f'    tx.execute("CREATE TABLE {table} (id INTEGER PRIMARY KEY, value TEXT)")\n'
    if fail:
        text += f'    tx.execute("INSERT INTO no_such_table_{table} VALUES (1)")\n'
    if down:
        text += f'\n\ndef down(tx):\n    tx.execute("DROP TABLE {table}")\n'
    return text
