"""The handle a migration's ``up``/``down`` receives: SQL inside the engine's transaction.

Nothing here can end that transaction: ``script`` splits statements itself instead of calling
``sqlite3.executescript`` (which COMMITs first), and the engine denies BEGIN/COMMIT/ROLLBACK
while migration code runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Params = Sequence[Any] | dict[str, Any]


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements, respecting strings, comments and triggers."""
    statements: list[str] = []
    buffer = ""
    # Cut at every semicolon that ends a statement (several may share a line); a semicolon inside
    # a string, a comment or a trigger body does not complete the statement, so it stays.
    pieces = sql.split(";")
    for index, piece in enumerate(pieces):
        buffer += piece
        if index == len(pieces) - 1:
            break
        buffer += ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip().strip(";").strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        # A trailing statement without a semicolon is still a statement (a trailing line
        # comment is ended by the newline).
        if not sqlite3.complete_statement(buffer + "\n;"):
            raise ValueError(
                f"Incomplete SQL statement at the end of the script: {buffer.strip()!r}"
            )
        statements.append(buffer.strip())
    return statements


class Tx:
    """SQL access for one migration, inside the transaction the engine opened for it."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for what the helpers do not cover (transaction control is denied)."""
        return self._conn

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> sqlite3.Cursor:
        return self._conn.executemany(sql, rows)

    def script(self, sql: str) -> None:
        """Run several statements in order, inside the migration's transaction (never commits)."""
        for statement in split_statements(sql):
            self._conn.execute(statement)

    def query(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._conn.execute(sql, params).fetchone()
        return row

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def table_exists(self, name: str) -> bool:
        return (
            self.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
            is not None
        )

    def rebuild_table(
        self, name: str, new_create_sql: str, column_map: Mapping[str, str] | None = None
    ) -> None:
        """Change a table the way ALTER TABLE cannot (SQLite's 12-step rebuild), keeping its rows.

        The migration must declare ``DISABLE_FOREIGN_KEYS = True`` (or ``disable_foreign_keys=True``
        on the decorator). See ``engine.rebuild.rebuild_table`` for ``column_map``.
        """
        from engine.rebuild import rebuild_table

        rebuild_table(self._conn, name, new_create_sql, column_map)

    def columns(self, table: str) -> list[str]:
        return [
            row[1] for row in self._conn.execute("SELECT * FROM pragma_table_info(?)", (table,))
        ]
