"""The service on PostgreSQL: one scratch database per module (tests.pg), schemas per test."""

from __future__ import annotations

import pytest

from tests.pg import PgDatabase


@pytest.fixture
def pg_url(pg_module_database: PgDatabase) -> str:
    """The URL of this module's scratch database (tests keep apart by schema)."""
    return pg_module_database.url
