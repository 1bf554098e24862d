"""Console probe: first full paint with N migrations, and CPU use of an idle, polling console.

Run as a script: ``python bench/console_probe.py MIGRATIONS_DIR DB IDLE_SECONDS``. Prints one
JSON object; ``{"skipped": reason}`` when ``console.MigrationConsole`` cannot be imported yet.
DB is a SQLite file path, or a PostgreSQL server's URL (``postgresql://root@127.0.0.1:5432/
postgres``): the probe then creates a scratch database ``mm_bench_console_<pid>`` on that server,
runs there (the console LISTENs and checks every 2 s instead of polling a file) and drops it.

The database is migrated to the latest version first (untimed, library, atomic). First paint:
from constructing ``MigrationConsole`` to the end of the first pause after its workers finished,
headless under ``App.run_test(size=(120, 40))``; the Textual import is timed separately. Idle:
process CPU time (all threads, ``getrusage(RUSAGE_SELF)``) over IDLE_SECONDS of wall time with
nothing changing in the database, as a share of one core.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _database(db: str) -> Iterator[str]:
    """``db`` itself for a SQLite file; for a server URL, a scratch database of its own there."""
    if not db.startswith(("postgresql://", "postgres://")):
        yield db
        return
    import psycopg

    name = f"mm_bench_console_{os.getpid()}"
    with psycopg.connect(db, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(db)._replace(path="/" + name))
    finally:
        with psycopg.connect(db, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(db: str, migrations: str) -> None:
    from engine.manager import MigrationManager
    from engine.migration import Registry

    manager = MigrationManager(db, Registry.from_directory(migrations))
    manager.migrate_to(manager.latest_version, atomic=True)


async def _probe(db: str, migrations: str, idle: float, out: dict[str, Any]) -> None:
    from console import MigrationConsole

    start = time.perf_counter()
    app = MigrationConsole(db, migrations=migrations)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        out["first_paint_s"] = time.perf_counter() - start
        try:
            from textual.widgets import DataTable

            out["table_rows"] = sum(t.row_count for t in app.query(DataTable))
        except Exception as exc:  # the probe reports, it does not judge the widget tree
            out["table_rows"] = f"unknown ({type(exc).__name__})"
        wall, cpu = time.perf_counter(), _cpu()
        await asyncio.sleep(idle)
        out["idle_wall_s"] = time.perf_counter() - wall
        out["idle_cpu_s"] = _cpu() - cpu
        out["idle_cpu_share"] = out["idle_cpu_s"] / out["idle_wall_s"]


def main() -> int:
    migrations, db, idle = sys.argv[1], sys.argv[2], float(sys.argv[3])
    out: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        import console

        console_cls = console.MigrationConsole
    except (ImportError, AttributeError) as exc:
        json.dump(
            {"skipped": f"console.MigrationConsole is not importable yet ({exc})"}, sys.stdout
        )
        print()
        return 0
    out["import_console_s"] = time.perf_counter() - start
    del console_cls
    with _database(db) as location:
        out["backend"] = "sqlite" if location == db else "postgresql"
        _migrate(location, migrations)
        asyncio.run(_probe(location, migrations, idle, out))
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
