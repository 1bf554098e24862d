"""The PostgreSQL target's server: scratch databases, the checks after each run, its settings.

The server is ``--pg-server URL`` (default ``METAMIGRATE_TEST_POSTGRES``, else the project's
local server ``postgresql://root@127.0.0.1:5432/postgres``). Every tool gets its own database,
``mm_bench_<pid>_<n>_<tool>``, dropped and created again before each repetition (untimed) and
dropped when the run ends; the harness never touches a database it did not create.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.workload import WORKLOAD_INDEX, WORKLOAD_TABLE, Workload
from engine.config import mask_password

DEFAULT_SERVER = "postgresql://root@127.0.0.1:5432/postgres"
#: Connect timeout of the harness's own connections (seconds).
CONNECT_TIMEOUT = 5


def default_server() -> str:
    return os.environ.get("METAMIGRATE_TEST_POSTGRES") or DEFAULT_SERVER


def _connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)


def unavailable(server: str) -> str | None:
    """Why the PostgreSQL target cannot run against ``server``, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[bench]')"
    try:
        with _connect(server) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"no PostgreSQL server at {mask_password(server)} ({first})"
    return None


@dataclass(frozen=True)
class ScratchDatabase:
    """One database of the server, owned by the harness."""

    server: str
    name: str

    @property
    def url(self) -> str:
        """libpq URL of this database (the server's URL with its path replaced)."""
        return urlunsplit(urlsplit(self.server)._replace(path="/" + self.name))

    @property
    def sqlalchemy_url(self) -> str:
        """The same database for SQLAlchemy with psycopg 3 (``postgresql+psycopg://``)."""
        scheme, rest = self.url.split("://", 1)
        return f"{scheme.split('+')[0]}+psycopg://{rest}"

    def part(self, key: str) -> str:
        """Host, port or user of the URL, for tools configured field by field (Django)."""
        parts = urlsplit(self.server)
        value = {"host": parts.hostname, "port": parts.port, "user": parts.username}[key]
        return "" if value is None else str(value)

    def recreate(self) -> None:
        """Drop (if it exists) and create the database: a fresh one for each repetition."""
        with _connect(self.server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with _connect(self.server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def objects(self) -> tuple[set[str], set[str]]:
        """Workload tables and indexes present in the database (every schema but the system's)."""
        with _connect(self.url) as conn:
            rows = conn.execute(
                "SELECT c.relkind, c.relname FROM pg_class AS c "
                "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND c.relkind IN ('r', 'i')"
            ).fetchall()
        tables = {name for kind, name in rows if kind == "r" and WORKLOAD_TABLE.match(name)}
        indexes = {name for kind, name in rows if kind == "i" and WORKLOAD_INDEX.match(name)}
        return tables, indexes


_created: list[ScratchDatabase] = []


def scratch(server: str, n: int, key: str) -> ScratchDatabase:
    """The database of tool ``key`` at ``n`` for this harness process (remembered for cleanup)."""
    name = f"mm_bench_{os.getpid()}_{n}_{re.sub(r'[^a-z0-9]', '_', key.lower())}"
    database = ScratchDatabase(server, name)
    if database not in _created:
        _created.append(database)
    return database


def drop_all() -> None:
    """Drop every database this process created."""
    while _created:
        database = _created.pop()
        try:
            database.drop()
        except Exception as exc:  # the run's results matter more than a leftover database
            print(f"could not drop {database.name}: {exc}")


def assert_objects(database: ScratchDatabase, workload: Workload, who: str, applied: bool) -> None:
    from bench.dbcheck import CheckFailed

    tables, indexes = database.objects()
    if applied and (tables != workload.table_names() or indexes != workload.index_names()):
        raise CheckFailed(
            f"{who}: after apply expected {workload.n} tables and indexes, found "
            f"{len(tables)} tables and {len(indexes)} indexes"
        )
    if not applied and (tables or indexes):
        raise CheckFailed(
            f"{who}: after rollback {len(tables)} tables and {len(indexes)} indexes remain"
        )


SETTINGS = ("fsync", "synchronous_commit", "wal_level", "shared_buffers", "max_connections")


def describe(server: str) -> dict[str, Any]:
    """Server version and the settings that decide what a COMMIT costs."""
    with _connect(server) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = {
            name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]
            for name in SETTINGS
        }
    import psycopg

    return {
        "server": mask_password(server),
        "server_version": version,
        "settings": settings,
        "psycopg": psycopg.__version__,
    }
