"""The console on PostgreSQL, against the real server (tests/pg.py): the same screens and guards.

Behaviour both backends share runs on both (the ``backend`` fixture: a SQLite file, then a fresh
PostgreSQL database); what only a server has (its header, LISTEN) runs on PostgreSQL only. The
migrations are the console tests' four (``STORE_LIKE``), with the two ``WITHOUT ROWID`` tables
written for either dialect, as the store's own migrations do.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Static

from console import MigrationConsole
from console.screens import BackupsScreen, ConfirmMigrateScreen, RollbackScreen
from console.widgets import MigrationTable, ReadinessPanel
from engine import MigrationManager
from engine.backends.base import ConnectOptions
from tests.console.conftest import MIGRATIONS, fixed_clock, run_to_end, settle, wait_until
from tests.console.test_snapshots import SnapCompare, _then
from tests.pg import PgDatabase, Target, admin_connection, require_server, server_url, url_for

#: Versions 2 and 4 of STORE_LIKE, for either dialect (``WITHOUT ROWID`` is SQLite's only).
PORTABLE: dict[str, str] = {
    "0002_add_user_preferences.py": '''
        """Add user preferences table."""

        CREATE = (
            "CREATE TABLE user_preferences (user_name TEXT, key TEXT, value TEXT, "
            "PRIMARY KEY (user_name, key))"
        )


        def up(tx):
            tx.execute(CREATE if tx.dialect == "postgresql" else CREATE + " WITHOUT ROWID")


        def down(tx):
            tx.execute("DROP TABLE user_preferences")
    ''',
    "0004_move_table_properties.py": '''
        """Move table properties from a JSON column into a key/value table."""

        TABLE = """
            CREATE TABLE table_properties (
                table_id INTEGER NOT NULL REFERENCES tables (id),
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (table_id, key)
            ){suffix};
            ALTER TABLE tables DROP COLUMN properties;
        """


        def up(tx):
            tx.script(TABLE.format(suffix="" if tx.dialect == "postgresql" else " WITHOUT ROWID"))


        def down(tx):
            tx.script("""
                ALTER TABLE tables ADD COLUMN properties TEXT NOT NULL DEFAULT '{}';
                DROP TABLE table_properties;
            """)
    ''',
}


@pytest.fixture(autouse=True)
def portable_migrations(console_environment: Path) -> None:
    for name, source in PORTABLE.items():
        path = console_environment / MIGRATIONS / name
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")


def open_console(target: Target, **kwargs: Any) -> MigrationConsole:
    """The app on ``target`` with the fixed clock and ``./migrations``."""
    kwargs.setdefault("clock", fixed_clock)
    kwargs.setdefault("migrations", MIGRATIONS)
    app = MigrationConsole(target.spec, **kwargs)
    app.animation_level = "none"
    return app


def migrate_outside(target: Target, version: int = 4) -> None:
    """Another client of the same database (its own connections) brings it to ``version``."""
    MigrationManager(target.spec, MIGRATIONS).migrate_to(version)


def database_version(target: Target) -> int:
    return int(target.query("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0])


def label_of(database: PgDatabase, schema: str = "public") -> str:
    """What the header says for a server database: host:port/database · schema."""
    parts = urlsplit(database.url)
    return f"{parts.hostname}:{parts.port}/{database.name} · {schema}"


async def open_rollback(pilot: Pilot[Any], cursor_version: int) -> RollbackScreen:
    table = pilot.app.query_one(MigrationTable)
    table.move_cursor(row=table.versions.index(cursor_version))
    await pilot.pause()
    await pilot.press("r")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RollbackScreen)
    return screen


# -- item by item, on both backends -----------------------------------------------------------


async def test_first_open_shows_every_migration_pending_and_readiness_pending(
    backend: Target,
) -> None:
    app = open_console(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        assert table.versions == [1, 2, 3, 4]
        assert {table.state_of(v) for v in table.versions} == {"pending"}
        if backend.kind == "sqlite":  # no file yet: nothing creates it before a migrate
            assert app.query_one(ReadinessPanel).status == "missing"
            assert app.sub_title.endswith(" · no database yet · 0 of 4")
            assert backend.path is not None and not backend.path.exists()
        else:
            assert app.query_one(ReadinessPanel).status == "pending"
            assert app.sub_title.endswith(" · version 0 of 4")
            assert any("Version 0 of 4: PENDING." in line for line in app.log_widget.lines_plain)
    assert backend.tables() == set()
    assert not list(Path.cwd().glob("postgresql*")), "a server URL was opened as a SQLite file"


async def test_migrate_confirmed_applies_everything_records_history_and_reads_ready(
    backend: Target,
) -> None:
    app = open_console(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmMigrateScreen)
        await pilot.press("tab")
        assert isinstance(app.focused, Button) and app.focused.id == "confirm"
        await pilot.press("enter")
        await run_to_end(pilot)
        table = app.query_one(MigrationTable)
        assert {table.state_of(v) for v in table.versions} == {"applied"}, "\n".join(
            app.log_widget.lines_plain
        )
        assert app.query_one(ReadinessPanel).status == "ready"
        assert app.sub_title.endswith(" · version 4 of 4")
        assert any(
            "Migrate done: the database is at version 4." in line
            for line in app.log_widget.lines_plain
        )
    assert database_version(backend) == 4
    history = backend.query(
        "SELECT version, direction, success FROM schema_migration_history ORDER BY id"
    )
    assert history == [(1, "up", 1), (2, "up", 1), (3, "up", 1), (4, "up", 1)]
    assert backend.tables() == {"databases", "tables", "user_preferences", "table_properties"}


async def test_rollback_refuses_a_wrongly_typed_version_then_runs_to_the_typed_one(
    backend: Target,
) -> None:
    migrate_outside(backend)
    app = open_console(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_rollback(pilot, 1)
        assert screen.target == 1
        await pilot.press("2")  # not the target: the red button stays off
        await pilot.pause()
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen and not app.running
        assert database_version(backend) == 4
        await pilot.press("backspace", "1")
        await pilot.pause()
        assert screen.query_one("#typed", Input).value == "1"
        assert not screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")  # from the input: to the red button, not a confirmation
        await pilot.pause()
        assert isinstance(app.focused, Button) and app.focused.id == "confirm"
        await pilot.press("enter")
        await run_to_end(pilot)
        assert not isinstance(app.screen, RollbackScreen)
        table = app.query_one(MigrationTable)
        assert [table.state_of(v) for v in table.versions] == [
            "applied",
            "pending",
            "pending",
            "pending",
        ]
        assert app.query_one(ReadinessPanel).status == "pending"
        assert app.sub_title.endswith(" · version 1 of 4")
    assert database_version(backend) == 1
    assert backend.tables() == {"databases", "tables"}
    downs = backend.query(
        "SELECT version FROM schema_migration_history WHERE direction = 'down' ORDER BY id"
    )
    assert downs == [(4,), (3,), (2,)]


async def test_a_migrate_by_another_process_appears_without_any_key_press(
    backend: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only a notification can wake the server watcher within the test: its periodic check
    # waits longer than the test does (a SQLite file is polled, as always).
    monkeypatch.setattr("console.watcher.SERVER_CHECK_INTERVAL", 600.0)
    app = open_console(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one(MigrationTable)
        assert table.state_of(1) == "pending"
        if backend.kind == "postgresql":
            assert await wait_until(pilot, lambda: app.watcher.listening)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine",
            "migrate",
            "--db",
            backend.spec,
            "--migrations",
            MIGRATIONS,
            "--to",
            "2",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
        assert await wait_until(pilot, lambda: table.state_of(2) == "applied", timeout=20)
        await settle(pilot)
        assert table.state_of(3) == "pending"
        assert app.sub_title.endswith(" · version 2 of 4")
        deployment = app.query_one(ReadinessPanel).deployment
        assert deployment is not None and deployment.current_version == 2
        # Each migration commits (and, on a server, announces itself) on its own: the log may
        # follow step by step (0 → 1, 1 → 2) or in one (0 → 2).
        changes = [x for x in app.log_widget.lines_plain if "changed outside the console" in x]
        assert changes and changes[-1].endswith("→ 2."), app.log_widget.lines_plain


async def test_a_table_created_by_hand_turns_readiness_to_error_without_any_key_press(
    backend: Target,
) -> None:
    # No NOTIFY comes for a change made outside the engine: the periodic check finds it.
    migrate_outside(backend)
    app = open_console(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = app.query_one(ReadinessPanel)
        assert panel.status == "ready"
        backend.query("CREATE TABLE hotfix (id INTEGER PRIMARY KEY)")
        assert await wait_until(pilot, lambda: panel.status == "error", timeout=15)
        await settle(pilot)
        deployment = panel.deployment
        assert deployment is not None
        assert any("hotfix" in problem for problem in deployment.problems), deployment.problems
        assert any("Readiness: READY → ERROR" in x for x in app.log_widget.lines_plain)


# -- the Backups screen, on both backends -----------------------------------------------------

BACKUPS = "kept-backups"


async def open_backups(pilot: Pilot[Any]) -> BackupsScreen:
    await pilot.press("b")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, BackupsScreen)
    assert await wait_until(pilot, lambda: screen.loaded)
    await pilot.pause()
    return screen


def backed_up_at_1(target: Target) -> None:
    """Version 1, then latest with a backups folder: the migrate backs version 1 up first."""
    MigrationManager(target.spec, MIGRATIONS).migrate_to(1)
    MigrationManager(target.spec, MIGRATIONS, backup_dir=BACKUPS).migrate_to(4)


async def test_the_backups_screen_lists_the_backup_a_migrate_took(backend: Target) -> None:
    backed_up_at_1(backend)
    app = open_console(backend, backup_dir=BACKUPS)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_backups(pilot)
        assert [(b.version, b.reason) for b in screen.backups] == [(1, "before migrate to 4")]
        assert screen.query_one("#backups", DataTable).row_count == 1
        assert screen.folder == BACKUPS
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, BackupsScreen)


async def test_a_restore_typed_on_the_backups_screen_puts_version_1_back(backend: Target) -> None:
    backed_up_at_1(backend)
    app = open_console(backend, backup_dir=BACKUPS)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_backups(pilot)
        [backup] = screen.backups
        await pilot.press("enter", "4")  # not the backup's version: refused
        await pilot.pause()
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen and not app.running
        assert database_version(backend) == 4
        await pilot.press("backspace", "1")
        await pilot.pause()
        assert not screen.query_one("#confirm", Button).disabled
        plan = str(screen.query_one("#restore-plan", Static).render())
        if backend.kind == "postgresql":
            assert "The current schema is kept as a backup first" in plan, plan
        await pilot.press("enter")  # from the input: to the red button
        await pilot.pause()
        assert isinstance(app.focused, Button) and app.focused.id == "confirm"
        await pilot.press("enter")
        await run_to_end(pilot)
        assert not isinstance(app.screen, BackupsScreen)
        lines = app.log_widget.lines_plain
        assert any(f"Restored {backup.name}: the database is at version 1." in x for x in lines), (
            lines
        )
        replaced = "file" if backend.kind == "sqlite" else "schema"
        assert any(f"The replaced {replaced} (version 4) was kept: " in x for x in lines), lines
        assert app.sub_title.endswith(" · version 1 of 4")
        table = app.query_one(MigrationTable)
        assert [table.state_of(v) for v in table.versions] == [
            "applied",
            "pending",
            "pending",
            "pending",
        ]
        assert database_version(backend) == 1
        assert backend.tables() == {"databases", "tables"}
        # The watcher follows the restored database: a change from elsewhere shows without input.
        migrate_outside(backend, 2)
        assert await wait_until(pilot, lambda: app.sub_title.endswith(" · version 2 of 4"))


# -- a server database: the header ------------------------------------------------------------


async def test_the_header_names_host_database_and_schema_and_never_the_password(
    pg_database: PgDatabase,
) -> None:
    parts = urlsplit(pg_database.url)
    with_password = urlunsplit(
        parts._replace(netloc=f"{parts.username}:s3cret-pw@{parts.hostname}:{parts.port}")
    )
    target = Target("postgresql", with_password, pg=pg_database)
    app = open_console(target, connect_options=ConnectOptions(schema="catalog"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.sub_title == f"{label_of(pg_database, 'catalog')} · version 0 of 4"
        assert "s3cret-pw" not in app.export_screenshot()
        assert all("s3cret-pw" not in line for line in app.log_widget.lines_plain)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("tab", "enter")
        await run_to_end(pilot)
        assert all("s3cret-pw" not in line for line in app.log_widget.lines_plain)
    # The console worked in the schema it names.
    assert pg_database.tables("catalog") == {
        "databases",
        "tables",
        "user_preferences",
        "table_properties",
    }
    assert pg_database.tables("public") == set()


async def test_a_url_without_a_host_shows_the_server_pghost_names(
    pg_database: PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq takes the host and port from PGHOST and PGPORT: the header names them, not
    "localhost", and the console did connect there (it read the version)."""
    server = urlsplit(pg_database.url)
    assert server.hostname is not None and server.port is not None
    for variable, value in (("PGHOST", server.hostname), ("PGPORT", str(server.port))):
        monkeypatch.setenv(variable, value)
    if server.username:
        monkeypatch.setenv("PGUSER", server.username)
    spec = f"postgresql:///{pg_database.name}"
    app = open_console(Target("postgresql", spec, pg=pg_database))
    async with app.run_test(size=(120, 24)) as pilot:
        await settle(pilot)
        assert app.sub_title == f"{label_of(pg_database)} · version 0 of 4"


# -- a server database: the main screen, pixel for pixel ---------------------------------------

#: The snapshot's database: its name is in the header, so it is fixed (not tests/pg.py's random
#: one); runs that want it at the same time take turns (a session advisory lock on the server).
SNAPSHOT_DATABASE = "mm_console_snapshot"


@pytest.fixture
def snapshot_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[PgDatabase]:
    """``SNAPSHOT_DATABASE``, fresh, dropped afterwards; libpq's PGHOST/PGPORT/PGUSER name the
    server, so the console's URL carries only the database. The header names where libpq
    connects, PGHOST:PGPORT: the snapshot is the project's server's (127.0.0.1:5432)."""
    require_server()
    server = urlsplit(server_url())
    for variable, value in (
        ("PGHOST", server.hostname),
        ("PGPORT", server.port),
        ("PGUSER", server.username),
    ):
        if value is not None:
            monkeypatch.setenv(variable, str(value))
    name = SNAPSHOT_DATABASE
    with admin_connection() as turn:
        turn.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        with admin_connection() as conn:
            # Left behind only by a run that was killed: it is this test's own database.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PgDatabase(name, url_for(name))
        finally:
            with admin_connection() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    # The advisory lock ends with its session.


def test_main_screen_on_postgresql_at_80x24(
    snap_compare: SnapCompare, snapshot_database: PgDatabase
) -> None:
    """Versions 1-2 of 4 applied on a server database: the header names host, database and
    schema; the readiness panel reads PENDING."""
    spec = f"postgresql:///{SNAPSHOT_DATABASE}"
    MigrationManager(spec, MIGRATIONS).migrate_to(2)
    snapshot_database.execute(
        "UPDATE schema_migrations SET applied_at = "
        "'2026-11-26T03:0' || version || ':00.000Z', duration_ms = 10.0 + version"
    )
    app = open_console(Target("postgresql", spec, pg=snapshot_database))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_then())
