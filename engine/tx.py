"""The handle a migration's ``up``/``down`` receives: SQL inside the engine's transaction.

Nothing here can end that transaction: ``script`` splits statements itself instead of calling
``sqlite3.executescript`` (which COMMITs first), and the backend refuses BEGIN/COMMIT/ROLLBACK
while migration code runs. SQL is passed to the database as written (its own dialect and
placeholder style: ``?`` on SQLite, ``%s`` on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.backends import as_backend
from engine.backends.base import Backend

Params = Sequence[Any] | dict[str, Any]


def split_statements(sql: str) -> list[str]:
    """Split a SQLite script into complete statements, respecting strings, comments and triggers."""
    from engine.backends import module_for

    statements: list[str] = module_for("sqlite").split_statements(sql)
    return statements


class Tx:
    """SQL access for one migration, inside the transaction the engine opened for it."""

    def __init__(self, connection: Backend | Any) -> None:
        #: The backend (a raw DB-API connection is wrapped).
        self.backend: Backend = as_backend(connection)

    @property
    def connection(self) -> Any:
        """The raw DB-API connection (``sqlite3.Connection``, ``psycopg.Connection``): the
        backend-specific escape hatch for what the helpers do not cover. Transaction control
        through it is refused like through ``execute``."""
        return self.backend.connection

    @property
    def dialect(self) -> str:
        """The database family: "sqlite" or "postgresql" (for migrations that differ)."""
        return self.backend.capabilities.name

    def execute(self, sql: str, params: Params = ()) -> Any:
        return self.backend.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> Any:
        return self.backend.executemany(sql, rows)

    def script(self, sql: str) -> None:
        """Run several statements in order, inside the migration's transaction (never commits)."""
        self.backend.script(sql)

    def query(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self.backend.execute(sql, params).fetchall()
        return rows

    def query_one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.backend.execute(sql, params).fetchone()
        return row

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.backend.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def table_exists(self, name: str) -> bool:
        return self.backend.table_exists(name)

    def rebuild_table(
        self, name: str, new_create_sql: str, column_map: Mapping[str, str] | None = None
    ) -> None:
        """Change a table the way ALTER TABLE cannot (SQLite's 12-step rebuild), keeping its rows.

        SQLite only. The migration must declare ``DISABLE_FOREIGN_KEYS = True`` (or
        ``disable_foreign_keys=True`` on the decorator). See ``engine.rebuild.rebuild_table`` for
        ``column_map``.
        """
        if not self.backend.capabilities.foreign_keys_toggle:
            from engine.errors import MigrationError

            raise MigrationError(
                f"rebuild_table is SQLite's way to change a table; on "
                f"{self.backend.capabilities.product} use ALTER TABLE {name} instead."
            )
        from engine.rebuild import rebuild_table

        rebuild_table(self.backend.connection, name, new_create_sql, column_map)

    def columns(self, table: str) -> list[str]:
        return self.backend.columns(table)
