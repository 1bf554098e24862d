"""The real PostgreSQL server for tests: one check per session, a fresh database per use.

The server is ``METAMIGRATE_TEST_POSTGRES`` (a libpq URL; default the project's local server).
When it cannot be reached, every PostgreSQL test skips with the same one-line reason; with
``METAMIGRATE_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) that is a failure instead. Databases are
named ``mm_test_<pid>_<n>_<random>``, so parallel runs on the shared server never meet, and are
dropped (``WITH (FORCE)``) when the test or module that made them ends.
"""

from __future__ import annotations

import functools
import itertools
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from engine.config import mask_password

DEFAULT_SERVER = "postgresql://root@127.0.0.1:5432/postgres"
_counter = itertools.count()


def server_url() -> str:
    return os.environ.get("METAMIGRATE_TEST_POSTGRES") or DEFAULT_SERVER


def required() -> bool:
    return os.environ.get("METAMIGRATE_REQUIRE_POSTGRES", "") not in ("", "0")


@functools.cache
def _unavailable_reason() -> str | None:
    """None when the server answers; otherwise why not (asked once per session)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    try:
        with psycopg.connect(server_url(), connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{mask_password(server_url())} unreachable ({first_line})"
    return None


def require_server() -> None:
    """Skip (or, under METAMIGRATE_REQUIRE_POSTGRES=1, fail) when there is no server."""
    reason = _unavailable_reason()
    if reason is None:
        return
    message = f"{SKIP_PREFIX}: {reason}; set METAMIGRATE_TEST_POSTGRES"
    if required():
        pytest.fail(message + " (METAMIGRATE_REQUIRE_POSTGRES=1: a skip is a failure)")
    pytest.skip(message)


SKIP_PREFIX = "PostgreSQL tests need a server"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Report every "no server" skip at one place, so ``-ra`` prints it as one line."""
    outcome = yield
    report = outcome.get_result()
    longrepr = report.longrepr
    if (
        report.skipped
        and isinstance(longrepr, tuple)
        and str(longrepr[2]).startswith("Skipped: " + SKIP_PREFIX)
    ):
        report.longrepr = (__file__, require_server.__code__.co_firstlineno, longrepr[2])


def url_for(dbname: str) -> str:
    """The server URL with its database replaced by ``dbname`` (query options kept)."""
    parts = urlsplit(server_url())
    return urlunsplit(parts._replace(path="/" + dbname))


def admin_connection() -> Any:
    import psycopg

    return psycopg.connect(server_url(), connect_timeout=5, autocommit=True)


def create_database() -> str:
    """A new, empty database; returns its name."""
    name = f"mm_test_{os.getpid()}_{next(_counter)}_{secrets.token_hex(3)}"
    with admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class PgDatabase:
    """One scratch database on the test server."""

    name: str
    url: str

    def connect(self, **kwargs: Any) -> Any:
        import psycopg

        return psycopg.connect(self.url, connect_timeout=5, autocommit=True, **kwargs)

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` ([] for a statement that returns none, such as DDL)."""
        with self.connect() as conn:
            cursor = conn.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description is not None else []

    def execute(self, sql: str, params: Any = None) -> None:
        with self.connect() as conn:
            conn.execute(sql, params)

    def tables(self, schema: str = "public") -> set[str]:
        """Application tables in ``schema`` (the engine's bookkeeping left out)."""
        rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
        return {r[0] for r in rows} - {"schema_migrations", "schema_migration_history"}


def scratch_database() -> Iterator[PgDatabase]:
    """Create a database, yield it, drop it (the body of the fixtures below). Backups the engine
    wrote of it into the default folder (``backups/`` in the working directory) go too."""
    require_server()
    name = create_database()
    folder = Path.cwd() / "backups"
    folder_existed = folder.is_dir()
    try:
        yield PgDatabase(name, url_for(name))
    finally:
        drop_database(name)
        for left in folder.glob(f"{name}.*"):
            left.unlink(missing_ok=True)
        if not folder_existed and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


@pytest.fixture
def pg_database() -> Iterator[PgDatabase]:
    """A fresh, empty database for one test, dropped afterwards."""
    yield from scratch_database()


@pytest.fixture(scope="module")
def pg_module_database() -> Iterator[PgDatabase]:
    """One database shared by the tests of a module (create schemas in it to keep them apart)."""
    yield from scratch_database()


@dataclass(frozen=True)
class Target:
    """The database a shared test runs against: ``spec`` is what --db / MigrationManager take."""

    kind: str  # "sqlite" or "postgresql"
    spec: str
    path: Path | None = None
    pg: PgDatabase | None = None

    def tables(self) -> set[str]:
        """The application tables (bookkeeping left out)."""
        if self.pg is not None:
            return self.pg.tables()
        from tests.conftest import tables_in

        assert self.path is not None
        return tables_in(self.path) if self.path.exists() else set()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run plain SQL (no parameters: the two drivers spell them differently)."""
        if self.pg is not None:
            return self.pg.query(sql)
        import sqlite3

        assert self.path is not None
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """Each test using it runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "metadata.db"
        yield Target("sqlite", str(path), path=path)
        return
    for database in scratch_database():
        yield Target("postgresql", database.url, pg=database)
