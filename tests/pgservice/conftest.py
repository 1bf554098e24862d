"""PostgreSQL fixtures for the service tests: one fresh database per test module, dropped after.

The server is ``METAMIGRATE_TEST_POSTGRES`` (a URL; default the local trust server). Without a
reachable server the tests skip with one reason line; ``METAMIGRATE_REQUIRE_POSTGRES=1`` (set by
``.ci/run``) turns that skip into a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

SERVER = os.environ.get("METAMIGRATE_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/postgres")


def _with_dbname(url: str, dbname: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


def url_of(conninfo: str) -> str:
    """A postgresql:// URL for a conninfo built by the fixtures (host, port, user, dbname)."""
    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(conninfo)
    user = p.get("user", "root")
    return f"postgresql://{user}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{p['dbname']}"


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A fresh database for this test module; yields its postgresql:// URL."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(SERVER, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        reason = f"PostgreSQL not reachable at {SERVER}: {str(exc).strip().splitlines()[0]}"
        if os.environ.get("METAMIGRATE_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (METAMIGRATE_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    name = f"mm_pgservice_{secrets.token_hex(4)}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield url_of(_with_dbname(SERVER, name))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
