"""The tools benchmarked side by side, in table order."""

from __future__ import annotations

from bench.tools.alembic_tool import Alembic
from bench.tools.base import Invocation, Project, Tool
from bench.tools.django_tool import Django
from bench.tools.metamigrate_tool import Metamigrate
from bench.tools.raw import RawSqlite
from bench.tools.yoyo_tool import Yoyo

__all__ = ["Invocation", "Project", "Tool", "all_tools"]


def all_tools() -> list[Tool]:
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
