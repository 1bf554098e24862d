"""The tools benchmarked side by side, in table order, for each target."""

from __future__ import annotations

from bench.tools.alembic_tool import Alembic
from bench.tools.base import Invocation, Project, Tool
from bench.tools.django_tool import Django
from bench.tools.metamigrate_tool import Metamigrate
from bench.tools.raw import RawPostgres, RawSqlite
from bench.tools.yoyo_tool import Yoyo

__all__ = ["Invocation", "Project", "Tool", "all_tools", "postgres_tools"]


def all_tools() -> list[Tool]:
    """The SQLite target's tools."""
    return [
        RawSqlite(one_tx=False),
        RawSqlite(one_tx=True),
        Metamigrate("no-backup"),
        Metamigrate("backup"),
        Metamigrate("atomic"),
        Django(),
        Yoyo(),
        Alembic(transactional=False),
        Alembic(transactional=True),
    ]


def postgres_tools(server: str) -> list[Tool]:
    """The PostgreSQL target's tools, each on its own scratch database of ``server``."""
    return [
        RawPostgres(one_tx=False, server=server),
        RawPostgres(one_tx=True, server=server),
        Metamigrate("no-backup", server),
        Metamigrate("atomic", server),
        Django(server),
        Yoyo(server),
        Alembic(transactional=False, server=server),
        Alembic(transactional=True, server=server),
    ]
