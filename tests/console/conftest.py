"""Console test fixtures: real SQLite files in tmp_path, a fixed clock, no animation.

Every test runs with tmp_path as the working directory, so the app is opened on the relative
path ``metadata.db`` and the header (and so every snapshot) is the same on every run. The
migrations are a fixed copy of the store's first four (``STORE_LIKE``, written to
``./migrations``), so the tests do not change when the store gains a migration.
"""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.worker import WorkerFailed

from console import MigrationConsole
from engine import MigrationManager, Registry

DB = "metadata.db"
ScreenT = TypeVar("ScreenT", bound=Screen[Any])
MIGRATIONS = "migrations"

#: Four migrations shaped like the store's first four: names, descriptions, real DDL.
STORE_LIKE: dict[str, str] = {
    "0001_initial.py": '''
        """Initial schema: databases and their tables with metadata locations."""


        def up(tx):
            tx.script("""
                CREATE TABLE databases (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
                CREATE TABLE tables (
                    id INTEGER PRIMARY KEY,
                    database_id INTEGER NOT NULL REFERENCES databases (id),
                    name TEXT NOT NULL,
                    metadata_location TEXT NOT NULL,
                    properties TEXT NOT NULL DEFAULT '{}'
                );
            """)


        def down(tx):
            tx.script("DROP TABLE tables; DROP TABLE databases;")
    ''',
    "0002_add_user_preferences.py": '''
        """Add user preferences table."""


        def up(tx):
            tx.execute(
                "CREATE TABLE user_preferences (user_name TEXT, key TEXT, value TEXT, "
                "PRIMARY KEY (user_name, key)) WITHOUT ROWID"
            )


        def down(tx):
            tx.execute("DROP TABLE user_preferences")
    ''',
    "0003_add_table_format.py": '''
        """Record each table's format (ICEBERG by default)."""


        def up(tx):
            tx.execute("ALTER TABLE tables ADD COLUMN table_format TEXT NOT NULL DEFAULT 'ICEBERG'")


        def down(tx):
            tx.execute("ALTER TABLE tables DROP COLUMN table_format")
    ''',
    "0004_move_table_properties.py": '''
        """Move table properties from a JSON column into a key/value table."""


        def up(tx):
            tx.script("""
                CREATE TABLE table_properties (
                    table_id INTEGER NOT NULL REFERENCES tables (id),
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (table_id, key)
                ) WITHOUT ROWID;
                ALTER TABLE tables DROP COLUMN properties;
            """)


        def down(tx):
            tx.script("""
                ALTER TABLE tables ADD COLUMN properties TEXT NOT NULL DEFAULT '{}';
                DROP TABLE table_properties;
            """)
    ''',
}
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
    folder = tmp_path / MIGRATIONS
    folder.mkdir()
    for name, source in STORE_LIKE.items():
        (folder / name).write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return tmp_path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The database file (absent until something opens it)."""
    return tmp_path / DB


def make_console(**kwargs: object) -> MigrationConsole:
    """The app on ``./metadata.db`` with the fixed clock and (by default) ``./migrations``."""
    kwargs.setdefault("clock", fixed_clock)
    kwargs.setdefault("migrations", MIGRATIONS)
    app = MigrationConsole(DB, **kwargs)  # type: ignore[arg-type]
    # textual.constants read TEXTUAL_ANIMATIONS when Textual was imported; say it again here.
    app.animation_level = "none"
    return app


def migrate(target: int | None = None, migrations: Registry | str | Path = MIGRATIONS) -> None:
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


def pin_backups(folder: str | Path = "backups") -> None:
    """Fixture data: give the backups fixed time stamps (oldest first), so screenshots match."""
    backups = sorted(Path(folder).glob(f"{DB}-*Z-v*.db"))
    for minute, path in enumerate(backups, start=1):
        version = path.name.rsplit("-v", 1)[1]
        pinned = path.with_name(f"{DB}-20261126T03{minute:02d}00.000000Z-v{version}")
        path.rename(pinned)
        sidecar = path.with_name(path.name + ".json")
        if sidecar.exists():
            sidecar.rename(pinned.with_name(pinned.name + ".json"))


def add_preferences(count: int, path: str | Path = DB) -> None:
    """Rows in user_preferences (version 2's table), for rollback impact."""
    conn = sqlite3.connect(path)
    try:
        conn.executemany(
            "INSERT INTO user_preferences VALUES ('ann', ?, 'x')",
            [(f"key{i}",) for i in range(count)],
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
    bookkeeping = {"schema_migrations", "schema_migration_history", "schema_database_id"}
    return {r[0] for r in rows} - bookkeeping


async def settle(pilot: Pilot[Any], timeout: float = 30.0) -> None:
    """Let the app finish what it started: until no worker is left, each one's messages handled.

    A worker's result can start another (a plan opens a dialog that measures), so this waits
    round after round until none runs, with a bound: after ``timeout`` seconds it fails and
    names the workers still running. A worker that was cancelled or failed counts as finished
    here (a failure is raised again: it is a bug the test should show).
    """
    app = pilot.app
    deadline = time.monotonic() + timeout
    await pilot.pause()
    while workers := list(app.workers):
        left = deadline - time.monotonic()
        if left <= 0:
            names = ", ".join(sorted(f"{w.name or w.group} ({w.state.name})" for w in workers))
            raise AssertionError(f"The app's workers did not finish within {timeout} s: {names}.")
        waits = asyncio.gather(*(asyncio.shield(w.wait()) for w in workers), return_exceptions=True)
        try:
            results = await asyncio.wait_for(waits, left)
        except TimeoutError:
            continue  # the next round names them
        for result in results:
            if isinstance(result, WorkerFailed):
                raise result
        await pilot.pause()
    await pilot.pause()


async def wait_until(
    pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 10.0
) -> bool:
    """Poll ``predicate`` while the app runs; False if it never held within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        await pilot.pause(0.05)
    return True


async def watched(pilot: Pilot[Any], looks: int = 2, timeout: float = 10.0) -> None:
    """Wait until the app's watcher has looked at the database ``looks`` more times, then settle:
    whatever it noticed meanwhile has been reported and handled (for "nothing happened" tests)."""
    app = pilot.app
    assert isinstance(app, MigrationConsole)
    target = app.watcher.looks + looks
    if not await wait_until(pilot, lambda: app.watcher.looks >= target, timeout):
        raise AssertionError(
            f"The watcher looked {app.watcher.looks - target + looks} times in {timeout} s, "
            f"not {looks} (is it running?)."
        )
    await settle(pilot)


async def run_to_end(pilot: Pilot[Any]) -> None:
    """Wait for a migrate or rollback started from the UI to finish and be shown."""
    app = pilot.app
    assert isinstance(app, MigrationConsole)
    assert await wait_until(pilot, lambda: not app.running)
    await settle(pilot)


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


async def open_dialog(pilot: Pilot[Any], key: str, kind: type[ScreenT]) -> ScreenT:
    """Press ``key`` on the main screen; the dialog it opened, once its workers are done."""
    await pilot.press(key)
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, kind)
    return screen
