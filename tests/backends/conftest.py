"""A ``backend`` fixture over SQLite and PostgreSQL (a fresh database per test; see tests/pg.py).

Shared behaviour of the ``Backend`` protocol is tested once, parametrised over the backends, with
SQL both dialects accept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.backends import open_backend
from engine.backends.base import Backend

#: name -> factory(tmp_path) returning (location, cleanup). PostgreSQL registers its own.
BackendFactory = Callable[[Path], tuple[str, Callable[[], None]]]


def _sqlite(tmp_path: Path) -> tuple[str, Callable[[], None]]:
    return str(tmp_path / "backend.db"), lambda: None


def _postgresql(tmp_path: Path) -> tuple[str, Callable[[], None]]:
    from tests import pg

    pg.require_server()
    name = pg.create_database()
    return pg.url_for(name), lambda: pg.drop_database(name)


FACTORIES: dict[str, BackendFactory] = {"sqlite": _sqlite, "postgresql": _postgresql}


@pytest.fixture(params=sorted(FACTORIES))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    location, cleanup = FACTORIES[request.param](tmp_path)
    opened = open_backend(location)
    try:
        yield opened
    finally:
        opened.rollback()
        opened.close()
        cleanup()
